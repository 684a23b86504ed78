/**
 * Fuzzing the Segment/RudderStack tracking API: /v1/batch and each single call, RUNS (10,000)
 * cases each, with gzip, gzip bombs, bad gzip and other encodings, Basic/Bearer/body-writeKey
 * auth, and the bodies every other route gets. Never 5xx; errors are JSON; a refused request
 * creates no job, an accepted one only jobs for its messages. See test/fuzz/support/tracking.ts
 * for the verdicts and test/fuzz/support/fuzz.ts for the properties checked.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { RequestKind } from '../../src/tracking/map.ts';
import type { Harness } from '../support/harness.ts';
import { assertStillServing, fuzzRoute, fuzzSeed, RUNS, startFuzzHarness } from './support/fuzz.ts';
import { trackingCases, trackingRoute } from './support/tracking.ts';

const seed = fuzzSeed('tracking-api.test.ts');

let h: Harness;
beforeAll(async () => {
  h = await startFuzzHarness('tracking');
});
afterAll(async () => {
  await h?.close();
});

const KINDS: readonly RequestKind[] = ['batch', 'track', 'identify', 'page', 'screen', 'group', 'alias'];

describe(`fuzz the tracking API (FUZZ_SEED=${seed})`, () => {
  for (const kind of KINDS) {
    it(`POST /v1/${kind}: ${RUNS} random requests: never 5xx; errors are JSON; a rejected request creates no job`, async () => {
      await fuzzRoute(h, trackingRoute(kind), trackingCases(kind), seed);
    }, 300_000);
  }

  it('is still healthy afterwards and delivers a valid event', async () => {
    await assertStillServing(h);
  });
});
