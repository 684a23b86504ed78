/**
 * Issue 12: within a class, profile operations are cut from their sources by weight, as events are
 * (workers/fair-buffer.ts): one source's backlog of unsubscribes does not fill every request while
 * another source's wait. Seen on the wire: each profile-subscription-bulk-delete-jobs request
 * (≤100 profiles) carries the two sources' profiles 3:1, their weights.
 */
import { afterEach, expect, it } from 'vitest';
import { createKlaviyoClient } from '../../src/klaviyo/client.ts';
import { laneFor } from '../../src/lanes.ts';
import { createLogger } from '../../src/log.ts';
import type { ProfileItem } from '../../src/job-data.ts';
import { startSimulator } from '../../src/sim/index.ts';
import { createIdCache } from '../../workers/profiles/id-cache.ts';
import { createProfileDispatcher, IDLE_BATCHER_MS } from '../../workers/profiles/dispatcher.ts';
import { createQuotaGovernor, DEFAULT_LIMITS } from '../../workers/quota-governor.ts';
import { CONNECTION, MATON_KEY } from '../support/harness.ts';
import { deleteKeys, testRedis, uniquePrefix } from '../support/redis.ts';

const cleanups: (() => Promise<unknown> | undefined)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

it('a profile dispatcher shares each request among the sources with items waiting, by weight', async () => {
  const sim = await startSimulator({ port: 0, gatewayKeys: [MATON_KEY] });
  cleanups.push(() => sim.close());
  const prefix = uniquePrefix('profile-fair');
  const redis = testRedis();
  cleanups.push(async () => {
    redis.disconnect();
    await deleteKeys(`${prefix}:*`);
  });
  const lane = laneFor('default', { mode: 'gateway', baseUrl: sim.url, apiKey: MATON_KEY, connectionId: CONNECTION, revision: '2026-01-15', timeoutMs: 5000 });
  const deps = {
    client: createKlaviyoClient(lane.target),
    governor: createQuotaGovernor(redis, prefix, DEFAULT_LIMITS),
    scope: lane.scope,
    log: createLogger('silent'),
    cls: 'bulk' as const,
  };
  const weights: Record<string, number> = { 'src-a': 3, 'src-b': 1 };
  const dispatcher = createProfileDispatcher(deps, createIdCache(redis, prefix), 'default', 5, IDLE_BATCHER_MS, (s) => weights[s] ?? 1);

  const tag = Math.random().toString(36).slice(2, 8);
  const unsubscribe = (src: string, i: number): ProfileItem => ({
    key: `${tag}-${src}-${i}`,
    id: `${tag}-${src}-${i}`,
    operation: { op: 'unsubscribe', listId: 'FairL1', member: { email: `${tag}-${src}-${i}@example.com` }, channels: ['email'] },
  });
  // Source a's 300 arrive first, then b's 300: first come, first served would send a's alone for three requests.
  const outcomes = await Promise.all(['src-a', 'src-b'].flatMap((src) => Array.from({ length: 300 }, (_, i) => dispatcher.submit(unsubscribe(src, i), src))));
  expect(outcomes.every((o) => o.kind === 'delivered')).toBe(true);

  const calls = sim.sim.requests({ endpoint: 'bulk_unsubscribe_profiles' }).filter((r) => r.status === 202);
  expect(calls.length).toBeGreaterThanOrEqual(6);
  const perSource = (body: unknown, src: string) => (JSON.stringify(body).match(new RegExp(`${tag}-${src}-\\d+@`, 'g')) ?? []).length;
  // While both have items waiting (the first three requests: a has 300, b 300), 75 and 25.
  for (const call of calls.slice(0, 3)) {
    expect(perSource(call.body, 'src-a')).toBe(75);
    expect(perSource(call.body, 'src-b')).toBe(25);
  }
}, 30_000);
