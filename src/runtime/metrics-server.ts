/**
 * /metrics (and /healthz) on a port of their own, for a process that runs workers but no API.
 * Loopback unless RELAY_METRICS_HOST says otherwise (a worker has nothing else to listen for), and
 * RELAY_METRICS_TOKEN, when set, is required as a bearer token on /metrics (not on /healthz, which
 * says nothing but "alive" and is what a container's liveness probe calls).
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { METRICS_UNAUTHORIZED_BODY, metricsScrapeAllowed } from '../metrics-auth.ts';

export async function serveMetrics(metrics: Metrics, port: number, host: string, token: string | undefined, log: Logger): Promise<Server | undefined> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      if (!metricsScrapeAllowed(req.headers.authorization, token)) {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="klaviyo-relay metrics"' }).end(METRICS_UNAUTHORIZED_BODY);
        return;
      }
      void metrics.render().then(
        ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
        () => res.writeHead(500).end(),
      );
    } else if (req.url === '/healthz') res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    else res.writeHead(404).end();
  });
  return new Promise((resolve) => {
    server.once('error', (err) => {
      // Another worker on this machine has the port: this one goes without its own /metrics.
      log.warn({ err: err.message, port }, 'metrics port unavailable; not serving /metrics from this worker');
      resolve(undefined);
    });
    server.listen(port, host, () => resolve(server));
  });
}
