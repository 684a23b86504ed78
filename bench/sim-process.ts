/**
 * The simulator as its own process for the benchmark, enforcing Klaviyo's and the gateway's real
 * limits. `SIM_RETAIN=0` keeps only counters and dedupe keys (a million-event drain).
 * `SIM_WATCH=1` also notes when each benchmark live event or subscribe arrives (lib/arrival-watch.ts,
 * `GET /__bench/arrivals`); the other scenarios run without it, exactly as before.
 * Prints its URL on the first line.
 */
import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createSimulator, startSimulator } from '../src/sim/index.ts';
import { watchArrivals } from './lib/arrival-watch.ts';

const options = { retainEventBodies: process.env.SIM_RETAIN !== '0', maxRecordedRequests: 2000 };

let close: () => Promise<void>;
if (process.env.SIM_WATCH === '1') {
  const sim = createSimulator(options);
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: watchArrivals(sim), port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
      process.stdout.write(`http://127.0.0.1:${info.port}\n`);
      resolve(s as Server);
    }) as Server;
  });
  close = () =>
    new Promise<void>((done) => {
      sim.dispose();
      server.close(() => done());
      server.closeAllConnections();
    });
} else {
  const running = await startSimulator({ port: 0, host: '127.0.0.1', ...options });
  process.stdout.write(`${running.url}\n`);
  close = () => running.close();
}
// The simulator's own event-loop delay, printed every 5 s (`loop-delay-ms p99=<n> max=<n>`): a
// request is counted when its handler runs, so a stalled loop bunches arrivals that were spread
// out on the wire — the benchmark reports it beside the gateway counts it qualifies.
const loop = monitorEventLoopDelay({ resolution: 5 });
loop.enable();
setInterval(() => {
  process.stdout.write(`loop-delay-ms p99=${(loop.percentile(99) / 1e6).toFixed(1)} max=${(loop.max / 1e6).toFixed(1)}\n`);
  loop.reset();
}, 5000).unref();
const stop = () => void close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
