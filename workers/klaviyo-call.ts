/**
 * How workers call Klaviyo, shared by every job kind:
 *
 * - `call`: one request, with the governor told about the rate-limit headers it saw (its caller
 *   took the quota token first, e.g. with `takeToken`);
 * - `callWithQuota`: one request that takes its token first and, on a 429, waits and tries again;
 * - `sendIsolating`: one bulk request for many items, with per-item outcomes. A bulk 400 rejects
 *   the whole request and applies nothing (Klaviyo's bulk operations are all-or-nothing), so the
 *   items the error's `source.pointer`s name are rejected and the rest are handed back
 *   (`REQUEUE`) to go out in the next batch; when no pointer names an item, the batch is split in
 *   halves until the bad items are isolated. A 429 hands every item back: the governor holds the
 *   lane for Retry-After.
 */
import type { z } from 'zod';
import { ENDPOINTS, type EndpointName } from '../src/klaviyo/endpoints.ts';
import type { KlaviyoClient, KlaviyoResponse, RequestOptions } from '../src/klaviyo/client.ts';
import { KlaviyoApiError } from '../src/errors.ts';
import type { QuotaScope } from '../src/lanes.ts';
import type { Logger } from '../src/log.ts';
import { REQUEUE, type SendResult } from './batcher.ts';
import type { Grant, QuotaGovernor } from '../src/quota/governor.ts';
import type { PriorityClass } from '../src/priority.ts';
import { classify, DELIVERED, outcomeOf, toItemError, type ItemOutcome } from './retry-policy.ts';
import { SpanKind, tracingOn, withSpan } from '../src/tracing/tracer.ts';

export interface CallDeps {
  readonly client: KlaviyoClient;
  readonly governor: QuotaGovernor;
  readonly scope: QuotaScope;
  readonly log: Logger;
  /** The class the calls are made for: the governor serves live first (unset = live). */
  readonly cls?: PriorityClass;
  /** Every call's result, for metrics: status 0 = no answer (timeout, network). */
  readonly onCall?: (endpoint: EndpointName, status: number, items: number, ms: number, origin?: 'gateway' | 'klaviyo') => void;
}

export async function call<S extends z.ZodType | undefined = undefined>(
  deps: CallDeps,
  opts: RequestOptions<S>,
  items = 1,
): Promise<KlaviyoResponse<S extends z.ZodType ? z.infer<S> : undefined>> {
  if (!tracingOn()) return untracedCall(deps, opts, items);
  // A CLIENT span per Klaviyo call: endpoint, items, status, where an error came from; never the body.
  return withSpan(
    `klaviyo ${opts.endpoint}`,
    SpanKind.CLIENT,
    { 'relay.endpoint': opts.endpoint, 'relay.items': items, 'relay.class': deps.cls ?? 'live', 'http.request.method': ENDPOINTS[opts.endpoint].method },
    async (span) => {
      try {
        const res = await untracedCall(deps, opts, items);
        span.setAttribute('http.response.status_code', res.status);
        return res;
      } catch (err) {
        if (err instanceof KlaviyoApiError) span.setAttributes({ 'http.response.status_code': err.status, 'relay.error.origin': err.origin });
        else span.setAttribute('relay.error.origin', 'network');
        throw err;
      }
    },
  );
}

async function untracedCall<S extends z.ZodType | undefined = undefined>(
  deps: CallDeps,
  opts: RequestOptions<S>,
  items: number,
): Promise<KlaviyoResponse<S extends z.ZodType ? z.infer<S> : undefined>> {
  const started = performance.now();
  try {
    const res = await deps.client.request(opts);
    deps.onCall?.(opts.endpoint, res.status, items, performance.now() - started);
    if (res.rateLimit.remaining === 0) await deps.governor.observe(deps.scope, opts.endpoint, { ...res.rateLimit, status: res.status });
    return res;
  } catch (err) {
    if (err instanceof KlaviyoApiError) {
      deps.onCall?.(opts.endpoint, err.status, items, performance.now() - started, err.origin);
      if (err.status === 429) await deps.governor.observe(deps.scope, opts.endpoint, { retryAfterMs: err.retryAfterMs, status: 429, origin: err.origin });
    } else {
      deps.onCall?.(opts.endpoint, 0, items, performance.now() - started);
    }
    throw err;
  }
}

/** The outcome of an item whose request never left because the workers are stopping: its job goes back untouched. */
export const YIELDED: ItemOutcome = Object.freeze({ kind: 'yield' });

/**
 * Waits for the quota token of one call (pass it as the request's `grant`). Undefined when
 * `signal` aborted first — the workers are stopping, and the items go back to their jobs untouched
 * rather than wait for a token that may be a minute away (the bulk endpoints' steady windows).
 */
