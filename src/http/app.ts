/**
 * createApp(deps): the HTTP API. No environment, no connections, no signals here: the entry point
 * builds the dependencies, tests build them from real Redis and drive `app.request()` or a port.
 * Each route module declares the dependencies it needs; AppDeps is their union.
 */
import { Hono } from 'hono';
import { metricsScrapeAllowed } from '../metrics-auth.ts';
import { jsonError } from './errors.ts';
import { observe, type RequestEnv } from './middleware/observe.ts';
import { traceRequest } from './middleware/trace-request.ts';
import { tracingOn } from '../tracing/tracer.ts';
import { type V1Env, type V1MiddlewareDeps, v1Middleware } from './middleware/v1.ts';
import { type CatalogSyncRouteDeps, catalogRoutes, catalogSyncRoutes } from './routes/catalog.ts';
import { type BackInStockRouteDeps, backInStockRoutes } from './routes/back-in-stock.ts';
import { type CouponsRouteDeps, couponsRoutes } from './routes/coupons.ts';
import { type EventsRouteDeps, eventsRoutes } from './routes/events.ts';
import { type HealthRouteDeps, healthRoutes } from './routes/health.ts';
import { type ListsRouteDeps, listsRoutes } from './routes/lists.ts';
import { openApiRoutes } from './routes/openapi.ts';
import { type OpsDeps, opsRoutes } from './routes/ops.ts';
import { type OrdersRouteDeps, ordersRoutes } from './routes/orders.ts';
import { type ProfilesRouteDeps, profilesRoutes } from './routes/profiles.ts';
import { type PrivacyRouteDeps, privacyRoutes } from './routes/privacy.ts';
import { type TrackingRouteDeps, trackingApiRoutes } from './routes/tracking-api.ts';
import { type WebhookRouteDeps, webhookRoutes } from './routes/webhooks.ts';

export type AppDeps = V1MiddlewareDeps &
  HealthRouteDeps &
  EventsRouteDeps &
  ProfilesRouteDeps &
  ListsRouteDeps &
  OrdersRouteDeps &
  WebhookRouteDeps &
  TrackingRouteDeps &
  CatalogSyncRouteDeps &
  BackInStockRouteDeps &
  CouponsRouteDeps &
  PrivacyRouteDeps & {
    /** Sandbox mode only: a read-only view of what the built-in Klaviyo simulator received. */
    readonly sandboxView?: Hono;
    readonly ops?: OpsDeps;
    /** RELAY_METRICS_TOKEN: when set, /metrics needs it as a bearer token. */
    readonly metricsToken?: string;
  };

export function createApp(deps: AppDeps) {
  const app = new Hono<RequestEnv>();
  // Not mounted at all while tracing is off: requests cost what they did.
  if (tracingOn()) app.use('*', traceRequest());
  app.use('*', observe(deps.log, deps.metrics));
  if (deps.metrics) {
    const metrics = deps.metrics;
    // No label carries an email, id or key; open unless RELAY_METRICS_TOKEN is set.
    app.get('/metrics', async (c) => {
      if (!metricsScrapeAllowed(c.req.header('authorization'), deps.metricsToken)) {
        c.header('WWW-Authenticate', 'Bearer realm="klaviyo-relay metrics"');
        return jsonError(c, 401, 'metrics_unauthorized', '/metrics needs the RELAY_METRICS_TOKEN as "Authorization: Bearer <token>"');
      }
      const { contentType, body } = await metrics.render();
      return c.body(body, 200, { 'content-type': contentType });
    });
  }

  app.route('/', healthRoutes(deps));
  app.route('/', openApiRoutes());

  // Segment's tracking API (/v1/batch, /v1/track…) authenticates and reads its body its own way
  // (Basic or a body writeKey, gzip): mounted first, so the /v1 middleware below never sees it.
  app.route('/v1', trackingApiRoutes(deps));
  // A catalog sync streams its body (any size): it authenticates and reads it itself (routes/catalog.ts).
  app.route('/v1/catalog', catalogSyncRoutes(deps));

  // Nothing of a v1 body is read before the sender is known (middleware/v1.ts).
  const v1 = new Hono<V1Env>();
  v1.use('*', ...v1Middleware(deps));
  v1.route('/events', eventsRoutes(deps));
  v1.route('/profiles', profilesRoutes(deps));
  v1.route('/lists', listsRoutes(deps));
  v1.route('/orders', ordersRoutes(deps));
  v1.route('/catalog', catalogRoutes(deps));
  v1.route('/back-in-stock', backInStockRoutes(deps));
  v1.route('/coupons', couponsRoutes(deps));
  v1.route('/', privacyRoutes(deps));
  app.route('/v1', v1);
  app.route('/webhooks', webhookRoutes(deps));
  if (deps.ops) app.route('/ops', opsRoutes(deps.ops));
  if (deps.sandboxView) app.route('/sandbox', deps.sandboxView);

  app.notFound((c) => jsonError(c, 404, 'not_found', `No route for ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => {
    deps.log.error({ err, path: c.req.path }, 'unhandled error');
    return jsonError(c, 500, 'internal_error', 'Something went wrong on our side; the request was not accepted');
  });
  return app;
}
