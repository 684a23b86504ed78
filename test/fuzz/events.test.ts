/**
 * Fuzzing POST /v1/events: bad input always gets a 4xx JSON error (never a 5xx, never a job), and
 * valid-but-unusual input is accepted. See test/fuzz/support/fuzz.ts for the properties checked.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Harness } from '../support/harness.ts';
import { assertStillServing, fuzzRoute, fuzzSeed, RUNS, startFuzzHarness } from './support/fuzz.ts';
import { anyText, BAD, currency, eventProfile, isoTime, jsonProps, NON_FINITE, printableId, profileFieldSpecs, REMOVE, type FieldSpec } from './support/gen.ts';
import { eventsRoute, v1Bodies, v1Cases } from './support/v1.ts';

const seed = fuzzSeed('events.test.ts');

let h: Harness;
beforeAll(async () => {
  h = await startFuzzHarness('events');
});
afterAll(async () => {
  await h?.close();
});

const event = fc.record(
  {
    id: printableId,
    event: fc.oneof(fc.constantFrom('Placed Order', 'Viewed Product', ' Padded Metric ', 'x'.repeat(127)), anyText(1, 127)),
    profile: eventProfile,
    properties: jsonProps,
    value: fc.double({ noNaN: true, noDefaultInfinity: true }),
    value_currency: currency,
    time: isoTime,
    backfill: fc.boolean(),
  },
  { requiredKeys: ['event', 'profile'] },
);

const fields: FieldSpec[] = [
  { path: ['id'], bad: BAD.id },
  { path: ['event'], bad: [...BAD.metric, REMOVE] },
  { path: ['profile'], bad: [...BAD.profile, REMOVE] },
  ...profileFieldSpecs(['profile'], { anonymous: true }),
  {
    path: ['properties'],
    bad: [...BAD.object, Object.fromEntries(Array.from({ length: 401 }, (_, i) => [`p${i}`, i])), { '': 1 }, { a: 'x'.repeat(100 * 1024 + 1) }],
  },
  { path: ['properties', 'n'], bad: [], raw: NON_FINITE },
  { path: ['value'], bad: BAD.number, raw: NON_FINITE },
  { path: ['value_currency'], bad: BAD.currency },
  { path: ['time'], bad: BAD.time },
  { path: ['backfill'], bad: BAD.bool },
];

const body = v1Bodies({
  valid: event,
  fields,
  batch: { plural: 'events', max: 1000 },
  unknownAt: [[], ['profile'], ['profile', 'location']],
  hugeAt: [['properties', 'blob'], ['profile', 'properties', 'blob'], ['event'], ['profile', 'first_name'], ['id'], ['profile', 'email']],
  deepAt: [['properties', 'nested'], ['profile', 'properties', 'nested'], ['properties'], ['profile'], ['value'], ['extra']],
});

const path = fc.oneof(
  { weight: 30, arbitrary: fc.constant({ path: '/v1/events', defects: [] }) },
  { weight: 1, arbitrary: fc.constantFrom('/v1/events?x=1', '/v1/events?events=[]&id=..%2F', '/v1/events?').map((p) => ({ path: p, defects: [] })) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(
        '/v1/events/',
        '/v1/event',
        '/v1/EVENTS',
        '/V1/events',
        '/v1/events/x',
        '/v1//events',
        '/v1/events%2F',
        '/v1/events/..',
        '/v1/events/%2e%2e/orders',
        '/v1/events;x',
        '/v1/events%00',
      )
      .map((p) => ({ path: p, defects: ['path' as const] })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('/v1/events\\', '/v1\\events', '/v1/events/\u00e9', '/v1/\u00ffvents').map((p) => ({ path: p, defects: [], transport: true })),
  },
);

describe(`fuzz POST /v1/events (FUZZ_SEED=${seed})`, () => {
  it(`${RUNS} random requests: never 5xx; errors are JSON; a rejected request creates no job`, async () => {
    await fuzzRoute(h, eventsRoute, v1Cases({ methods: ['POST'], path, body }), seed);
  }, 180_000);

  it('is still healthy afterwards and delivers a valid event', async () => {
    await assertStillServing(h);
  });
});
