/**
 * (a) A worker is killed with SIGKILL while its Klaviyo calls are in flight, and a new worker
 * takes over. The dead worker's active jobs come back when their locks expire (BullMQ's stalled
 * check); calls it had in flight may still have landed, so some events reach Klaviyo twice and
 * are absorbed by the unique_id dedupe. Nothing accepted may be lost.
 */
import { afterEach, describe, it } from 'vitest';
import { CONNECTION, drainAndCompare, Loader, planLoad, Scenario, verdictHolds } from './harness.ts';
import { waitUntil } from '../support/wait.ts';

let sc: Scenario | undefined;
afterEach(async () => {
  await sc?.cleanup();
  sc = undefined;
});

describe('fault (a): kill -9 a worker mid-batch', () => {
  it('delivers exactly the accepted events, each once in effect', async () => {
    sc = await Scenario.start('a-worker-kill9');
    const s = sc;
    const notes: string[] = [];
    // Every Klaviyo call takes 0.7 s, so calls are in flight when the worker dies (the simulator
    // still applies a delayed call whose client has gone: the "applied but never acknowledged" case).
    const [slow] = await s.addFault({ latencyMs: 700 });
    const loader = new Loader(() => s.apiUrl, planLoad('a', 3000, 11));
    const load = loader.run({ concurrency: 8, durationMs: 8000 });

    const inFlight = await waitUntil(
      'deliveries under way with calls in flight',
      async () => {
        const delivered = (await s.simStats()).events[CONNECTION]?.accepted ?? 0;
        if (delivered < 300) return false;
        const pending = await s.simInFlight(slow!);
        return pending > 0 && { delivered, pending };
      },
      { timeoutMs: 40_000, intervalMs: 20 },
    );
    const counts = await s.queueCounts();
    await s.workers[0]!.kill9();
    notes.push(
      `worker SIGKILLed at ${s.elapsed()} s with ${inFlight.pending} Klaviyo call(s) in flight, ${counts?.active ?? '?'} jobs active, ${inFlight.delivered} events delivered`,
    );
    await s.removeFault(slow!);
    await s.startWorker();
    notes.push(`new worker ready at ${s.elapsed()} s`);

    await load;
    await loader.retryFailed();
    verdictHolds(await drainAndCompare(s, loader, { since: Date.now(), timeoutMs: 120_000, notes }));
  });
});
