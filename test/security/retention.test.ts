/**
 * Issue 11, defect 8 (a, b): nothing kept per job or per caller-chosen key grows without bound.
 * (a) Dead letters (failed jobs) were kept forever: now RELAY_KEEP_FAILED_S and
 *     RELAY_KEEP_FAILED_COUNT bound them per queue.
 * (b) The profile dispatcher kept one batcher per list id and consent source ever seen: idle ones
 *     are now dropped.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createKlaviyoClient } from '../../src/klaviyo/client.ts';
import { laneFor } from '../../src/lanes.ts';
import { createLogger } from '../../src/log.ts';
import type { ProfileItem } from '../../src/job-data.ts';
import { startSimulator } from '../../src/sim/index.ts';
import { createIdCache } from '../../workers/profiles/id-cache.ts';
import { createProfileDispatcher } from '../../workers/profiles/dispatcher.ts';
import { createQuotaGovernor, DEFAULT_LIMITS } from '../../workers/quota-governor.ts';
import { CONNECTION, MATON_KEY, startHarness } from '../support/harness.ts';
import { deleteKeys, testRedis, uniquePrefix } from '../support/redis.ts';
import { waitUntil } from '../support/wait.ts';

const cleanups: (() => Promise<unknown> | undefined)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('dead letters', () => {
  it('are kept RELAY_KEEP_FAILED_S seconds and at most RELAY_KEEP_FAILED_COUNT per queue', async () => {
    const h = await startHarness({ name: 'keep-failed', env: { RELAY_KEEP_FAILED_COUNT: '3', RELAY_KEEP_FAILED_S: '2' } });
    cleanups.push(() => h.close());
    // Klaviyo answers 404 to every event: each job becomes a dead letter on its first attempt.
    h.sim.faults.add({ match: { endpoint: 'create_event' }, status: 404 });
    const queue = h.queue('events');
    const failed = () => queue.getJobCountByTypes('failed');
    // A dead letter's items have moved from `items` to `dead`.
    const idsOf = (j: { data: { items: { id: string }[]; dead?: { item: { id: string } }[] } }) => [
      ...j.data.items.map((it) => it.id),
      ...(j.data.dead ?? []).map((d) => d.item.id),
    ];
    const tag = `kf-${Math.random().toString(36).slice(2, 8)}`;
    const fail = async (i: number) => {
      const before = (await queue.getJobs(['failed'])).map((j) => j.id);
      expect((await h.post('/v1/events', { id: `${tag}-${i}`, event: 'Placed Order', profile: { email: `${tag}-${i}@example.com` } })).status).toBe(202);
      // Done when this event's job is among the failed ones.
      await waitUntil(
        'the failed job holding the event',
        async () => (await queue.getJobs(['failed'])).some((j) => !before.includes(j.id) && idsOf(j).includes(`${tag}-${i}`)),
        { timeoutMs: 15_000 },
      );
    };

    for (let i = 0; i < 5; i++) await fail(i);
    expect(await failed()).toBe(3); // the count bound: the two oldest are gone
    const kept = (await queue.getJobs(['failed'])).flatMap(idsOf).sort();
    expect(kept).toEqual([`${tag}-2`, `${tag}-3`, `${tag}-4`]);

    await new Promise((r) => setTimeout(r, 2500));
    await fail(5);
    // The age bound: the three older than 2 s went when the next job failed.
    expect((await queue.getJobs(['failed'])).flatMap(idsOf)).toEqual([`${tag}-5`]);
  }, 60_000);
});

describe('profile dispatcher', () => {
  it('drops idle batchers: after many distinct list ids the map shrinks back', async () => {
    // Rate limits are not what this test is about: off in the simulator, raised in the governor.
    const sim = await startSimulator({ port: 0, gatewayKeys: [MATON_KEY], enforceLimits: false });
    cleanups.push(() => sim.close());
    const prefix = uniquePrefix('batchers');
    const redis = testRedis();
    cleanups.push(async () => {
      redis.disconnect();
      await deleteKeys(`${prefix}:*`);
    });
    const lane = laneFor('default', {
      mode: 'gateway',
      baseUrl: sim.url,
      apiKey: MATON_KEY,
      connectionId: CONNECTION,
      revision: '2026-01-15',
      timeoutMs: 5000,
    });
    const deps = {
      client: createKlaviyoClient(lane.target),
      governor: createQuotaGovernor(redis, prefix, {
        ...DEFAULT_LIMITS,
        gatewayPerSecond: 10_000,
        endpoints: Object.fromEntries(
          ['create_or_update_profile', 'add_profiles_to_list', 'bulk_subscribe_profiles'].map((e) => [e, { burst: 10_000, steady: 100_000 }]),
        ),
      }),
      scope: lane.scope,
      log: createLogger('silent'),
    };
    const idleMs = 5000;
    const dispatcher = createProfileDispatcher(deps, createIdCache(redis, prefix), 'default', 5, idleMs);
    const tag = Math.random().toString(36).slice(2, 8);
    const add = (listId: string, i: number): ProfileItem => ({
      key: `${tag}-${listId}-${i}`,
      id: `${tag}-${i}`,
      operation: { op: 'list-add', listId, member: { email: `${tag}-${i}@example.com` } },
    });

    // 40 lists, one member each, and 10 consent sources: 50 targets, each its own batcher.
    const lists = Array.from({ length: 40 }, (_, i) => `L${tag}${i}`);
    const outcomes = await Promise.all([
      ...lists.map((l, i) => dispatcher.submit(add(l, i))),
      ...Array.from({ length: 10 }, (_, i) =>
        dispatcher.submit({
          key: `${tag}-sub-${i}`,
          id: `${tag}-sub-${i}`,
          operation: { op: 'subscribe', listId: lists[0]!, member: { email: `${tag}-s${i}@example.com` }, channels: ['email'], source: `Source ${i}` },
        }),
      ),
    ]);
    expect(outcomes.every((o) => o.kind === 'delivered')).toBe(true);
    expect(lists.every((l, i) => sim.sim.profileByEmail(CONNECTION, `${tag}-${i}@example.com`)?.lists.has(l))).toBe(true);
    expect(dispatcher.batcherCount()).toBe(50);

    // Idle for longer than idleMs: the next use drops them all but its own.
    await new Promise((r) => setTimeout(r, idleMs + 100));
    expect(await dispatcher.submit(add(lists[0]!, 99))).toMatchObject({ kind: 'delivered' });
    expect(dispatcher.batcherCount()).toBe(1);
  }, 30_000);
});
