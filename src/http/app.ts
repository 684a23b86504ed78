/**
 * createApp(deps): the HTTP API. No environment, no connections, no signals here: the entry point
 * builds the dependencies, tests build them from real Redis and drive `app.request()` or a port.
 */
import { Hono } from 'hono';
import type { Logger } from '../log.ts';
import type { Ingest } from '../ingest/ingest.ts';
import type { SourceRegistry } from '../sources.ts';
import { bearerAuth, type AuthEnv } from './middleware/bearer-auth.ts';
import { jsonBody, type JsonBodyEnv } from './middleware/json-body.ts';
import { eventsRoutes } from './routes/events.ts';
import { listsRoutes } from './routes/lists.ts';
import { ordersRoutes } from './routes/orders.ts';
import { profilesRoutes } from './routes/profiles.ts';
import { healthRoutes } from './routes/health.ts';
import { jsonError } from './errors.ts';

export interface AppDeps {
  readonly sources: SourceRegistry;
  readonly ingest: Ingest;
  readonly maxBodyBytes: number;
  readonly log: Logger;
  /** Named checks for /readyz; every one must be true. */
  readonly readiness: () => Promise<Record<string, boolean>>;
  /** Sandbox mode only: a read-only view of what the built-in Klaviyo simulator received. */
  readonly sandboxView?: Hono;
}

/** What /v1 routes find in their context: the authenticated source and the parsed body. */
export type V1Env = { Variables: AuthEnv['Variables'] & JsonBodyEnv['Variables'] };

export function createApp(deps: AppDeps) {
  const app = new Hono();

  app.route('/', healthRoutes(deps));

  const v1 = new Hono<V1Env>();
  const readBody = jsonBody<V1Env>(deps.maxBodyBytes);
  v1.use('*', bearerAuth(deps.sources));
  v1.use('*', async function writesHaveJsonBodies(c, next) {
    // Every v1 write carries a JSON body; reading it once here keeps each route about its fields.
    if (c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.method === 'OPTIONS') return next();
    return readBody(c, next);
  });
  v1.route('/events', eventsRoutes(deps));
  v1.route('/profiles', profilesRoutes(deps));
  v1.route('/lists', listsRoutes(deps));
  v1.route('/orders', ordersRoutes(deps));
  app.route('/v1', v1);
  if (deps.sandboxView) app.route('/sandbox', deps.sandboxView);

  app.notFound((c) => jsonError(c, 404, 'not_found', `No route for ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => {
    deps.log.error({ err, path: c.req.path }, 'unhandled error');
    return jsonError(c, 500, 'internal_error', 'Something went wrong on our side; the request was not accepted');
  });
  return app;
}
