/**
 * A loopback HTTP proxy in front of the relay that can lose answers: the request reaches the relay
 * and is processed, but the client's connection is destroyed instead of getting the answer — what a
 * network failure after the server committed looks like to an SDK, which then retries the batch.
 * It records each request's headers and the relay's status, so tests can see what the SDK sent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly bodyBytes: number;
  readonly status: number;
  readonly answer: string;
  readonly dropped: boolean;
}

export interface DroppingProxy {
  readonly url: string;
  readonly requests: ProxiedRequest[];
  /** The next `n` answers are lost (the relay has processed the request). */
  dropNext(n: number): void;
  close(): Promise<void>;
}

export async function startDroppingProxy(target: string): Promise<DroppingProxy> {
  const to = new URL(target);
  const requests: ProxiedRequest[] = [];
  let drops = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const upstream = http.request(
        { host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host, connection: 'close' } },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (c: Buffer) => parts.push(c));
          answer.on('end', () => {
            const text = Buffer.concat(parts).toString('utf8');
            const dropped = drops > 0;
            if (dropped) drops--;
            requests.push({
              method: req.method ?? '',
              path: req.url ?? '',
              headers: req.headers,
              bodyBytes: body.length,
              status: answer.statusCode ?? 0,
              answer: text,
              dropped,
            });
            if (dropped) {
              req.socket.destroy();
              return;
            }
            res.writeHead(answer.statusCode ?? 502, { 'content-type': answer.headers['content-type'] ?? 'application/json' });
            res.end(text);
          });
        },
      );
      upstream.on('error', () => req.socket.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    dropNext(n) {
      drops += n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
