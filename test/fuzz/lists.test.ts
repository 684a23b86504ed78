/**
 * Fuzzing POST and DELETE /v1/lists/{listId}/members: bad input always gets a 4xx JSON error (never
 * a 5xx, never a job); list ids that try to steer a path never reach a job. See
 * test/fuzz/support/fuzz.ts for the properties checked.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Harness } from '../support/harness.ts';
import { assertStillServing, fuzzRoute, fuzzSeed, RUNS, startFuzzHarness } from './support/fuzz.ts';
import { anyText, BAD, evilSegment, klaviyoId, member, printableId, REMOVE, transportSegment, type FieldSpec } from './support/gen.ts';
import { listsRoute, v1Bodies, v1Cases, type PathCase } from './support/v1.ts';

const seed = fuzzSeed('lists.test.ts');

let h: Harness;
beforeAll(async () => {
  h = await startFuzzHarness('lists');
});
afterAll(async () => {
  await h?.close();
});

const members = fc.record(
  {
    id: printableId,
    profiles: fc.array(member, { minLength: 1, maxLength: 5 }),
    consent: fc.record({ email: fc.boolean(), sms: fc.boolean() }, { requiredKeys: [] }),
    source: anyText(1, 40),
    global: fc.boolean(),
  },
  { requiredKeys: ['profiles'] },
);

const fields: FieldSpec[] = [
  { path: ['id'], bad: BAD.id },
  { path: ['profiles'], bad: [...BAD.array, REMOVE, [], Array.from({ length: 1001 }, (_, i) => ({ external_id: `m${i}` }))] },
  { path: ['profiles', 0], bad: [...BAD.object, {}, { anonymous_id: 'a1' }, { first_name: 'Ada', email: 'ada@example.com' }] },
  { path: ['profiles', 0, 'email'], bad: BAD.email },
  { path: ['profiles', 0, 'phone_number'], bad: BAD.phone },
  { path: ['profiles', 0, 'external_id'], bad: BAD.externalId },
  { path: ['consent'], bad: BAD.consent },
  { path: ['source'], bad: BAD.string255 },
  { path: ['global'], bad: BAD.bool },
];

const body = v1Bodies({
  valid: members,
  fields,
  unknownAt: [[], ['profiles', 0], ['consent']],
  hugeAt: [['source'], ['id'], ['profiles', 0, 'external_id'], ['profiles', 0, 'email']],
  deepAt: [['profiles'], ['profiles', 0], ['consent'], ['extra']],
});

const path: fc.Arbitrary<PathCase> = fc.oneof(
  { weight: 24, arbitrary: klaviyoId.map((id) => ({ path: `/v1/lists/${id}/members`, defects: [] })) },
  { weight: 6, arbitrary: evilSegment.map((id) => ({ path: `/v1/lists/${id}/members`, defects: ['path' as const] })) },
  {
    weight: 1,
    arbitrary: klaviyoId
      .chain((id) =>
        fc.constantFrom(`/v1/lists/${id}`, `/v1/lists/${id}/members/`, `/v1/lists/${id}/member`, `/v1/lists/${id}/members/x`, `/v1/list/${id}/members`),
      )
      .map((p) => ({ path: p, defects: ['path' as const] })),
  },
  { weight: 1, arbitrary: transportSegment.map((id) => ({ path: `/v1/lists/${id}/members`, defects: [], transport: true })) },
);

describe(`fuzz POST|DELETE /v1/lists/{listId}/members (FUZZ_SEED=${seed})`, () => {
  it(`${RUNS} random requests: never 5xx; errors are JSON; a rejected request creates no job; no list id steers a path`, async () => {
    await fuzzRoute(h, listsRoute, v1Cases({ methods: ['POST', 'DELETE'], path, body }), seed);
  }, 180_000);

  it('is still healthy afterwards and delivers a valid event', async () => {
    await assertStillServing(h);
  });
});
