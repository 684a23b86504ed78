/**
 * (c) Klaviyo (the simulator) misbehaves throughout ingest and delivery: 30% of calls answer 5xx,
 * some 429 with Retry-After, some hang past the client's 2 s timeout, and some are applied only
 * after the client gave up (so the retry is a duplicate Klaviyo must absorb).
 */
import { afterEach, describe, it } from 'vitest';
import { countStatus, drainAndCompare, Loader, planLoad, Scenario, verdictHolds } from './harness.ts';

let sc: Scenario | undefined;
afterEach(async () => {
  await sc?.cleanup();
  sc = undefined;
});

describe('fault (c): 30% 5xx, random 429s, hangs past the client timeout', () => {
  it('delivers exactly the accepted events, each once in effect', async () => {
    sc = await Scenario.start('c-klaviyo-flaky');
    const s = sc;
    // Rules are tried in order; each fires with its own probability. A few thousand events make
    // only a few dozen bulk calls, so two hangs and two late answers are also scripted outright.
    await s.addFault([
      { id: 'err5xx', rate: 0.3, status: 503 },
      { id: 'throttle', rate: 0.15, status: 429, retryAfterS: 1 },
      { id: 'hang', rate: 0.06, hang: true },
      { id: 'late', rate: 0.06, latencyMs: 2500 },
      { id: 'hang-bulk', times: 2, hang: true, match: { endpoint: 'bulk_create_events' } },
      { id: 'late-bulk', times: 2, latencyMs: 2500, match: { endpoint: 'bulk_create_events' } },
    ]);
    const loader = new Loader(() => s.apiUrl, planLoad('c', 3000, 13));
    await loader.run({ concurrency: 8, durationMs: 8000 });
    await loader.retryFailed();

    // The faults stay on while the backlog drains.
    const v = await drainAndCompare(s, loader, { since: Date.now(), timeoutMs: 120_000, quietMs: 20_000 });
    const stats = await s.simStats();
    const faults = ((await (await fetch(`${s.simUrl}/__sim/faults`)).json()) as { faults: { id: string; fired: number }[] }).faults;
    await s.clearFaults();
    // Rules with `times` disappear once spent: those fired every time.
    const fired = ['err5xx', 'throttle', 'hang', 'late', 'hang-bulk', 'late-bulk']
      .map((id) => `${id}×${faults.find((f) => f.id === id)?.fired ?? 'all'}`)
      .join(' ');
    verdictHolds({
      ...v,
      notes: `simulator: ${stats.requests.total} calls, faults fired ${fired}, 5xx ${countStatus(stats, '503')}, 429 ${countStatus(stats, '429')}, hung ${countStatus(stats, 'hung')}; ${v.notes}`,
    });
  });
});
