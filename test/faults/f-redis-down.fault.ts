/**
 * (f) Redis is down for 10 s during ingest. The API keeps accepting into its local spool, or
 * answers 503 (only 2xx counts as accepted; refused requests are re-posted afterwards with the
 * same ids). When Redis is back, everything accepted — spooled or not — is delivered once.
 */
import { afterEach, describe, it } from 'vitest';
import { drainAndCompare, Loader, planLoad, Scenario, sleep, verdictHolds } from './harness.ts';

let sc: Scenario | undefined;
afterEach(async () => {
  await sc?.cleanup();
  sc = undefined;
});

describe('fault (f): Redis down for 10 s during ingest', () => {
  it('delivers exactly the accepted events, each once in effect', async () => {
    sc = await Scenario.start('f-redis-down');
    const s = sc;
    const notes: string[] = [];
    const loader = new Loader(() => s.apiUrl, planLoad('f', 3000, 16));
    const load = loader.run({ concurrency: 8, durationMs: 16_000 });

    await sleep(3000);
    const down = Date.now();
    await s.stopRedis();
    notes.push(`redis-server stopped at ${s.elapsed()} s`);
    await sleep(10_000);
    await s.startRedis();
    const up = Date.now();
    notes.push(`started again at ${s.elapsed()} s`);
    await load;
    const window = { from: down, to: up };
    const ok = loader.eventsAnswered((st) => st >= 200 && st < 300, window);
    notes.push(
      `while Redis was down: ${ok} events 2xx (spooled), ${loader.eventsAnswered((st) => st === 503, window)} 503, ${loader.eventsAnswered((st) => st !== 503 && (st < 200 || st >= 300), window)} other`,
    );

    await loader.retryFailed();
    verdictHolds(await drainAndCompare(s, loader, { since: Date.now(), timeoutMs: 90_000, notes }));
  });
});
