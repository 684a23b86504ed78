/** POST /v1/coupons/{couponId}/codes and GET /v1/coupons/{couponId}/codes/{requestId} in the OpenAPI document (src/http/openapi/route-doc.ts). */
import { z } from 'zod';
import { CouponCodesSchema, CouponIdSchema, MAX_CODES_PER_REQUEST } from '../../model/coupon-codes.ts';
import { errorResponse, type RouteDoc, spooledField, V1_ERRORS } from '../openapi/route-doc.ts';
import { REQUEST_ID } from './coupons.ts';

const CodesAcceptedSchema = z.object({
  accepted: z.number().int().meta({ description: 'Codes in the request' }),
  id: z.string().meta({ description: 'The request id (yours, or generated): its results are read under it' }),
  couponId: z.string(),
  duplicates: z.number().int().meta({ description: 'Codes accepted before for this coupon: not queued again' }),
  klaviyoJobs: z.number().int().meta({ description: 'Klaviyo bulk create jobs the new codes went into (up to 1,000 codes each)' }),
  results: z.string().meta({ description: 'Where the per-code results are read: GET /v1/coupons/{couponId}/codes/{id}' }),
  spooled: spooledField,
});

const CodeResultsSchema = z.object({
  id: z.string(),
  couponId: z.string(),
  total: z.number().int().optional().meta({ description: 'Codes in the request, once the first settled' }),
  created: z.array(z.string()).meta({ description: 'Codes Klaviyo created' }),
  failed: z
    .array(z.object({ code: z.string(), error: z.object({ status: z.number().int(), code: z.string().optional(), detail: z.string().optional() }) }))
    .meta({ description: 'Codes Klaviyo refused, with its error (also dead letters, GET /ops/dead-letters)' }),
  pending: z.number().int().optional().meta({ description: 'Codes not settled yet, when the total is known' }),
});

const couponId = CouponIdSchema.meta({ description: "The coupon's id in Klaviyo (e.g. 10OFF)" });

export const couponsDocs: RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/coupons/{couponId}/codes',
    summary: 'Create up to 10,000 codes for a coupon',
    description:
      `Up to ${MAX_CODES_PER_REQUEST} codes, as strings or \`{"code", "expires_at"}\`; a code's \`expires_at\` beats the request's, without either Klaviyo sets one year. ` +
      'A code twice in one request is refused (both places named). Sent in Klaviyo coupon-code bulk create jobs of up to 1,000. ' +
      "A code already accepted for the coupon (under any request id) counts as a duplicate. Read each code's outcome at `results`.",
    tags: ['commerce'],
    security: ['relayKey', 'standardWebhooks'],
    params: z.object({ couponId }),
    body: CouponCodesSchema,
    responses: { 202: { description: 'Redis (or the spool) holds every code', schema: CodesAcceptedSchema }, ...V1_ERRORS },
    examples: [
      {
        summary: 'Codes with expiries',
        status: 202,
        params: { couponId: '10OFF' },
        body: { id: 'drop-2026-12', codes: ['SAVE-1A2B', { code: 'SAVE-3C4D', expires_at: '2027-01-31T00:00:00Z' }], expires_at: '2027-03-01T00:00:00Z' },
      },
      { summary: 'A code twice', status: 400, params: { couponId: '10OFF' }, body: { codes: ['SAVE-1A2B', 'SAVE-1A2B'] } },
      { summary: 'A coupon id that is not one', status: 400, params: { couponId: '10.OFF' }, body: { codes: ['SAVE-1A2B'] } },
      { summary: 'No key', status: 401, auth: false, params: { couponId: '10OFF' }, body: { codes: ['SAVE-1A2B'] } },
    ],
  },
  {
    method: 'get',
    path: '/v1/coupons/{couponId}/codes/{requestId}',
    summary: "A code request's per-code results",
    description:
      'Which codes Klaviyo created, which it refused and why, and how many are pending. 404 until the first code of the request has settled. Kept 7 days after the last write.',
    tags: ['commerce'],
    security: ['relayKey'],
    params: z.object({ couponId, requestId: z.string().regex(REQUEST_ID).meta({ description: 'The `id` of the POST (yours, or generated)' }) }),
    responses: {
      200: { description: 'The results so far', schema: CodeResultsSchema },
      400: errorResponse('The coupon id or request id is not valid'),
      401: V1_ERRORS[401]!,
      404: errorResponse('No code of this request has settled yet (unknown, or still queued)'),
    },
    examples: [
      { summary: 'A request nothing is known of yet', status: 404, params: { couponId: '10OFF', requestId: 'drop-unknown' } },
      { summary: 'A request id that is not one', status: 400, params: { couponId: '10OFF', requestId: 'a b' } },
      { summary: 'No key', status: 401, auth: false, params: { couponId: '10OFF', requestId: 'drop-2026-12' } },
    ],
  },
];
