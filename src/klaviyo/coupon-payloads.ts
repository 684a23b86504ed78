/**
 * The body of POST /api/coupon-code-bulk-create-jobs (OAS bulk_create_coupon_codes), and where
 * the job's errors point: `/data/attributes/coupon-codes/data/<index>/…` names the code sent at
 * that index.
 */
import type { CouponCode } from '../model/coupon-codes.ts';

export function couponCodesBody(codes: readonly CouponCode[]): unknown {
  return {
    data: {
      type: 'coupon-code-bulk-create-job',
      attributes: {
        'coupon-codes': {
          data: codes.map((c) => ({
            type: 'coupon-code',
            attributes: c.expiresAt === undefined ? { unique_code: c.code } : { unique_code: c.code, expires_at: c.expiresAt },
            relationships: { coupon: { data: { type: 'coupon', id: c.couponId } } },
          })),
        },
      },
    },
  };
}

const INDEX = /^\/data\/attributes\/coupon-codes\/data\/(\d+)(?:\/|$)/;

/** The index of the code a job error's pointer names, or undefined. */
export function couponCodeIndex(pointer: string | null | undefined): number | undefined {
  const m = pointer ? INDEX.exec(pointer) : null;
  return m ? Number(m[1]) : undefined;
}
