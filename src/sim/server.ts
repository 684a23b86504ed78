/**
 * Serves a simulator over real sockets with @hono/node-server (127.0.0.1, port 0 = any free port).
 * `close()` also ends hung requests and open keep-alive sockets, so test runs exit promptly.
 */
import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SimulatorOptions } from './options.ts';
import { createSimulator, type Simulator } from './simulator.ts';

export interface RunningSimulator {
  /** Base URL, e.g. `http://127.0.0.1:54321` (no trailing slash). */
  url: string;
  port: number;
  sim: Simulator;
  close(): Promise<void>;
}

export function startSimulator(opts: SimulatorOptions & { port?: number; host?: string } = {}): Promise<RunningSimulator> {
  const { port = 0, host = '127.0.0.1', ...simOptions } = opts;
  const sim = createSimulator(simOptions);
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: sim.app.fetch, port, hostname: host }, (info: AddressInfo) => {
      const urlHost = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      let closing: Promise<void> | undefined;
      resolve({
        url: `http://${urlHost}:${info.port}`,
        port: info.port,
        sim,
        close() {
          closing ??= new Promise<void>((done) => {
            sim.dispose();
            (server as Server).close(() => done());
            // Destroy idle keep-alive and in-flight (e.g. hung) connections so close() returns now.
            (server as Server).closeAllConnections();
          });
          return closing;
        },
      });
    }) as Server;
    server.once('error', reject);
  });
}
