/**
 * Fuzzing POST /v1/privacy/deletions (issue 16): bad input always gets a 4xx JSON error (never a
 * 5xx, never a job, never a purge answer); valid-but-unusual input is accepted. See
 * test/fuzz/support/fuzz.ts for the properties checked.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Harness } from '../support/harness.ts';
import { assertStillServing, fuzzRoute, fuzzSeed, RUNS, startFuzzHarness } from './support/fuzz.ts';
import { BAD, email, klaviyoId, phone, printableId, type FieldSpec } from './support/gen.ts';
import { deletionsRoute, v1Bodies, v1Cases } from './support/v1.ts';

const seed = fuzzSeed('privacy-deletions.test.ts');

let h: Harness;
beforeAll(async () => {
  h = await startFuzzHarness('deletions');
});
afterAll(async () => {
  await h?.close();
});

const deletion = fc
  .tuple(
    fc.oneof(
      email.map((e) => ({ email: e })),
      phone.map((p) => ({ phone_number: p })),
      klaviyoId.map((k) => ({ profile_id: k })),
    ),
    fc.record({ id: printableId }, { requiredKeys: [] }),
  )
  .map(([who, extra]) => ({ ...extra, ...who }));

const fields: FieldSpec[] = [
  { path: ['id'], bad: BAD.id },
  { path: ['email'], bad: BAD.email },
  { path: ['phone_number'], bad: BAD.phone },
  { path: ['profile_id'], bad: ['', 'a/b', '../x', 'ü', 'a b', 'x'.repeat(65), 1, null, true, [], {}] },
  // Two identifiers, or none: Klaviyo's deletion job takes exactly one.
  { path: [], bad: [{}, { email: 'a@example.com', phone_number: '+15005550006' }, { profile_id: '01H', email: 'a@example.com' }, { id: 'x' }] },
];

const body = v1Bodies({
  valid: deletion,
  fields,
  batch: { plural: 'deletions', max: 100 },
  unknownAt: [[]],
  hugeAt: [['email'], ['id'], ['profile_id'], ['phone_number']],
  deepAt: [['email'], ['extra']],
});

const path = fc.oneof(
  { weight: 30, arbitrary: fc.constant({ path: '/v1/privacy/deletions', defects: [] }) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(
        '/v1/privacy/deletions/',
        '/v1/privacy/deletion',
        '/v1/privacy',
        '/v1/privacy/deletions/x',
        '/v1/Privacy/deletions',
        '/v1/privacy/%2e%2e/events',
      )
      .map((p) => ({ path: p, defects: ['path' as const] })),
  },
);

describe(`fuzz POST /v1/privacy/deletions (FUZZ_SEED=${seed})`, () => {
  it(`${RUNS} random requests: never 5xx; errors are JSON; a rejected request creates no job`, async () => {
    await fuzzRoute(h, deletionsRoute, v1Cases({ methods: ['POST'], path, body }), seed);
  }, 180_000);

  it('is still healthy afterwards and delivers a valid event', async () => {
    await assertStillServing(h);
  });
});
