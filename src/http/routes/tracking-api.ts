/**
 * Segment's HTTP Tracking API, so that a backend using `@segment/analytics-node` or
 * `@rudderstack/rudder-sdk-node` switches to the relay by changing its host:
 *   POST /v1/batch  {"batch": [messages], "sentAt"?, "writeKey"?}
 *   POST /v1/track | /v1/identify | /v1/page | /v1/screen | /v1/group | /v1/alias  (one message)
 *
 * Auth: `Authorization: Basic base64("<writeKey>:")` (or Bearer), checked before the body is read;
 * without a header, `writeKey` in the body — necessarily after reading it, within the 500 KB limit.
 * The writeKey is a relay key: RELAY_API_KEYS or a source's key in RELAY_CONFIG.
 *
 * Messages become the work /v1/events, /v1/orders and /v1/profiles make (src/tracking/map.ts) and
 * go through the same ingest: dedupe, classes, source limits, backpressure, spool. 200
 * `{"success": true}` once Redis (or the spool) holds them. A batch is not failed for one bad
 * message: the SDKs do not retry a 400, so the good ones are taken and the bad ones named in
 * `rejected` (and counted); only a request none of whose messages can ever be taken is a 400.
 */
import { randomUUID } from 'node:crypto';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import type { Ingest } from '../../ingest/ingest.ts';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import { itemClass, requestClass, type ClassInputs } from '../../priority.ts';
import type { Source, SourceRegistry } from '../../sources.ts';
import { DEFAULT_TRACKING, mapRequest, type Mapped, type RequestKind } from '../../tracking/map.ts';
import type { EventItem, ProfileItem } from '../../job-data.ts';
import { enqueueOr503, spooled } from '../enqueue-or-503.ts';
import { errorBody, jsonError, type FieldIssue } from '../errors.ts';
import { header } from '../header.ts';
import { ingestByClass } from '../ingest-by-class.ts';
import { priority, type PriorityEnv } from '../middleware/priority.ts';
import { readTrackingBody } from '../tracking-body.ts';

/** What the tracking routes need from the service. */
export interface TrackingRouteDeps {
  readonly sources: Pick<SourceRegistry, 'byKey'>;
  readonly ingest: Ingest;
  readonly log: Logger;
  readonly metrics?: Metrics;
  /** RELAY_CONFIG `priorities`: `enabled: false` makes every item live. */
  readonly priorities?: { readonly enabled: boolean };
  /** Counters kept in Redis: messages by type and outcome (`stats:tracking`, shown by /metrics and status). */
  readonly count: (counter: string, fields: Readonly<Record<string, number>>) => Promise<void>;
}

type TrackingEnv = { Variables: PriorityEnv['Variables'] & { source?: Source } };

export const TRACKING_COUNTER = 'tracking';
const KINDS: readonly RequestKind[] = ['batch', 'track', 'identify', 'page', 'screen', 'group', 'alias'];
const BASIC = /^Basic\s+([A-Za-z0-9+/_=-]+)\s*$/i;
const BEARER = /^Bearer\s+(\S+)\s*$/i;

function unauthorized(c: Context, message: string) {
  c.header('WWW-Authenticate', 'Basic realm="klaviyo-relay tracking API", charset="UTF-8"');
  return jsonError(c, 401, 'unauthorized', message);
}

/** The writeKey from `Authorization: Basic base64("<writeKey>:")` (user, or password when the user is empty). */
function basicWriteKey(value: string): string | undefined {
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const key = colon < 0 ? decoded : decoded.slice(0, colon) || decoded.slice(colon + 1);
  return key === '' ? undefined : key;
}

/** A header names the source before the body is read; a wrong one is refused at once. */
function authenticateHeader(sources: TrackingRouteDeps['sources']): MiddlewareHandler<TrackingEnv> {
  return async function authenticateHeader(c, next) {
    const authorization = header(c, 'authorization');
    if (authorization === undefined || authorization.trim() === '') return next();
    const basic = BASIC.exec(authorization);
    const bearer = basic ? undefined : BEARER.exec(authorization);
    const key = basic ? basicWriteKey(basic[1]!) : bearer?.[1];
    const source = key === undefined ? undefined : sources.byKey(key);
    if (!source) {
      return unauthorized(
        c,
        basic || bearer
          ? 'The write key is not valid'
          : 'Send "Authorization: Basic base64(<writeKey>:)" with one of the relay\'s API keys, or "writeKey" in the body',
      );
    }
    c.set('source', source);
    return next();
  };
}

export function trackingApiRoutes(deps: TrackingRouteDeps) {
  const app = new Hono<TrackingEnv>();
  const auth = authenticateHeader(deps.sources);
  const asked = priority<TrackingEnv>();
  const count = countBuffer(deps);
  for (const kind of KINDS) app.post(`/${kind}`, auth, asked, (c) => handle(c, kind, deps, count));
  return app;
}

/** How long counts gather in memory before they are added to Redis: not a Redis round trip per request on the ingest path. */
const COUNT_FLUSH_MS = 1000;

