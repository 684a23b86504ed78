/**
 * Coupon-code bulk create jobs (OAS bulk_create_coupon_codes, get_bulk_create_coupon_codes_job).
 *
 * POST answers 202 with a `coupon-code-bulk-create-job` in status `queued`. The job starts
 * `couponJobDelayMs` later (`processing`) and completes after as long again (`complete`); with a
 * delay of 0 it is done at once. Each code is created on its own: a code the coupon already has
 * (or that the job repeats) and an `expires_at` in the past fail only that code, listed in the
 * job's `errors` with a pointer to it; the others are created. Which coupons exist is not modelled:
 * any coupon id is accepted.
 *
 * "Max number of jobs queued at once we allow for is 100" (OAS): a POST while the account has
 * `maxQueuedCouponJobs` jobs not yet complete is refused, and nothing is created. The status
 * Klaviyo answers then is UNCONFIRMED; the simulator answers 429 `throttled` with Retry-After 1.
 */
import { uuid, ulid } from '../ids.ts';
import { KlaviyoHttpError } from '../json-api.ts';
import type { SimAccount } from '../state.ts';
import { klaviyoTime } from '../time.ts';
import { arr, obj, strOrNull, type Handler, type Obj } from './context.ts';

const BASE = '/data/attributes/coupon-codes/data';

export interface SimCouponCode {
  id: string;
  couponId: string;
  uniqueCode: string;
  expiresAt: number;
  createdAt: number;
}

export interface CouponCodeError {
  id: string;
  index: number;
  code: string;
  title: string;
  detail: string;
  pointer: string;
}

export interface CouponCodeJob {
  id: string;
  createdAt: number;
  /** When it starts processing. */
  startAt: number;
  /** When it completes (processJob runs then). */
  dueAt: number;
  completedAt: number | null;
  totalCount: number;
  completedCount: number;
  failedCount: number;
  errors: CouponCodeError[];
  codeIds: string[];
  /** The submitted coupon-code resource objects, dropped once processed. */
  pending: unknown[] | null;
}

/** An account's coupon codes and jobs. */
export interface SimCoupons {
  /** coupon id → unique code → code */
  codes: Map<string, Map<string, SimCouponCode>>;
  jobs: Map<string, CouponCodeJob>;
  /** Most jobs not yet complete at once (what the cap limits). */
  peakQueued: number;
  /** POSTs refused because the queued-job cap was reached. */
  refusedOverCap: number;
}

export function createSimCoupons(): SimCoupons {
  return { codes: new Map(), jobs: new Map(), peakQueued: 0, refusedOverCap: 0 };
}

const YEAR_MS = 365 * 24 * 3600 * 1000;

export function processCouponJob(account: SimAccount, job: CouponCodeJob, now: number): void {
  if (job.pending === null) return;
  const items = job.pending;
  job.pending = null;
  for (const [index, raw] of items.entries()) {
    const item = obj(raw);
    const attrs = obj(item['attributes']);
    const couponId = String(obj(obj(obj(item['relationships'])['coupon'])['data'])['id'] ?? '');
    const uniqueCode = String(attrs['unique_code'] ?? '');
    const expires = strOrNull(attrs['expires_at']);
    const fail = (detail: string, field: string): void => {
      job.failedCount++;
      job.errors.push({ id: uuid(), index, code: 'invalid', title: 'Invalid input.', detail, pointer: `${BASE}/${index}/attributes/${field}` });
    };
    let codes = account.coupons.codes.get(couponId);
    if (codes?.has(uniqueCode)) {
      fail(`A coupon code ${JSON.stringify(uniqueCode)} already exists for coupon ${JSON.stringify(couponId)}.`, 'unique_code');
      continue;
    }
    const expiresAt = expires === null ? now + YEAR_MS : Date.parse(expires);
    if (expiresAt <= now) {
      fail(`expires_at ${JSON.stringify(expires)} is in the past.`, 'expires_at');
      continue;
    }
    if (!codes) {
      codes = new Map();
      account.coupons.codes.set(couponId, codes);
    }
    const code: SimCouponCode = { id: `${couponId}-${uniqueCode}`, couponId, uniqueCode, expiresAt, createdAt: now };
    codes.set(uniqueCode, code);
    job.codeIds.push(code.id);
    job.completedCount++;
  }
  job.completedAt = now;
}

