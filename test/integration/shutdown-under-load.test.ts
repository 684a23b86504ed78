/**
 * Issue #5: shutdown under load, with batches in flight. Past half the shutdown allowance the
 * worker hands back what it has not sent; requests on the wire finish. Afterwards no job is left
 * active or locked, and a new worker delivers everything exactly once.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { startService } from '../../src/runtime/service.ts';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { CONNECTION, startHarness } from '../support/harness.ts';
import { REDIS_URL } from '../support/redis.ts';
import { waitUntil } from '../support/wait.ts';

describe('shutdown under load', () => {
  it('leaves nothing active or locked, loses nothing, and the next worker delivers each event once', async () => {
    // A tight quota (one bulk call a second) keeps most of the work waiting in batchers.
    const file = parseRelayConfig({ limits: { endpoints: { bulk_create_events: { burst: 1, steady: 60 }, create_event: { burst: 1, steady: 60 } } } }, {});
    const h = await startHarness({ name: 'stopload', file, env: { RELAY_SHUTDOWN_TIMEOUT_MS: '2000', RELAY_BATCH_LINGER_MS: '50' } });
    const redis = new Redis(REDIS_URL);
    try {
      // And a slow Klaviyo: a request is on the wire when the stop comes.
      h.sim.faults.add({ match: { endpoint: 'bulk_create_events' }, latencyMs: 700 });
      const tag = `stop-${Math.random().toString(36).slice(2, 8)}`;
      const ids: string[] = [];
      for (let r = 0; r < 30; r++) {
        const events = Array.from({ length: 100 }, (_, i) => ({
          id: `${tag}-${r}-${i}`,
          event: 'Placed Order',
          profile: { email: `${tag}-${r}-${i}@example.com` },
        }));
        ids.push(...events.map((e) => e.id));
        expect((await h.post('/v1/events', { events })).status).toBe(202);
      }
      const q = h.queue('events');
      await waitUntil(
        'a job active and a bulk call made',
        async () => (await q.getJobCounts('active')).active! > 0 && h.sim.requests({ endpoint: 'bulk_create_events' }).length > 0,
        { timeoutMs: 10_000 },
      );

      const t0 = Date.now();
      await h.service.workers!.close(2000);
      expect(Date.now() - t0).toBeLessThan(4000);
      const counts = await q.getJobCounts('active', 'waiting', 'delayed', 'completed', 'failed');
      expect(counts.active).toBe(0);
      expect(counts.failed).toBe(0);
      expect(await redis.keys(`${h.prefix}:{events.default}:events.default:*:lock`)).toEqual([]);
      const delivered = h.sim.account(CONNECTION)!.eventCount;
      expect(delivered).toBeLessThan(ids.length);

      // A fresh worker on the same queues finishes the job.
      h.sim.faults.clear();
      const next = await startService({ config: h.config, log: createLogger('silent'), api: false, workers: true, file });
      try {
        await waitUntil('every event delivered', () => h.sim.account(CONNECTION)!.eventCount === ids.length, { timeoutMs: 30_000, intervalMs: 100 });
        expect(h.sim.account(CONNECTION)!.eventCount).toBe(ids.length);
        expect(new Set(h.sim.eventsFor(CONNECTION).map((e) => e.uniqueId)).size).toBe(ids.length);
      } finally {
        await next.close();
      }
    } finally {
      redis.disconnect();
      await h.close();
    }
  }, 60_000);
});
