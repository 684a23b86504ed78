/**
 * Processor for `coupon-codes.<lane>` jobs: one relay job (up to 1,000 codes) becomes one Klaviyo
 * coupon-code bulk create job (OAS bulk_create_coupon_codes, 75/s, 750/min).
 *
 *  1. A slot among the account's queued Klaviyo jobs (slots.ts, Klaviyo's 100): none free → the job
 *     waits in the delayed set, no attempt spent.
 *  2. POST the codes. A 400 naming codes (by pointer) refuses those and the rest are posted again;
 *     the Klaviyo job id goes into the job's data (`kj`) before anything else, so a worker that
 *     dies while the Klaviyo job runs is followed by one that polls it, and never creates the
 *     codes twice.
 *  3. Poll the Klaviyo job until `complete`. Its `errors` point at codes
 *     (`/data/attributes/coupon-codes/data/<i>/…`): those codes are refused (dead letters with
 *     Klaviyo's error), the others created. The slot is given back.
 *  4. Each settled code's result is recorded for GET /v1/coupons/{id}/codes/{request id}
 *     (src/coupon-results.ts), then the job settles like any other (workers/settle.ts).
 */
import { DelayedError, type Job } from 'bullmq';
import { recordCodeResults } from '../../src/coupon-results.ts';
import { KlaviyoApiError } from '../../src/errors.ts';
import { couponCodeIndex, couponCodesBody } from '../../src/klaviyo/coupon-payloads.ts';
import { CouponCodeJobSchema } from '../../src/klaviyo/schemas.ts';
import { type CouponCodesJobData, type DeadItem, jobOrigin, type StoredCouponCodeItem } from '../../src/job-data.ts';
import type { RedisClient as Redis } from '../../src/redis.ts';
import { call, type CallDeps, takeToken } from '../klaviyo-call.ts';
import { classify, DELIVERED, outcomeOf, toItemError, type ItemOutcome } from '../retry-policy.ts';
import { settle, type JobHooks, type SettleResult } from '../settle.ts';
import type { CouponJobSlots } from './slots.ts';

/** How long a job waits for a free slot before it asks again. */
export const SLOT_WAIT_MS = 1000;
/** A Klaviyo job not complete after this is polled again on the job's next attempt. */
const POLL_TIMEOUT_MS = 15 * 60_000;

export interface CouponProcessorDeps {
  readonly call: CallDeps;
  readonly slots: CouponJobSlots;
  readonly redis: Redis;
  readonly prefix: string;
  readonly hooks: JobHooks;
  /** First wait between polls (doubling up to 2 s). */
  readonly pollMs?: number;
  /**
   * Aborted when the workers stop: a job not posted yet, or whose Klaviyo job is still running,
   * goes back to the queue untouched (no attempt spent; `kj` kept, so the next worker polls it).
   */
  readonly stopping?: AbortSignal;
}

type Data = CouponCodesJobData & { kj?: string; ks?: string };

