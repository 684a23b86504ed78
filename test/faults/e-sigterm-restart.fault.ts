/**
 * (e) The API and the worker get SIGTERM under load (as an orchestrator's rolling restart does)
 * and are started again. In-flight requests should finish, active jobs finish or go back to the
 * queue, both processes exit 0; requests refused or cut off meanwhile are re-posted (same ids).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CONNECTION, drainAndCompare, Loader, planLoad, Scenario, verdictHolds } from './harness.ts';
import { waitUntil } from '../support/wait.ts';

let sc: Scenario | undefined;
afterEach(async () => {
  await sc?.cleanup();
  sc = undefined;
});

describe('fault (e): SIGTERM the API and the worker under load, restart them', () => {
  it('delivers exactly the accepted events, each once in effect, and both exit 0', async () => {
    sc = await Scenario.start('e-sigterm-restart');
    const s = sc;
    const notes: string[] = [];
    // Calls take 0.3 s, so the worker has calls in flight when it is told to stop.
    const [slow] = await s.addFault({ latencyMs: 300 });
    const loader = new Loader(() => s.apiUrl, planLoad('e', 3000, 15));
    const load = loader.run({ concurrency: 8, durationMs: 10_000 });

    await waitUntil('deliveries under way', async () => ((await s.simStats()).events[CONNECTION]?.accepted ?? 0) >= 300, { timeoutMs: 40_000, intervalMs: 50 });
    const api = s.api!;
    const worker = s.workers[0]!;
    const counts = await s.queueCounts();
    const down = Date.now();
    notes.push(`SIGTERM at ${s.elapsed()} s (${counts?.active ?? '?'} jobs active)`);
    const [apiExit, workerExit] = await Promise.all([api.stop('SIGTERM', 20_000), worker.stop('SIGTERM', 20_000)]);
    const show = (e: typeof apiExit) =>
      `${e.forced ? 'did not exit, SIGKILLed' : `code ${e.code}${e.signal ? ` signal ${e.signal}` : ''}`} after ${(e.ms / 1000).toFixed(1)} s`;
    notes.push(`API ${show(apiExit)}, worker ${show(workerExit)}`);
    const closing = { from: down, to: down + apiExit.ms + 250 };
    const cutOff = loader.eventsAnswered((st, err) => st === 0 && err !== 'ECONNREFUSED', closing);
    notes.push(
      `while the API was shutting down: ${loader.eventsAnswered((st) => st >= 200 && st < 300, closing)} events 2xx, ${cutOff} sent but never answered, ${loader.eventsAnswered((st, err) => st >= 300 || err === 'ECONNREFUSED', closing)} refused`,
    );
    await s.removeFault(slow!);
    await Promise.all([s.startApi(), s.startWorker()]);
    const up = Date.now();
    notes.push(`restarted at ${s.elapsed()} s`);
    await load;
    notes.push(`while down: ${loader.eventsAnswered((st) => st < 200 || st >= 300, { from: down, to: up })} events refused`);

    await loader.retryFailed();
    const v = await drainAndCompare(s, loader, { since: Date.now(), timeoutMs: 90_000, notes });
    verdictHolds(v);
    // Both exit 0 by themselves (the harness SIGKILLs after 20 s). How long they took, and how many
    // requests were left without an answer, are in the notes: with keep-alive clients both depend
    // on timing (a connection reused during the drain keeps the server open until
    // RELAY_SHUTDOWN_TIMEOUT_MS, then its request is cut), so they are reported, not asserted.
    expect({ api: apiExit, worker: workerExit }, v.notes).toMatchObject({ api: { code: 0, forced: false }, worker: { code: 0, forced: false } });
  });
});