/**
 * Message counts by `type:outcome`, added up in memory and written to Redis (shared by every API
 * process) at most once a second. A process that dies loses at most that second of counts.
 */
function countBuffer(deps: TrackingRouteDeps) {
  let pending: Record<string, number> = {};
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const fields = pending;
    pending = {};
    deps.count(TRACKING_COUNTER, fields).catch((err: unknown) => deps.log.warn({ err }, 'could not count tracking messages'));
  };
  return (fields: Readonly<Record<string, number>>) => {
    for (const [k, n] of Object.entries(fields)) pending[k] = (pending[k] ?? 0) + n;
    if (!timer) {
      timer = setTimeout(flush, COUNT_FLUSH_MS);
      timer.unref();
    }
  };
}

async function handle(c: Context<TrackingEnv>, kind: RequestKind, deps: TrackingRouteDeps, count: (fields: Record<string, number>) => void): Promise<Response> {
  const read = await readTrackingBody(c);
  if (!read.ok) {
    if (read.close) c.header('Connection', 'close');
    return jsonError(c, read.status, read.error, read.message);
  }
  let body: unknown;
  try {
    body = JSON.parse(read.text);
  } catch (err) {
    return jsonError(c, 400, 'invalid_json', `The body is not valid JSON: ${(err as Error).message}`, [{ field: '(body)', message: 'is not valid JSON' }]);
  }
  let source = c.get('source');
  if (!source) {
    const writeKey = body !== null && typeof body === 'object' ? (body as { writeKey?: unknown }).writeKey : undefined;
    source = typeof writeKey === 'string' && writeKey !== '' ? deps.sources.byKey(writeKey) : undefined;
    if (!source) {
      return unauthorized(
        c,
        typeof writeKey === 'string' ? 'The write key is not valid' : 'Send "Authorization: Basic base64(<writeKey>:)", or "writeKey" in the body',
      );
    }
  }

  const mapped = mapRequest(
    kind,
    body,
    { sourceId: source.id, settings: source.tracking ?? DEFAULT_TRACKING, receivedAt: Date.now(), newId: randomUUID },
    read.bytes,
  );
  if (!mapped.ok) return jsonError(c, 400, 'validation_failed', 'The request body is not valid', mapped.issues);

  const events: EventItem[] = [];
  const ops: ProfileItem[] = [];
  const ids: string[] = [];
  const rejected: FieldIssue[] = [];
  const outcomes: Record<string, number> = {};
  let ignored = 0;
  mapped.messages.forEach((m: Mapped, index) => {
    const key = `${m.type}:${m.outcome}`;
    outcomes[key] = (outcomes[key] ?? 0) + 1;
    if (m.outcome === 'accepted') {
      ids.push(m.id);
      for (const e of m.events) events.push(e);
      for (const o of m.ops) ops.push(o);
    } else if (m.outcome === 'ignored') ignored++;
    else {
      const prefix = kind === 'batch' ? `batch[${index}]` : '';
      for (const issue of m.issues) {
        const field = prefix === '' ? issue.field : issue.field === '(message)' ? prefix : `${prefix}.${issue.field}`;
        rejected.push(kind === 'batch' ? { field, message: issue.message, index } : { field, message: issue.message });
      }
    }
  });
  const rejectedCount = mapped.messages.length - ids.length - ignored;

  // Nothing here can ever be taken: say so (the SDKs do not retry a 400).
  if (ids.length === 0 && ignored === 0) {
    count(outcomes);
    const message =
      kind === 'batch'
        ? `None of the ${mapped.messages.length} messages can be accepted; nothing was queued`
        : 'The message cannot be accepted; nothing was queued';
    return c.json(errorBody('validation_failed', message, rejected), 400);
  }
  if (rejectedCount > 0)
    deps.log.warn({ source: source.name, rejected: rejectedCount, fields: rejected.slice(0, 5).map((r) => r.field) }, 'tracking messages rejected');

  const classes: ClassInputs = { enabled: deps.priorities?.enabled !== false, requested: c.get('priority'), sourceDefault: source.priority };
  const cls = requestClass(classes);
  const from = source;
  const total = events.length + ops.length;
  // The body's bytes are shared by the two kinds of work in proportion (queued-bytes limits).
  const share = (n: number) => (total === 0 ? 0 : Math.round((read.bytes * n) / total));
  return enqueueOr503(c, deps, async () => {
    const [ev, po] = await Promise.all([
      events.length > 0 ? ingestByClass(deps.ingest, 'events', from, events, (it) => itemClass(classes, it.event.backfill), share(events.length)) : undefined,
      ops.length > 0 ? ingestByClass(deps.ingest, 'profileOps', from, ops, () => cls, share(ops.length)) : undefined,
    ]);
    count(outcomes);
    const duplicates = (ev?.duplicates ?? 0) + (po?.duplicates ?? 0);
    return c.json(
      {
        success: true,
        accepted: ids.length,
        ids,
        duplicates,
        ...(ignored > 0 ? { ignored } : {}),
        ...(rejectedCount > 0 ? { rejected } : {}),
        ...spooled({ spooled: ev?.spooled || po?.spooled }),
      },
      200,
    );
  });
}