export async function takeToken(deps: CallDeps, endpoint: EndpointName, signal?: AbortSignal): Promise<Grant | undefined> {
  try {
    return await deps.governor.take(deps.scope, endpoint, signal, deps.cls ?? 'live');
  } catch (err) {
    if (signal?.aborted) return undefined;
    throw err;
  }
}

export interface BulkRequest {
  readonly endpoint: EndpointName;
  readonly pathParams?: Readonly<Record<string, string>>;
  readonly body: unknown;
  /** Which input items an error's `source.pointer` blames; undefined when it names none. */
  readonly blame: (pointer: string | undefined) => readonly number[] | undefined;
}

/**
 * Sends `items` as one bulk request built by `build`: serialized first, then the quota token is
 * taken, then it leaves (the halves of a split each take their own).
 */
export async function sendIsolating<I>(
  deps: CallDeps,
  items: readonly I[],
  build: (items: readonly I[]) => BulkRequest,
  signal?: AbortSignal,
): Promise<SendResult<ItemOutcome>[]> {
  const req = build(items);
  const payload = JSON.stringify(req.body);
  const grant = await takeToken(deps, req.endpoint, signal);
  if (!grant) return items.map(() => YIELDED);
  try {
    await call(deps, { endpoint: req.endpoint, pathParams: req.pathParams, body: payload, grant }, items.length);
    return items.map(() => DELIVERED);
  } catch (err) {
    if (classify(err) === 'rate-limited') return items.map((): SendResult<ItemOutcome> => REQUEUE);
    if (!(err instanceof KlaviyoApiError) || err.status !== 400) return items.map(() => outcomeOf(err));

    const blamed = new Map<number, (typeof err.errors)[number]>();
    let allNamed = err.errors.length > 0;
    for (const e of err.errors) {
      const idx = req.blame(e.source?.pointer);
      if (!idx) allNamed = false;
      else for (const i of idx) if (!blamed.has(i)) blamed.set(i, e);
    }
    if (allNamed && blamed.size > 0) {
      deps.log.warn({ endpoint: req.endpoint, rejected: blamed.size, of: items.length }, 'Klaviyo rejected items of a bulk request; re-sending the rest');
      return items.map((_, i) => {
        const e = blamed.get(i);
        return e ? { kind: 'rejected', error: toItemError(err, e) } : REQUEUE;
      });
    }
    if (items.length === 1) return [{ kind: 'rejected', error: toItemError(err, err.errors[0]) }];
    const mid = Math.ceil(items.length / 2);
    const left = await sendIsolating(deps, items.slice(0, mid), build, signal);
    const right = await sendIsolating(deps, items.slice(mid), build, signal);
    return [...left, ...right];
  }
}

/** For bodies whose items sit at `<prefix>/<index>`: the index a pointer names. */
export function blameByIndex(prefix: string): (pointer: string | undefined) => number[] | undefined {
  const re = new RegExp(`^${prefix.replace(/[/-]/g, (c) => `\\${c}`)}/(\\d+)(?:/|$)`);
  return (pointer) => {
    const m = pointer ? re.exec(pointer) : null;
    return m ? [Number(m[1])] : undefined;
  };
}

/** Two jobs may carry the same item (a resend racing its original): send each key once, give every copy its outcome. */
export async function sendDistinct<I>(
  items: readonly I[],
  key: (item: I) => string,
  send: (distinct: I[]) => Promise<SendResult<ItemOutcome>[]>,
): Promise<SendResult<ItemOutcome>[]> {
  const first = new Map<string, number>();
  const distinct: I[] = [];
  const slot = items.map((it) => {
    const k = key(it);
    let i = first.get(k);
    if (i === undefined) {
      i = distinct.length;
      first.set(k, i);
      distinct.push(it);
    }
    return i;
  });
  const results = await send(distinct);
  return slot.map((i) => results[i]!);
}

/**
 * One call that waits for quota first and, on a 429, waits out Retry-After (the governor now
 * holds the lane) and tries again: a throttled call never costs the job an attempt. Other
 * errors are thrown for the caller to classify.
 */
export async function callWithQuota<S extends z.ZodType | undefined = undefined>(
  deps: CallDeps,
  opts: RequestOptions<S>,
): Promise<KlaviyoResponse<S extends z.ZodType ? z.infer<S> : undefined>> {
  if (opts.body !== undefined && typeof opts.body !== 'string') opts = { ...opts, body: JSON.stringify(opts.body) };
  for (;;) {
    const grant = await deps.governor.take(deps.scope, opts.endpoint, opts.signal, deps.cls ?? 'live');
    try {
      return await call(deps, { ...opts, grant });
    } catch (err) {
      if (classify(err) !== 'rate-limited') throw err;
    }
  }
}
