/**
 * Fuzzing POST /v1/back-in-stock: bad input always gets a 4xx JSON error (never a 5xx, never a
 * job), and valid-but-unusual input is accepted. See test/fuzz/support/fuzz.ts for the properties checked.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { BackInStockSchema } from '../../src/model/back-in-stock.ts';
import type { Harness } from '../support/harness.ts';
import { assertStillServing, fuzzRoute, fuzzSeed, RUNS, startFuzzHarness } from './support/fuzz.ts';
import { anyText, BAD, email, phone, printableId, REMOVE, type FieldSpec } from './support/gen.ts';
import { schemaOk, v1Bodies, v1Cases, v1Route, validSingleOrBatch, type PathCase } from './support/v1.ts';

const seed = fuzzSeed('back-in-stock.test.ts');

let h: Harness;
beforeAll(async () => {
  h = await startFuzzHarness('back-in-stock');
});
afterAll(async () => {
  await h?.close();
});

const variantId = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/) },
  { weight: 2, arbitrary: fc.constantFrom('$custom:::$default:::SKU-1-M', '$shopify:::$default:::33001893429341', 'SKU:1', 'a::b', 'ünï-cödé') },
  { weight: 1, arbitrary: anyText(1, 60) },
);
const channels = fc.uniqueArray(fc.constantFrom('email', 'sms', 'push', 'whatsapp'), { minLength: 1, maxLength: 4 });
const subscription = fc
  .record(
    { id: printableId, email, phone_number: phone, external_id: anyText(1, 40), variant_id: variantId, channels },
    { requiredKeys: ['variant_id', 'channels'] },
  )
  // Mostly subscriptions that carry what their channels need; the rest are invalid by the rules.
  .map((s) => (s.email || s.phone_number ? s : { ...s, email: 'fallback@example.com' }));

const long = (n: number) => 'x'.repeat(n);
const fields: FieldSpec[] = [
  { path: ['id'], bad: BAD.id },
  { path: ['email'], bad: BAD.email },
  { path: ['phone_number'], bad: BAD.phone },
  { path: ['external_id'], bad: BAD.externalId },
  { path: ['variant_id'], bad: ['', '   ', 'a b', 'x:::y', ':::a:::b', 'a:::b:::', long(401), REMOVE, 1, null, true, [], {}] },
  { path: ['channels'], bad: [...BAD.array, REMOVE, [], ['fax'], ['EMAIL'], [1], [null], ['email', 'sms', 'push', 'whatsapp', 'email']] },
];

const body = v1Bodies({
  valid: subscription,
  fields,
  batch: { plural: 'subscriptions', max: 1000 },
  unknownAt: [[]],
  hugeAt: [['id'], ['variant_id'], ['external_id'], ['email']],
  deepAt: [['channels'], ['variant_id'], ['extra']],
});

const path: fc.Arbitrary<PathCase> = fc.oneof(
  { weight: 30, arbitrary: fc.constant({ path: '/v1/back-in-stock', defects: [] }) },
  { weight: 1, arbitrary: fc.constantFrom('/v1/back-in-stock?x=1').map((p) => ({ path: p, defects: [] })) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('/v1/back-in-stock/1', '/v1/back_in_stock', '/v1/backinstock', '/v1/back-in-stock/..', '/v1/back-in-stock%2F')
      .map((p) => ({ path: p, defects: ['path' as const] })),
  },
);

const backInStockRoute = v1Route('POST /v1/back-in-stock', (v) => validSingleOrBatch(v, 'subscriptions', 1000, schemaOk(BackInStockSchema)), 'ids');

describe(`fuzz POST /v1/back-in-stock (FUZZ_SEED=${seed})`, () => {
  it(`${RUNS} random requests: never 5xx; errors are JSON; a rejected request creates no job`, async () => {
    await fuzzRoute(h, backInStockRoute, v1Cases({ methods: ['POST'], path, body }), seed);
  }, 180_000);

  it('is still healthy afterwards and delivers a valid event', async () => {
    await assertStillServing(h);
  });
});