/** Processes the account's jobs that are due. */
export function settleCouponJobs(account: SimAccount, now: number): void {
  for (const job of account.coupons.jobs.values()) if (job.pending !== null && job.dueAt <= now) processCouponJob(account, job, now);
}

function status(job: CouponCodeJob, now: number): 'queued' | 'processing' | 'complete' {
  if (job.completedAt !== null) return 'complete';
  return now >= job.startAt ? 'processing' : 'queued';
}

function queuedCount(account: SimAccount): number {
  let n = 0;
  for (const job of account.coupons.jobs.values()) if (job.completedAt === null) n++;
  return n;
}

function jobResource(job: CouponCodeJob, origin: string, now: number): Obj {
  const self = `${origin}/api/coupon-code-bulk-create-jobs/${job.id}/`;
  return {
    type: 'coupon-code-bulk-create-job',
    id: job.id,
    attributes: {
      status: status(job, now),
      created_at: klaviyoTime(job.createdAt),
      total_count: job.totalCount,
      completed_count: job.completedCount,
      failed_count: job.failedCount,
      completed_at: job.completedAt === null ? null : klaviyoTime(job.completedAt),
      expires_at: klaviyoTime(job.createdAt + 7 * 24 * 3600 * 1000),
      errors: job.errors.map((e) => ({ id: e.id, code: e.code, title: e.title, detail: e.detail, source: { pointer: e.pointer } })),
    },
    relationships: {
      'coupon-codes': {
        data: job.codeIds.map((id) => ({ type: 'coupon-code', id })),
        links: { self: `${self}relationships/coupon-codes/`, related: `${self}coupon-codes/` },
      },
    },
    links: { self },
  };
}

export const bulkCreateCouponCodes: Handler = (ctx) => {
  const coupons = ctx.account.coupons;
  if (queuedCount(ctx.account) >= ctx.options.maxQueuedCouponJobs) {
    coupons.refusedOverCap++;
    throw KlaviyoHttpError.of(429, `At most ${ctx.options.maxQueuedCouponJobs} coupon code jobs may be queued at once.`, {
      code: 'throttled',
      title: 'Request was throttled.',
    });
  }
  const items = arr(obj(obj(obj(obj(ctx.body)['data'])['attributes'])['coupon-codes'])['data']);
  const delay = ctx.options.couponJobDelayMs;
  const job: CouponCodeJob = {
    id: ulid(ctx.now),
    createdAt: ctx.now,
    startAt: ctx.now + delay,
    dueAt: ctx.now + 2 * delay,
    completedAt: null,
    totalCount: items.length,
    completedCount: 0,
    failedCount: 0,
    errors: [],
    codeIds: [],
    pending: items,
  };
  coupons.jobs.set(job.id, job);
  coupons.peakQueued = Math.max(coupons.peakQueued, queuedCount(ctx.account));
  const body = { data: jobResource(job, ctx.linkOrigin, ctx.now) };
  if (delay <= 0) processCouponJob(ctx.account, job, ctx.now);
  else ctx.scheduleJob(ctx.account, job);
  return { status: 202, body };
};

export const getBulkCreateCouponCodesJob: Handler = (ctx) => {
  const id = ctx.params['id'] ?? '';
  const job = ctx.account.coupons.jobs.get(id);
  if (!job) throw KlaviyoHttpError.of(404, `A coupon code bulk create job with id ${id} does not exist.`, { source: { parameter: 'job_id' } });
  return {
    status: 200,
    body: { data: jobResource(job, ctx.linkOrigin, ctx.now), links: { self: `${ctx.linkOrigin}/api/coupon-code-bulk-create-jobs/${job.id}/` } },
  };
};
