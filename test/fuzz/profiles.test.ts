/**
 * Fuzzing POST /v1/profiles: bad input always gets a 4xx JSON error (never a 5xx, never a job), and
 * valid-but-unusual input is accepted. See test/fuzz/support/fuzz.ts for the properties checked.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Harness } from '../support/harness.ts';
import { assertStillServing, fuzzRoute, fuzzSeed, RUNS, startFuzzHarness } from './support/fuzz.ts';
import { attributes, BAD, klaviyoId, member, printableId, profileFieldSpecs, type FieldSpec } from './support/gen.ts';
import { profilesRoute, v1Bodies, v1Cases } from './support/v1.ts';

const seed = fuzzSeed('profiles.test.ts');

let h: Harness;
beforeAll(async () => {
  h = await startFuzzHarness('profiles');
});
afterAll(async () => {
  await h?.close();
});

const profile = fc
  .tuple(member, attributes, fc.record({ id: printableId, lists: fc.array(klaviyoId, { maxLength: 4 }) }, { requiredKeys: [] }))
  .map(([ids, attrs, extra]) => ({ ...attrs, ...extra, ...ids }));

const fields: FieldSpec[] = [
  { path: ['id'], bad: BAD.id },
  ...profileFieldSpecs([], { anonymous: false }),
  // Klaviyo's profile import has no anonymous_id: it is not a field here.
  { path: ['anonymous_id'], bad: ['a1', 'anon-42'] },
  { path: ['lists'], bad: BAD.listIds },
];

const body = v1Bodies({
  valid: profile,
  // A profile's only identifier removed (every identifier left out): drop all three.
  fields: [...fields, { path: [], bad: [{ first_name: 'Ada' }, { properties: { a: 1 } }, { lists: ['L1'] }, {}] }],
  batch: { plural: 'profiles', max: 1000 },
  unknownAt: [[], ['location']],
  hugeAt: [['properties', 'blob'], ['first_name'], ['email'], ['external_id'], ['id'], ['location', 'city']],
  deepAt: [['properties', 'nested'], ['properties'], ['location'], ['lists']],
});

const path = fc.oneof(
  { weight: 30, arbitrary: fc.constant({ path: '/v1/profiles', defects: [] }) },
  { weight: 1, arbitrary: fc.constantFrom('/v1/profiles?x=1', '/v1/profiles?profiles=1').map((p) => ({ path: p, defects: [] })) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('/v1/profiles/', '/v1/profile', '/v1/Profiles', '/v1/profiles/x', '/v1/profiles/..', '/v1/profiles%2F', '/v1/profiles/%2e%2e/events')
      .map((p) => ({ path: p, defects: ['path' as const] })),
  },
  { weight: 1, arbitrary: fc.constantFrom('/v1/profiles\\', '/v1/profil\u00e9s').map((p) => ({ path: p, defects: [], transport: true })) },
);

describe(`fuzz POST /v1/profiles (FUZZ_SEED=${seed})`, () => {
  it(`${RUNS} random requests: never 5xx; errors are JSON; a rejected request creates no job`, async () => {
    await fuzzRoute(h, profilesRoute, v1Cases({ methods: ['POST'], path, body }), seed);
  }, 180_000);

  it('is still healthy afterwards and delivers a valid event', async () => {
    await assertStillServing(h);
  });
});
