/** Graceful stop: an active job (slow Klaviyo) is finished before close() resolves; nothing is left active. */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startHarness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';
import { CONNECTION } from '../support/harness.ts';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { startSimulator } from '../../src/sim/index.ts';
import { createKlaviyoClient } from '../../src/klaviyo/client.ts';
import { createLogger } from '../../src/log.ts';
import type { EventItem } from '../../src/job-data.ts';
import { Batcher } from '../../workers/batcher.ts';
import { eventSender } from '../../workers/events/sender.ts';
import { createQuotaGovernor, DEFAULT_LIMITS } from '../../workers/quota-governor.ts';
import type { ItemOutcome } from '../../workers/retry-policy.ts';

describe('graceful shutdown', () => {
  it('finishes in-flight work before closing, and refuses new connections after', async () => {
    const h = await startHarness({ name: 'shutdown' });
    try {
      h.sim.faults.add({ match: { endpoint: 'create_event' }, latencyMs: 1200 });
      const email = 'slow@example.com';
      expect((await h.post('/v1/events', { id: 'slow-1', event: 'Placed Order', profile: { email } })).status).toBe(202);
      const q = h.queue('events');
      await waitUntil('one active job', async () => (await q.getJobCounts('active')).active === 1, { timeoutMs: 5000 });
      const url = h.service.url!;
      const t0 = Date.now();
      await h.service.close();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
      expect(h.sim.eventsFor(CONNECTION, { email })).toHaveLength(1);
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    } finally {
      await h.close();
    }
  });

  // Defect (issue 12): past RELAY_SHUTDOWN_TIMEOUT_MS the workers were "forced" with BullMQ's
  // close(true), which returns the close already under way — it kept waiting for the request on
  // the wire (here 15 s), whatever the timeout said.
  it('stops waiting at RELAY_SHUTDOWN_TIMEOUT_MS when a request is still on the wire', async () => {
    const h = await startHarness({ name: 'shutdown-timeout', env: { RELAY_SHUTDOWN_TIMEOUT_MS: '2000', KLAVIYO_TIMEOUT_MS: '30000' } });
    try {
      h.sim.faults.add({ match: { endpoint: 'create_event' }, latencyMs: 15_000 });
      expect((await h.post('/v1/events', { id: 'stuck-1', event: 'Placed Order', profile: { email: 'stuck@example.com' } })).status).toBe(202);
      await waitUntil('the request on the wire', () => h.sim.requests({ endpoint: 'create_event' }).length === 1 || h.sim.stats().faulted > 0, {
        timeoutMs: 5000,
      });
      const t0 = Date.now();
      await h.service.close();
      expect(Date.now() - t0).toBeLessThan(4000);
    } finally {
      await h.close();
    }
  }, 30_000);
});

// Defect (issue 12): a batch waiting for its quota token when the workers yield kept waiting — for
// a bulk endpoint whose minute window is spent, up to a minute — so a shutdown hung with those
// jobs active instead of handing them back untouched.
describe('a yield at shutdown', () => {
  const prefix = uniquePrefix('yield-token');
  const redis = new Redis(REDIS_URL);
  afterAll(async () => {
    redis.disconnect();
    await deleteKeys(`${prefix}:*`);
  });

  it('hands back the items of a request still waiting for its quota token', async () => {
    const sim = await startSimulator({ port: 0 });
    try {
      const governor = createQuotaGovernor(redis, prefix, { ...DEFAULT_LIMITS, endpoints: { bulk_create_events: { burst: 1, steady: 1 } } });
      const scope = { keyId: 'yield-test', klaviyoAccount: 'acct', viaGateway: true };
      await governor.take(scope, 'bulk_create_events'); // the minute's one call is spent
      const sender = eventSender({
        client: createKlaviyoClient({ mode: 'gateway', baseUrl: sim.url, apiKey: 'k', connectionId: 'acct', revision: '2026-01-15', timeoutMs: 2000 }),
        governor,
        scope,
        log: createLogger('silent'),
        cls: 'bulk',
      });
      const b = new Batcher<EventItem, ItemOutcome, 'create_event' | 'bulk_create_events'>({
        ...sender,
        // Granted at once, as when two batchers saw the last token free: the send waits in take().
        acquire: async () => ({ maxItems: 1000, tag: 'bulk_create_events' }),
        lingerMs: 0,
        maxInFlight: 1,
      });
      const items = [1, 2, 3].map((i): EventItem => ({ key: `k${i}`, id: `e${i}`, event: { event: 'Placed Order', profile: { email: `y${i}@example.com` } } }));
      const outcomes = Promise.all(items.map((it) => b.submit(it)));
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      b.yieldAll({ kind: 'yield' });
      const settled = await Promise.race([outcomes, new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), 3000))]);
      expect(settled).toEqual(items.map(() => ({ kind: 'yield' })));
      expect(Date.now() - t0).toBeLessThan(1000);
      await b.drain();
      expect(sim.sim.requests({ endpoint: 'bulk_create_events' })).toHaveLength(0);
    } finally {
      await sim.close();
    }
  }, 20_000);
});
