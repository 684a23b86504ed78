/**
 * (d) The gateway refuses the credentials (401, gateway-shaped body) for 10 s, then accepts them
 * again. Nothing may be dead-lettered or lost, and no job may spend an attempt on the refusal:
 * the lane pauses (jobs kept) and a probe resumes it once the credentials work.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CONNECTION, countStatus, drainAndCompare, Loader, planLoad, Scenario, sleep, verdictHolds } from './harness.ts';
import { waitUntil } from '../support/wait.ts';

let sc: Scenario | undefined;
afterEach(async () => {
  await sc?.cleanup();
  sc = undefined;
});

describe('fault (d): gateway 401 for 10 s, then healed', () => {
  it('delivers exactly the accepted events, each once in effect', async () => {
    sc = await Scenario.start('d-gateway-401');
    const s = sc;
    const notes: string[] = [];
    const loader = new Loader(() => s.apiUrl, planLoad('d', 3000, 14));
    const load = loader.run({ concurrency: 8, durationMs: 12_000 });

    await sleep(2000);
    const before = countStatus(await s.simStats(), '401');
    const [rule] = await s.addFault({ id: 'auth', status: 401, source: 'gateway' });
    const t401 = Date.now();
    notes.push(`401s on from ${s.elapsed()} s`);
    // Watch for the lane's pause marker while the credentials are refused.
    let pausedSeen = false;
    while (Date.now() - t401 < 10_000) {
      if ((await s.redisGet('relay:lane:default:paused')) && !pausedSeen) {
        pausedSeen = true;
        notes.push(`lane pause marker seen ${((Date.now() - t401) / 1000).toFixed(1)} s after the first 401`);
      }
      await sleep(250);
    }
    await s.removeFault(rule!);
    const healed = Date.now();
    const stats = await s.simStats();
    const deliveredAtHeal = stats.events[CONNECTION]?.accepted ?? 0;
    notes.push(`healed at ${s.elapsed()} s; ${countStatus(stats, '401') - before} calls answered 401 in the 10 s${pausedSeen ? '' : '; no pause marker seen'}`);

    // Time from the heal to the first delivery after it (how quickly the lane resumes).
    const resumed = waitUntil(
      'the first delivery after the heal',
      async () => ((await s.simStats()).events[CONNECTION]?.accepted ?? 0) > deliveredAtHeal && Date.now(),
      {
        timeoutMs: 60_000,
        intervalMs: 100,
      },
    ).then(
      (at) => at - healed,
      () => undefined,
    );
    await load;
    await loader.retryFailed();
    const v = await drainAndCompare(s, loader, { since: Math.max(Date.now(), healed), timeoutMs: 90_000, notes });
    const resumedMs = await resumed;
    const attempts = await s.attempts();
    verdictHolds({
      ...v,
      notes: `${v.notes}; first delivery ${resumedMs === undefined ? 'not seen within 60 s' : `${(resumedMs / 1000).toFixed(1)} s`} after the heal`,
    });
    // Refused credentials say nothing about the events: no job may spend an attempt on them
    // (401 is the only fault here, so every job completes on its first attempt).
    expect(attempts?.retried, `jobs that spent attempts on the 401s: ${JSON.stringify(attempts)}`).toBe(0);
  });
});
