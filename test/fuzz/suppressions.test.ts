/**
 * Fuzzing POST and DELETE /v1/suppressions (issue 16): bad input always gets a 4xx JSON error
 * (never a 5xx, never a job); valid-but-unusual input is accepted. See test/fuzz/support/fuzz.ts.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Harness } from '../support/harness.ts';
import { assertStillServing, fuzzRoute, fuzzSeed, RUNS, startFuzzHarness } from './support/fuzz.ts';
import { BAD, email, printableId, REMOVE, type FieldSpec } from './support/gen.ts';
import { suppressionsRoute, v1Bodies, v1Cases } from './support/v1.ts';

const seed = fuzzSeed('suppressions.test.ts');

let h: Harness;
beforeAll(async () => {
  h = await startFuzzHarness('suppressions');
});
afterAll(async () => {
  await h?.close();
});

const suppressions = fc.record({ id: printableId, emails: fc.array(email, { minLength: 1, maxLength: 120 }) }, { requiredKeys: ['emails'] });

const fields: FieldSpec[] = [
  { path: ['id'], bad: BAD.id },
  { path: ['emails'], bad: [...BAD.array, REMOVE, [], Array.from({ length: 1001 }, (_, i) => `m${i}@example.com`)] },
  { path: ['emails', 0], bad: BAD.email },
];

const body = v1Bodies({
  valid: suppressions,
  fields,
  unknownAt: [[]],
  hugeAt: [['id'], ['emails', 0]],
  deepAt: [['emails'], ['extra']],
});

const path = fc.oneof(
  { weight: 30, arbitrary: fc.constant({ path: '/v1/suppressions', defects: [] }) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('/v1/suppressions/', '/v1/suppression', '/v1/suppressions/x', '/v1/Suppressions', '/v1/suppressions/%2e%2e/events')
      .map((p) => ({ path: p, defects: ['path' as const] })),
  },
);

describe(`fuzz POST|DELETE /v1/suppressions (FUZZ_SEED=${seed})`, () => {
  it(`${RUNS} random requests: never 5xx; errors are JSON; a rejected request creates no job`, async () => {
    await fuzzRoute(h, suppressionsRoute, v1Cases({ methods: ['POST', 'DELETE'], path, body }), seed);
  }, 180_000);

  it('is still healthy afterwards and delivers a valid event', async () => {
    await assertStillServing(h);
  });
});
