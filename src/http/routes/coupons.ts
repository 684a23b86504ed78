/**
 * POST /v1/coupons/{couponId}/codes — up to 10,000 codes for a coupon (src/model/coupon-codes.ts),
 *   created in Klaviyo coupon-code bulk create jobs of up to 1,000 (workers/coupons/processor.ts).
 *   A code already accepted for the coupon (under any request id) counts as a duplicate.
 * GET /v1/coupons/{couponId}/codes/{requestId} — that request's per-code results so far: the codes
 *   created, the codes refused with Klaviyo's error, and how many are still pending
 *   (src/coupon-results.ts). Refused codes are dead letters too (GET /ops/dead-letters).
 *
 * `couponId` must look like a Klaviyo id: no request can steer a path or another coupon's key.
 */
import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { CouponResults } from '../../coupon-results.ts';
import { couponCodeKey } from '../../item-keys.ts';
import { CouponCodesSchema, CouponIdSchema, toCouponCodes } from '../../model/coupon-codes.ts';
import type { CouponCodeItem } from '../../job-data.ts';
import type { Ingest } from '../../ingest/ingest.ts';
import type { Source } from '../../sources.ts';
import type { V1Env } from '../middleware/v1.ts';
import { jsonError, zodIssues } from '../errors.ts';
import { type EnqueueOr503Deps, enqueueOr503, spooled } from '../enqueue-or-503.ts';

export const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

export interface CouponsRouteDeps extends EnqueueOr503Deps {
  readonly ingest: Ingest;
  /** A request's per-code results (absent: the route answers 404). */
  readonly couponResults?: (source: Source, couponId: string, requestId: string) => Promise<CouponResults>;
}

export function couponsRoutes(deps: CouponsRouteDeps) {
  const app = new Hono<V1Env>();

  const couponIdOf = (c: Context<V1Env>) => {
    const couponId = CouponIdSchema.safeParse(c.req.param('couponId'));
    return couponId.success ? couponId.data : undefined;
  };
  const badCoupon = (c: Context<V1Env>) =>
    jsonError(c, 400, 'validation_failed', 'The coupon id is not valid', [
      { field: 'couponId', message: 'must be a Klaviyo coupon id (letters, digits, - and _ only)' },
    ]);

  app.post('/:couponId/codes', async (c) => {
    const couponId = couponIdOf(c);
    if (couponId === undefined) return badCoupon(c);
    const parsed = CouponCodesSchema.safeParse(c.get('body'));
    if (!parsed.success) return jsonError(c, 400, 'validation_failed', 'The request body is not valid', zodIssues(parsed.error));
    const source = c.get('source');
    const id = parsed.data.id ?? randomUUID();
    const codes = toCouponCodes(couponId, parsed.data);
    const items: CouponCodeItem[] = codes.map((code) => ({ key: couponCodeKey(source.id, couponId, code.code), id, code, requestSize: codes.length }));
    return enqueueOr503(c, deps, async () => {
      const result = await deps.ingest.couponCodes({ id: source.id, lane: source.lane }, items, c.get('bodyBytes'));
      return c.json(
        {
          accepted: items.length,
          id,
          couponId,
          duplicates: result.duplicates,
          // One relay job per Klaviyo job (src/ingest/ingest.ts): how many this request's new codes went into.
          klaviyoJobs: result.jobIds.length,
          results: `/v1/coupons/${couponId}/codes/${id}`,
          ...spooled(result),
        },
        202,
      );
    });
  });

  app.get('/:couponId/codes/:requestId', async (c) => {
    const couponId = couponIdOf(c);
    if (couponId === undefined) return badCoupon(c);
    const requestId = c.req.param('requestId');
    if (!REQUEST_ID.test(requestId))
      return jsonError(c, 400, 'validation_failed', 'The request id is not valid', [
        { field: 'requestId', message: 'must be letters, digits, ., - and _ only' },
      ]);
    if (!deps.couponResults) return jsonError(c, 404, 'not_found', 'Coupon code results are not available here');
    const results = await deps.couponResults(c.get('source'), couponId, requestId);
    if (results.total === undefined && results.created.length === 0 && results.failed.length === 0)
      return jsonError(c, 404, 'not_found', `No settled codes yet for request ${requestId} of coupon ${couponId} (unknown, or still queued)`);
    return c.json(results);
  });

  return app;
}
