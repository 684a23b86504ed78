/**
 * createApp(deps): the HTTP API. No environment, no connections, no signals here: the entry point
 * builds the dependencies, tests build them from real Redis and drive `app.request()` or a port.
 */
import { Hono } from 'hono';
import type { Logger } from '../log.ts';
import type { Ingest } from '../ingest/ingest.ts';
import type { SourceRegistry } from '../sources.ts';
import { authenticate, verifySignature, type AuthEnv } from './middleware/authenticate.ts';
import { closeIfBodyUnread } from './middleware/close-unread.ts';
import { parseJson, rawBody, type JsonBodyEnv } from './middleware/json-body.ts';
import { priority, type PriorityEnv } from './middleware/priority.ts';
import type { Rule } from '../relay-config.ts';
import { webhookRoutes } from './routes/webhooks.ts';
import { opsRoutes, type OpsDeps } from './routes/ops.ts';
import { observe, type RequestEnv } from './middleware/observe.ts';
import type { Metrics } from '../metrics.ts';
import { metricsScrapeAllowed } from '../metrics-auth.ts';
import type { ReplayCache } from '../webhooks/replay-cache.ts';
import { eventsRoutes } from './routes/events.ts';
import { listsRoutes } from './routes/lists.ts';
import { ordersRoutes } from './routes/orders.ts';
import { profilesRoutes } from './routes/profiles.ts';
import { healthRoutes } from './routes/health.ts';
import { trackingApiRoutes } from './routes/tracking-api.ts';
import { jsonError } from './errors.ts';

export interface AppDeps {
  readonly sources: SourceRegistry;
  readonly ingest: Ingest;
  readonly maxBodyBytes: number;
  readonly log: Logger;
  /** For /readyz: whether the service can take work, and the checks behind it. */
  readonly readiness: () => Promise<{ ready: boolean; checks: Record<string, boolean> }>;
  readonly webhooks: WebhookSettings;
  /** Counters kept in Redis (shared by every API process): webhook topics matched, unmatched… */
  readonly count: (counter: string, fields: Readonly<Record<string, number>>) => Promise<void>;
  /** Sandbox mode only: a read-only view of what the built-in Klaviyo simulator received. */
  readonly sandboxView?: Hono;
  readonly ops?: OpsDeps;
  readonly metrics?: Metrics;
  /** RELAY_METRICS_TOKEN: when set, /metrics needs it as a bearer token. */
  readonly metricsToken?: string;
  /** Standard Webhooks ids seen, so that a replayed signed request creates no work twice. */
  readonly replay?: ReplayCache;
  /** RELAY_CONFIG `priorities` (src/priority.ts): `enabled: false` makes every item live. */
  readonly priorities?: { readonly enabled: boolean };
}

export interface WebhookSettings {
  /** Klaviyo system webhooks; absent = the route answers 404. */
  readonly klaviyo?: { readonly secrets: readonly string[]; readonly toleranceMs: number; readonly lane: string };
  readonly flows: Readonly<Record<string, { readonly header: string; readonly secret: string; readonly lane: string }>>;
  readonly rules: readonly Rule[];
}

/** What /v1 routes find in their context: the authenticated source, the class it asked for, and the parsed body. */
export type V1Env = { Variables: AuthEnv['Variables'] & JsonBodyEnv['Variables'] & PriorityEnv['Variables'] };

export function createApp(deps: AppDeps) {
  const app = new Hono<RequestEnv>();
  app.use('*', observe(deps.log, deps.metrics));
  app.use('*', closeIfBodyUnread());
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

  // Segment's tracking API (/v1/batch, /v1/track…) authenticates and reads its body its own way
  // (Basic or a body writeKey, gzip): mounted first, so the /v1 middleware below never sees it.
  app.route('/v1', trackingApiRoutes(deps));

  // Every v1 route is a write with a JSON body. Nothing of it is read before the sender is known —
  // by its key, or by a signature's headers (the HMAC covers the raw bytes, so it is checked once
  // they are read, bounded) — and it is parsed only once the signature matched.
  const v1 = new Hono<V1Env>();
  const readRaw = rawBody<V1Env>(deps.maxBodyBytes);
  const parse = parseJson<V1Env>();
  const hasBody = (method: string) => method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
  v1.use('*', authenticate<V1Env>(deps.sources, deps.replay));
  v1.use('*', priority<V1Env>());
  v1.use('*', (c, next) => {
    if (hasBody(c.req.method)) return readRaw(c, next);
    c.set('rawBody', '');
    return next();
  });
  v1.use('*', verifySignature<V1Env>(deps.replay, deps.log));
  v1.use('*', (c, next) => (hasBody(c.req.method) ? parse(c, next) : next()));
  v1.route('/events', eventsRoutes(deps));
  v1.route('/profiles', profilesRoutes(deps));
  v1.route('/lists', listsRoutes(deps));
  v1.route('/orders', ordersRoutes(deps));
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
