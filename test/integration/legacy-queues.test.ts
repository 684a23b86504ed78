/**
 * Issue 12 moved work from one queue per kind and lane (`events.default`) to one per class and
 * source. Work an older version queued must still drain and still count: its jobs in the legacy
 * queue are delivered, its ingest keys (a bare job id) still make a resend a duplicate, and its
 * per-profile order entries (`<jobId>|<item>|<ms>`) still hold later operations back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { eventKey, jobIdForItems } from '../../src/item-keys.ts';
import { profileOf } from '../../src/model/profile-operation.ts';
import { createProfileOrder, pendingKey, profileOrderKey } from '../../src/profile-order.ts';
import { legacyRef } from '../../src/queue-catalog.ts';
import { itemKeyName } from '../../src/redis-keys.ts';
import type { StoredProfileItem } from '../../src/job-data.ts';
import { startService, type Service } from '../../src/runtime/service.ts';
import { CONNECTION, RELAY_SOURCE, startHarness, type Harness } from '../support/harness.ts';
import { testRedis } from '../support/redis.ts';
import { waitUntil } from '../support/wait.ts';

let h: Harness;
let workers: Service | undefined;
const redis = testRedis();
beforeAll(async () => {
  h = await startHarness({ name: 'legacy', workers: false });
  await waitUntil('the API to be ready', async () => (await fetch(`${h.service.url}/readyz`)).status === 200);
});
afterAll(async () => {
  await workers?.close();
  await h?.close();
  redis.disconnect();
});

describe('work queued before classes existed', () => {
  it('is delivered from the legacy queue, and its ingest key still makes a resend a duplicate', async () => {
    const id = `old-${Math.random().toString(36).slice(2, 8)}`;
    const email = `${id}@example.com`;
    const k = eventKey(RELAY_SOURCE, id);
    const jobId = jobIdForItems('events', [k]);
    // As the older version stored it: the job in `events.default`, the item key naming it by id alone.
    await h.service.queues
      .get(legacyRef('events', 'default'))
      .add(
        'events',
        { v: 1, src: RELAY_SOURCE, lane: 'default', at: Date.now(), items: [{ k, id, e: { event: 'Placed Order', profile: { email } } }] },
        { jobId },
      );
    await redis.set(itemKeyName(h.prefix, 'events', 'default', k), jobId, 'PX', 60_000);

    const resend = await h.post('/v1/events', { id, event: 'Placed Order', profile: { email } });
    expect(resend.body).toMatchObject({ accepted: 1, duplicates: 1 });
    expect(await h.queue('events').count()).toBe(0);

    workers = await startService({ config: h.config, log: createLogger('silent'), api: false, workers: true });
    await waitUntil("the legacy job's event delivered", () => h.sim.eventsFor(CONNECTION, { email }).length === 1, { timeoutMs: 15_000 });
    await waitUntil('the item key marked done', async () => (await redis.get(itemKeyName(h.prefix, 'events', 'default', k))) === 'done', {
      timeoutMs: 5000,
    });
  }, 30_000);

  it('a per-profile order entry of the old form holds a later operation back until its job is done', async () => {
    const order = createProfileOrder(redis as never, h.service.queues);
    const member = { email: `order-${Math.random().toString(36).slice(2, 8)}@example.com` };
    const pk = profileOrderKey('default', profileOf({ op: 'upsert', profile: member }));
    const legacyJob = `profiles-legacy-${Math.random().toString(36).slice(2, 8)}`;
    const q = h.service.queues.get(legacyRef('profiles', 'default'));
    // A job that stays put: the legacy queue is paused, so the workers leave it waiting.
    await q.pause();
    try {
      const old: StoredProfileItem = { k: 'old-k', id: 'old', pk, seq: 1, m: `${legacyJob}|old-k|${Date.now()}`, o: { op: 'upsert', profile: member } };
      await q.add('profiles', { v: 1, src: RELAY_SOURCE, lane: 'default', at: Date.now(), items: [old] }, { jobId: legacyJob });
      await redis.zadd(pendingKey(h.service.queues, 'default', pk), 1, old.m!);

      const later: StoredProfileItem = {
        k: 'new-k',
        id: 'new',
        pk,
        seq: 2,
        m: `profiles.default.live.${RELAY_SOURCE}/profiles-new|new-k|${Date.now()}`,
        o: { op: 'upsert', profile: member },
      };
      await redis.zadd(pendingKey(h.service.queues, 'default', pk), 2, later.m!);
      expect(await order.firsts('default', [later])).toEqual([false]);
      expect(await order.firsts('default', [old])).toEqual([true]);

      // Done (completed or failed for good, here removed after completing): the later one may go.
      await (await q.getJob(legacyJob))!.remove();
      await order.release('default', [old]);
      expect(await order.firsts('default', [later])).toEqual([true]);
    } finally {
      await q.resume();
    }
  });
});
