/** GET /healthz: the process is alive. GET /readyz: Redis answers and (where run here) workers run. */
import { Hono } from 'hono';

export interface HealthRouteDeps {
  /** For /readyz: whether the service can take work, and the checks behind it. */
  readonly readiness: () => Promise<{ ready: boolean; checks: Record<string, boolean> }>;
}

export function healthRoutes(deps: HealthRouteDeps) {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const { ready, checks } = await deps.readiness();
    return c.json({ status: ready ? (checks.redis === false ? 'degraded' : 'ready') : 'not ready', checks }, ready ? 200 : 503);
  });
  return app;
}
