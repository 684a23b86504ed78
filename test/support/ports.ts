/** Loopback ports for what tests and benchmarks start (redis-servers, the relay, the simulator). */
import { createServer } from 'node:net';

/** A port nothing listens on now: bound on 127.0.0.1 by the OS, then released. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
