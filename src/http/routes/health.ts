/** GET /healthz: the process is alive. GET /readyz: Redis answers and (where run here) workers run. */
import { Hono } from 'hono';
import type { AppDeps } from '../app.ts';

export function healthRoutes(deps: AppDeps) {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', async (c) => {
    const { ready, checks } = await deps.readiness();
    return c.json({ status: ready ? (checks.redis === false ? 'degraded' : 'ready') : 'not ready', checks }, ready ? 200 : 503);
  });
  return app;
}
