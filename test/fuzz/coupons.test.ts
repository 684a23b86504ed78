/**
 * Fuzzing POST /v1/coupons/{couponId}/codes: bad input always gets a 4xx JSON error (never a 5xx,
 * never a job); coupon ids that try to steer a path or a key never reach a job. See
 * test/fuzz/support/fuzz.ts for the properties checked.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { CouponCodesSchema } from '../../src/model/coupon-codes.ts';
import type { Harness } from '../support/harness.ts';
import { assertStillServing, fuzzRoute, fuzzSeed, RUNS, startFuzzHarness } from './support/fuzz.ts';
import { BAD, evilSegment, klaviyoId, REMOVE, transportSegment, type FieldSpec } from './support/gen.ts';
import { schemaOk, v1Bodies, v1Cases, v1Route, type PathCase } from './support/v1.ts';

const seed = fuzzSeed('coupons.test.ts');

let h: Harness;
beforeAll(async () => {
  h = await startFuzzHarness('coupons');
});
afterAll(async () => {
  await h?.close();
});

const PRINTABLE = Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i));
const code = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: fc.constantFrom(...PRINTABLE), minLength: 1, maxLength: 20 }) },
  { weight: 1, arbitrary: fc.constantFrom('dup', 'c:x', 'total', '"', '{}', '..', '%2F') },
);
const future = fc.date({ min: new Date('2030-01-01T00:00:00Z'), max: new Date('2099-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString());
const entry = fc.oneof(code, fc.record({ code, expires_at: future }, { requiredKeys: ['code'] }));
const requestId = fc.stringMatching(/^[A-Za-z0-9._-]{1,40}$/);
const request = fc.record(
  {
    id: requestId,
    codes: fc.uniqueArray(entry, { minLength: 1, maxLength: 30, selector: (e) => (typeof e === 'string' ? e : e.code) }),
    expires_at: future,
  },
  { requiredKeys: ['codes'] },
);

const long = (n: number) => 'x'.repeat(n);
const fields: FieldSpec[] = [
  { path: ['id'], bad: ['', 'has space', 'a/b', 'é', long(129), ...BAD.id] },
  { path: ['codes'], bad: [...BAD.array, REMOVE, [], Array.from({ length: 10_001 }, (_, i) => `C${i}`), ['A', 'A']] },
  {
    path: ['codes', 0],
    bad: ['', 'a b', 'tab\tx', 'é', long(256), 1, null, true, [], {}, { code: '' }, { code: 'A', expires_at: 'tomorrow' }, { code: 'A', extra: 1 }],
  },
  { path: ['expires_at'], bad: ['tomorrow', '2030-01-01', '2030-01-01T00:00:00', '', 1, null, true, [], {}] },
];

const body = v1Bodies({
  valid: request,
  fields,
  unknownAt: [[]],
  hugeAt: [['id'], ['codes', 0], ['expires_at']],
  deepAt: [['codes'], ['codes', 0], ['extra']],
});

const path: fc.Arbitrary<PathCase> = fc.oneof(
  { weight: 24, arbitrary: klaviyoId.map((id) => ({ path: `/v1/coupons/${id}/codes`, defects: [] })) },
  { weight: 6, arbitrary: evilSegment.map((id) => ({ path: `/v1/coupons/${id}/codes`, defects: ['path' as const] })) },
  {
    weight: 1,
    arbitrary: klaviyoId
      .chain((id) => fc.constantFrom(`/v1/coupons/${id}`, `/v1/coupons/${id}/codes/`, `/v1/coupons/${id}/code`, `/v1/coupon/${id}/codes`))
      .map((p) => ({ path: p, defects: ['path' as const] })),
  },
  { weight: 1, arbitrary: transportSegment.map((id) => ({ path: `/v1/coupons/${id}/codes`, defects: [], transport: true })) },
);

const couponsRoute = v1Route('POST /v1/coupons/{couponId}/codes', schemaOk(CouponCodesSchema), 'id');

describe(`fuzz POST /v1/coupons/{couponId}/codes (FUZZ_SEED=${seed})`, () => {
  it(`${RUNS} random requests: never 5xx; errors are JSON; a rejected request creates no job; no coupon id steers a path`, async () => {
    await fuzzRoute(h, couponsRoute, v1Cases({ methods: ['POST'], path, body }), seed);
  }, 180_000);

  it('is still healthy afterwards and delivers a valid event', async () => {
    await assertStillServing(h);
  });
});
