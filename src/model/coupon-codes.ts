/**
 * POST /v1/coupons/{couponId}/codes — up to 10,000 codes for one coupon:
 *   {"id": "drop-2026-12", "codes": ["SAVE-1A2B", {"code": "SAVE-3C4D", "expires_at": "2027-01-31T00:00:00Z"}],
 *    "expires_at": "2027-03-01T00:00:00Z"}
 *
 * A code's `expires_at` beats the request's; without either Klaviyo sets one year. A code given
 * twice in one request is refused (it names both places): Klaviyo would fail the second anyway.
 */
import { z } from 'zod';
import { KLAVIYO_ID } from '../klaviyo/endpoints.ts';

export const MAX_CODES_PER_REQUEST = 10_000;

/** Coupon ids are the names given in Klaviyo (e.g. `10OFF`): letters, digits, `-` and `_`, never a path. */
export const CouponIdSchema = z.string().regex(KLAVIYO_ID, 'must be a Klaviyo coupon id (letters, digits, - and _ only)');

const CodeSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');
const ExpiresAtSchema = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time with a time zone, e.g. 2027-01-31T00:00:00Z' });

export const CouponCodesSchema = z
  .object({
    /** Your id for this request: its per-code results are read back under it (GET …/codes/{id}). */
    id: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9._-]+$/, 'must be letters, digits, ., - and _ only')
      .optional(),
    codes: z
      .array(z.union([CodeSchema, z.object({ code: CodeSchema, expires_at: ExpiresAtSchema.optional() }).strict()]))
      .min(1, 'must contain at least one code')
      .max(MAX_CODES_PER_REQUEST, `must contain at most ${MAX_CODES_PER_REQUEST} codes`),
    expires_at: ExpiresAtSchema.optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    const first = new Map<string, number>();
    body.codes.forEach((c, i) => {
      const code = typeof c === 'string' ? c : c.code;
      const j = first.get(code);
      if (j === undefined) first.set(code, i);
      else ctx.addIssue({ code: 'custom', path: ['codes', i], message: `repeats codes[${j}]` });
    });
  });

/** One code to create. */
export interface CouponCode {
  readonly couponId: string;
  readonly code: string;
  readonly expiresAt?: string;
}

export function toCouponCodes(couponId: string, body: z.infer<typeof CouponCodesSchema>): CouponCode[] {
  return body.codes.map((c) => {
    const code = typeof c === 'string' ? c : c.code;
    const expiresAt = (typeof c === 'string' ? undefined : c.expires_at) ?? body.expires_at;
    return expiresAt === undefined ? { couponId, code } : { couponId, code, expiresAt };
  });
}
