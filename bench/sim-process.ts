/**
 * The simulator as its own process for the benchmark, enforcing Klaviyo's and the gateway's real
 * limits. `SIM_RETAIN=0` keeps only counters and dedupe keys (a million-event drain).
 * Prints its URL on the first line.
 */
import { startSimulator } from '../src/sim/index.ts';

const running = await startSimulator({
  port: 0,
  host: '127.0.0.1',
  retainEventBodies: process.env.SIM_RETAIN !== '0',
  maxRecordedRequests: 2000,
});
process.stdout.write(`${running.url}\n`);
const stop = () => void running.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
