/**
 * (b) The private redis-server is restarted under load: SIGTERM (it fsyncs its AOF and exits)
 * while requests are flowing, then started again on the same port and directory. The API
 * answers 503 while Redis is away (those requests are re-posted afterwards, same ids); what Redis
 * had acknowledged survives in the AOF; workers reconnect.
 */
import { afterEach, describe, it } from 'vitest';
import { drainAndCompare, Loader, planLoad, Scenario, sleep, verdictHolds } from './harness.ts';

let sc: Scenario | undefined;
afterEach(async () => {
  await sc?.cleanup();
  sc = undefined;
});

describe('fault (b): restart Redis under load', () => {
  it('delivers exactly the accepted events, each once in effect', async () => {
    sc = await Scenario.start('b-redis-restart');
    const s = sc;
    const notes: string[] = [];
    const loader = new Loader(() => s.apiUrl, planLoad('b', 3000, 12));
    const load = loader.run({ concurrency: 8, durationMs: 10_000 });

    await sleep(3000);
    const down = Date.now();
    await s.stopRedis();
    notes.push(`redis-server stopped (SIGTERM) at ${s.elapsed()} s`);
    await sleep(2000);
    await s.startRedis();
    const up = Date.now();
    notes.push(`restarted at ${s.elapsed()} s`);
    await load;
    const window = { from: down, to: up };
    notes.push(
      `while Redis was away: ${loader.eventsAnswered((st) => st >= 200 && st < 300, window)} events 2xx, ${loader.eventsAnswered((st) => st === 503, window)} 503, ${loader.eventsAnswered((st) => st === 0, window)} transport errors`,
    );

    await loader.retryFailed();
    verdictHolds(await drainAndCompare(s, loader, { since: Date.now(), timeoutMs: 90_000, notes }));
  });
});