export function couponCodesProcessor(deps: CouponProcessorDeps) {
  return async function processCouponCodes(job: Job<Data>, token?: string): Promise<SettleResult> {
    const { source, lane, acceptedAt } = jobOrigin(job.data);
    const finish = async (items: readonly StoredCouponCodeItem[], outcomes: readonly ItemOutcome[]): Promise<SettleResult> => {
      // The Klaviyo job is over (or never made): a retry or a replay creates a new one.
      const { kj: _kj, ks: _ks, ...rest } = job.data;
      job.data = rest;
      const settled = items.flatMap((it, i) => {
        const o = outcomes[i]!;
        if (o.kind === 'delivered') return [{ requestId: it.id, couponId: it.c.couponId, code: it.c.code, requestSize: it.n }];
        if (o.kind === 'rejected') return [{ requestId: it.id, couponId: it.c.couponId, code: it.c.code, requestSize: it.n, error: o.error }];
        return [];
      });
      if (settled.length > 0) await recordCodeResults(deps.redis, deps.prefix, lane, source, settled);
      return settle(job, items, outcomes, {
        token,
        onPaused: (error) => deps.hooks.onPaused(lane, error),
        observe: (o) => deps.hooks.observe('coupon-codes', lane, acceptedAt, o),
      });
    };

    let { kj, ks } = job.data;
    if (kj === undefined) {
      const slot = await deps.slots.take();
      if (slot === undefined) {
        if (!token) throw new Error('coupon codes: waiting for a slot needs the job lock token');
        await job.moveToDelayed(Date.now() + SLOT_WAIT_MS, token);
        throw new DelayedError();
      }
      const created = await create(deps.call, job.data.items, deps.stopping);
      if (created.kind === 'yield') {
        await deps.slots.release(slot);
        return yieldJob(job, token);
      }
      if (created.kind === 'failed') {
        await deps.slots.release(slot);
        return finish(job.data.items, created.outcomes);
      }
      kj = created.jobId;
      ks = slot;
      // Before polling: from here on the job is Klaviyo's, and a re-run must follow it, not post again.
      await job.updateData({ ...job.data, items: created.posted, dead: [...(job.data.dead ?? []), ...created.refused], kj, ks });
      if (created.refused.length > 0) {
        // Refused by the POST itself: settled now (dead letters when the job settles, results and metrics here).
        const results = created.refused.map(({ item, error }) => ({
          requestId: item.id,
          couponId: item.c.couponId,
          code: item.c.code,
          requestSize: item.n,
          error,
        }));
        await recordCodeResults(deps.redis, deps.prefix, lane, source, results);
        deps.hooks.observe(
          'coupon-codes',
          lane,
          acceptedAt,
          created.refused.map((d) => ({ kind: 'rejected', error: d.error })),
        );
      }
    }

    const items = job.data.items;
    const polled = await poll(deps, kj);
    if (polled.kind === 'yield') return yieldJob(job, token);
    if (polled.kind === 'error') {
      // A transient failure (5xx, timeout, refused credentials) keeps `kj`: the next attempt polls again.
      const o = outcomeOf(polled.error);
      if (o.kind === 'retry' || o.kind === 'paused') {
        return settle(
          job,
          items,
          items.map(() => o),
          {
            token,
            onPaused: (error) => deps.hooks.onPaused(lane, error),
            observe: (x) => deps.hooks.observe('coupon-codes', lane, acceptedAt, x),
          },
        );
      }
      if (ks) await deps.slots.release(ks);
      return finish(
        items,
        items.map(() => o),
      );
    }
    if (ks) await deps.slots.release(ks);
    if (polled.kind === 'cancelled')
      return finish(
        items,
        items.map(() => outcomeOf(new Error(`coupon code job ${kj} was cancelled by Klaviyo`))),
      );
    const outcomes: ItemOutcome[] = items.map(() => DELIVERED);
    for (const e of polled.errors) {
      const i = couponCodeIndex(e.source?.pointer);
      if (i === undefined || i >= items.length) continue;
      outcomes[i] = {
        kind: 'rejected',
        error: {
          ...toItemError(new KlaviyoApiError(400, 'klaviyo', e.code ?? undefined, e.detail ?? e.title ?? undefined, undefined, [], 'bulk_create_coupon_codes')),
          pointer: e.source?.pointer ?? undefined,
        },
      };
    }
    // Errors that name no code leave the count short: those codes cannot be told apart, so the job says so.
    if (polled.failedCount > polled.errors.filter((e) => couponCodeIndex(e.source?.pointer) !== undefined).length)
      deps.call.log.warn({ kj, failed: polled.failedCount }, 'a coupon code job reported failures that name no code');
    return finish(items, outcomes);
  };
}

/** Back to the queue as it is: no attempt spent, its data (and `kj`) unchanged. */
async function yieldJob(job: Job<Data>, token: string | undefined): Promise<never> {
  if (!token) throw new Error('coupon codes: handing a job back needs its lock token');
  await job.moveToDelayed(Date.now(), token);
  throw new DelayedError();
}

