/**
 * Per-code results of POST /v1/coupons/{couponId}/codes, by request: which codes Klaviyo created,
 * which it refused and why. The coupon workers record each code's outcome when its Klaviyo job
 * completes (or a replay settles it again); GET /v1/coupons/{couponId}/codes/{requestId} reads
 * them back. Refused codes are also dead letters (replayable); this is the caller's view.
 *
 * A hash per request (src/redis-keys.ts couponResultsKey), a field per code: at most 10,000 fields,
 * kept RESULTS_TTL_S after the last write. Codes that were duplicates at ingest (accepted before,
 * under another request) are reported under the request that first carried them.
 */
import type { RedisClient as Redis } from './redis.ts';
import type { ItemError } from './job-data.ts';
import { couponResultsKey } from './redis-keys.ts';

/** Results are kept 7 days after the last code of a request settled. */
export const RESULTS_TTL_S = 7 * 24 * 3600;
// Codes are fields `c:<code>`, so that no code can be taken for the total.
const TOTAL = 'total';
const CODE = 'c:';
const CREATED = 'created';

export interface CodeResult {
  readonly requestId: string;
  readonly couponId: string;
  readonly code: string;
  /** Codes in the request. */
  readonly requestSize: number;
  /** Undefined: created. */
  readonly error?: ItemError;
}

export interface CouponResults {
  readonly id: string;
  readonly couponId: string;
  /** Codes in the request; undefined until the first of them settled. */
  readonly total?: number;
  readonly created: string[];
  /** Refused codes with Klaviyo's error (status, its error code, detail). */
  readonly failed: { code: string; error: { status: number; code?: string; detail?: string } }[];
  /** Codes not settled yet (accepted, waiting or being created), when the total is known. */
  readonly pending?: number;
}

/** Records settled codes (one MULTI per request they belong to). */
export async function recordCodeResults(redis: Redis, prefix: string, lane: string, source: string, results: readonly CodeResult[]): Promise<void> {
  const byRequest = new Map<string, CodeResult[]>();
  for (const r of results) {
    const k = couponResultsKey(prefix, lane, source, r.couponId, r.requestId);
    const list = byRequest.get(k);
    if (list) list.push(r);
    else byRequest.set(k, [r]);
  }
  for (const [key, list] of byRequest) {
    const fields: string[] = [TOTAL, String(list[0]!.requestSize)];
    for (const r of list)
      fields.push(CODE + r.code, r.error ? JSON.stringify({ status: r.error.status, code: r.error.code, detail: r.error.detail }) : CREATED);
    await redis
      .multi()
      .hset(key, ...fields)
      .expire(key, RESULTS_TTL_S)
      .exec();
  }
}

export async function readCodeResults(redis: Redis, prefix: string, lane: string, source: string, couponId: string, requestId: string): Promise<CouponResults> {
  const all = await redis.hgetall(couponResultsKey(prefix, lane, source, couponId, requestId));
  const created: string[] = [];
  const failed: CouponResults['failed'] = [];
  let total: number | undefined;
  for (const [field, value] of Object.entries(all)) {
    if (field === TOTAL) total = Number(value);
    if (!field.startsWith(CODE)) continue;
    const code = field.slice(CODE.length);
    if (value === CREATED) created.push(code);
    else {
      failed.push({ code, error: JSON.parse(value) as { status: number; code?: string; detail?: string } });
    }
  }
  created.sort();
  failed.sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
  return {
    id: requestId,
    couponId,
    ...(total !== undefined ? { total, pending: Math.max(0, total - created.length - failed.length) } : {}),
    created,
    failed,
  };
}