type Created =
  | { kind: 'created'; jobId: string; posted: StoredCouponCodeItem[]; refused: DeadItem<StoredCouponCodeItem>[] }
  | { kind: 'failed'; outcomes: ItemOutcome[] }
  | { kind: 'yield' };

/**
 * POSTs the codes; a 400 that names codes refuses them and posts the rest again. When it fails,
 * `outcomes` are aligned with `items`.
 */
async function create(deps: CallDeps, items: readonly StoredCouponCodeItem[], stopping?: AbortSignal): Promise<Created> {
  let posted = [...items];
  const refused = new Map<StoredCouponCodeItem, DeadItem<StoredCouponCodeItem>>();
  const failed = (rest: ItemOutcome): Created => ({
    kind: 'failed',
    outcomes: items.map((it) => {
      const r = refused.get(it);
      return r ? { kind: 'rejected', error: r.error } : rest;
    }),
  });
  while (posted.length > 0) {
    const body = JSON.stringify(couponCodesBody(posted.map((it) => it.c)));
    const grant = await takeToken(deps, 'bulk_create_coupon_codes', stopping);
    if (!grant) return { kind: 'yield' };
    try {
      const res = await call(deps, { endpoint: 'bulk_create_coupon_codes', body, schema: CouponCodeJobSchema, grant }, posted.length);
      return { kind: 'created', jobId: res.data.data.id, posted, refused: [...refused.values()] };
    } catch (err) {
      // A 429 blocked the lane in the governor: the next token comes after Retry-After.
      if (classify(err) === 'rate-limited') continue;
      if (!(err instanceof KlaviyoApiError) || classify(err) !== 'reject') return failed(outcomeOf(err));
      const named = new Map<number, (typeof err.errors)[number]>();
      for (const e of err.errors) {
        const i = couponCodeIndex(e.source?.pointer);
        if (i !== undefined && i < posted.length && !named.has(i)) named.set(i, e);
      }
      // Nothing named: the request as a whole was refused, and every code with it.
      if (named.size === 0) return failed(outcomeOf(err));
      for (const [i, e] of named) refused.set(posted[i]!, { item: posted[i]!, error: toItemError(err, e) });
      posted = posted.filter((_, i) => !named.has(i));
    }
  }
  // Every code was refused.
  return failed(outcomeOf(new Error('unreachable: no code left')));
}

type Polled =
  | {
      kind: 'complete';
      failedCount: number;
      errors: { code?: string | null; title?: string | null; detail?: string | null; source?: { pointer?: string | null } | null }[];
    }
  | { kind: 'cancelled' }
  | { kind: 'error'; error: unknown }
  | { kind: 'yield' };

async function poll(deps: CouponProcessorDeps, jobId: string): Promise<Polled> {
  const deadline = Date.now() + POLL_TIMEOUT_MS;
  let wait = deps.pollMs ?? 250;
  for (;;) {
    if (deps.stopping?.aborted) return { kind: 'yield' };
    try {
      const grant = await takeToken(deps.call, 'get_bulk_create_coupon_codes_job', deps.stopping);
      if (!grant) return { kind: 'yield' };
      const res = await call(deps.call, { endpoint: 'get_bulk_create_coupon_codes_job', pathParams: { id: jobId }, schema: CouponCodeJobSchema, grant });
      const a = res.data.data.attributes;
      if (a.status === 'complete') return { kind: 'complete', failedCount: a.failed_count ?? 0, errors: a.errors ?? [] };
      if (a.status === 'cancelled') return { kind: 'cancelled' };
    } catch (err) {
      // A 429 blocked the lane in the governor: poll again with the next token.
      if (classify(err) !== 'rate-limited') return { kind: 'error', error: err };
    }
    if (Date.now() > deadline) return { kind: 'error', error: new Error(`coupon code job ${jobId} did not complete in ${POLL_TIMEOUT_MS / 60_000} min`) };
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 2000);
  }
}
