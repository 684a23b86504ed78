/**
 * src/profile-order.ts, through its exported calls on real Redis and real BullMQ jobs: the key of
 * a profile, numbering at ingest, "first for its profile", release, and the entries that must not
 * block forever (a finished job, a job never added, a member it cannot read). Promotion between
 * classes: test/integration/profile-promotion-claims.test.ts.
 */
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProfileOrder, enterPending, ORPHAN_GRACE_MS, pendingKey, profileOrderKey, type ProfileOrder } from '../../src/profile-order.ts';
import { jobRef } from '../../src/item-keys.ts';
import type { StoredProfileItem as ProfileItem } from '../../src/job-data.ts';
import { legacyRef, queueName, queueRef, type QueueRef } from '../../src/queue-catalog.ts';
import { Queues } from '../../src/queues.ts';
import { deleteKeys, testRedis, uniquePrefix } from '../support/redis.ts';

let redis: Redis;
let prefix: string;
let queues: Queues;
let order: ProfileOrder;
beforeAll(() => {
  redis = testRedis();
  prefix = uniquePrefix('porder');
  queues = new Queues(redis, prefix, { attempts: 1, keepCompletedS: 3600 });
  order = createProfileOrder(redis as never, queues);
});
afterAll(async () => {
  await queues?.close();
  redis?.disconnect();
  await deleteKeys(`${prefix}:*`);
});

let n = 0;
const uniq = (p: string) => `${p}-${++n}-${Math.random().toString(36).slice(2, 6)}`;
/** A profile operation as ingest makes it, before it has its place in the order. */
const op = (lane: string, email: string, k = uniq('k')): ProfileItem => ({
  k,
  id: k,
  pk: profileOrderKey(lane, { email }),
  seq: 0,
  o: { op: 'upsert', profile: { email } },
});
const members = (lane: string, pk: string) => redis.zrange(pendingKey(queues, lane, pk), '0', '-1', 'WITHSCORES');

/** Ingest's two steps for one job of `items` in `ref`: enter the order, add the job. */
async function queued(ref: QueueRef, items: ProfileItem[], opts: { add?: boolean } = {}): Promise<Job | undefined> {
  const jobId = uniq('job');
  await enterPending(redis as never, queues, ref, [{ jobId, items }]);
  if (opts.add === false) return undefined; // a crash between the two steps
  return queues.get(ref).add('profiles', { v: 1, src: ref.source ?? 'legacy', lane: ref.lane, at: Date.now(), items }, { jobId });
}

/** Finishes a job as a worker does: taken (active, locked), then completed or failed. */
async function finish(ref: QueueRef, job: Job, how: 'completed' | 'failed'): Promise<void> {
  const w = new Worker(queueName(ref), null, { connection: redis.duplicate() as never, prefix: queues.bullPrefix(ref.kind, ref.lane) });
  try {
    const taken = await w.getNextJob('tok', { block: false });
    expect(taken?.id).toBe(job.id);
    if (how === 'completed') await taken!.moveToCompleted('ok', 'tok', false);
    else await taken!.moveToFailed(new Error('rejected for good'), 'tok', false);
    expect(await queues.get(ref).getJobState(job.id!)).toBe(how);
  } finally {
    await w.close();
  }
}

describe('profileOrderKey', () => {
  it("one key per lane and profile, by the profile's primary identifier", () => {
    const k = profileOrderKey('default', { email: 'Ada@Example.com' });
    expect(k).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(profileOrderKey('default', { email: ' ada@example.com ' })).toBe(k);
    // The email comes first whatever else names the profile: the same profile, the same order.
    expect(profileOrderKey('default', { email: 'ada@example.com', phone_number: '+15005550006', external_id: 'x1' })).toBe(k);
    expect(profileOrderKey('default', { phone_number: '+15005550006' })).not.toBe(k);
    expect(profileOrderKey('default', { phone_number: '+15005550006', external_id: 'x1' })).toBe(profileOrderKey('default', { phone_number: '+15005550006' }));
    expect(profileOrderKey('eu', { email: 'ada@example.com' })).not.toBe(k);
  });

  it('is the same from one version to the next: items already queued carry it', () => {
    expect(profileOrderKey('default', { email: 'ada@example.com' })).toBe('Nr0Belme1hqzInAs');
  });

  it('refuses an operation with no identifier', () => {
    expect(() => profileOrderKey('default', {})).toThrow(new TypeError('a profile operation needs an identifier'));
    expect(() => profileOrderKey('default', { email: '' })).toThrow(new TypeError('a profile operation needs an identifier'));
  });
});

describe('entering the order at ingest', () => {
  it("numbers items in arrival order across a request's jobs, from one counter per lane, and enters each in its profile's set", async () => {
    const lane = uniq('lane');
    const ref = queueRef('profiles', lane, 'live', 'src-a');
    const [a1, b1, a2] = [op(lane, 'a@example.com'), op(lane, 'b@example.com'), op(lane, 'a@example.com')];
    const before = Date.now();
    await enterPending(redis as never, queues, ref, [
      { jobId: 'j1', items: [a1, b1] },
      { jobId: 'j2', items: [a2] },
    ]);
    expect([a1.seq, b1.seq, a2.seq]).toEqual([1, 2, 3]);
    expect(a1.m).toMatch(new RegExp(`^${jobRef(ref, 'j1')}\\|${a1.k}\\|\\d+$`));
    expect(Number(a1.m!.split('|')[2])).toBeGreaterThanOrEqual(before);
    expect(a2.m!.startsWith(`${jobRef(ref, 'j2')}|`)).toBe(true);
    expect(await members(lane, a1.pk)).toEqual([a1.m, '1', a2.m, '3']);
    expect(await members(lane, b1.pk)).toEqual([b1.m, '2']);

    // The counter is the lane's, across classes and sources: a bulk job of another source goes on from it.
    const b2 = op(lane, 'b@example.com');
    await enterPending(redis as never, queues, queueRef('profiles', lane, 'bulk', 'src-b'), [{ jobId: 'j3', items: [b2] }]);
    expect(b2.seq).toBe(4);
    const other = op('other-lane', 'b@example.com');
    await enterPending(redis as never, queues, queueRef('profiles', uniq('other'), 'live', 'src-a'), [{ jobId: 'j4', items: [other] }]);
    expect(other.seq).toBe(1);
  });

  it('gives concurrent requests distinct numbers; an empty request takes none', async () => {
    const lane = uniq('lane');
    const ref = queueRef('profiles', lane, 'live', 'src-a');
    await enterPending(redis as never, queues, ref, [{ jobId: 'empty', items: [] }]);
    const batches = Array.from({ length: 10 }, (_, i) => [op(lane, `p${i}@example.com`), op(lane, `q${i}@example.com`)]);
    await Promise.all(batches.map((items, i) => enterPending(redis as never, queues, ref, [{ jobId: `j${i}`, items }])));
    expect(
      batches
        .flat()
        .map((it) => it.seq)
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    // Within one request, in its own order.
    for (const [x, y] of batches) expect(y!.seq).toBe(x!.seq + 1);
  });

  it('keeps every key of a lane in the hash slot of its queues (one Redis Cluster slot for the Lua)', () => {
    const lane = 'eu';
    const tag = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];
    expect(tag(pendingKey(queues, lane, 'pk'))).toBe(tag(queues.jobKeyPrefix(queueRef('profiles', lane, 'bulk', 'src-a'))));
    expect(tag(pendingKey(queues, lane, 'pk'))).toBe(tag(order.jobKey(legacyRef('profiles', lane), 'j')));
  });
});

describe('first for its profile', () => {
  it('only the earliest pending operation of a profile may go; other profiles never wait for it; release lets the next go', async () => {
    const lane = uniq('lane');
    const ref = queueRef('profiles', lane, 'live', 'src-a');
    const [a1, a2, a3, b1] = [op(lane, 'a@example.com'), op(lane, 'a@example.com'), op(lane, 'a@example.com'), op(lane, 'b@example.com')];
    await queued(ref, [a1]);
    await queued(ref, [a2, b1]);
    await queued(ref, [a3]);
    expect(await order.firsts(lane, [a3, a2, b1, a1])).toEqual([false, false, true, true]);

    await order.release(lane, [a1]);
    expect(await order.firsts(lane, [a2, a3])).toEqual([true, false]);
    await order.release(lane, [a2, b1]);
    expect(await order.firsts(lane, [a3])).toEqual([true]);
    expect(await members(lane, a3.pk)).toEqual([a3.m, String(a3.seq)]);
  });

  it('an item replayed without an order entry waits for nothing; no items, no answers', async () => {
    const lane = uniq('lane');
    const ref = queueRef('profiles', lane, 'live', 'src-a');
    const earlier = op(lane, 'a@example.com');
    await queued(ref, [earlier]);
    const replayed = op(lane, 'a@example.com'); // no `m`: never entered
    expect(await order.firsts(lane, [replayed])).toEqual([true]);
    await order.release(lane, [replayed]);
    expect(await order.firsts(lane, [earlier])).toEqual([true]);
    expect(await order.firsts(lane, [])).toEqual([]);
    expect(await order.turns(lane, [], 'live', 'x')).toEqual([]);
  });

  it('asking claims nothing: an earlier bulk item stays where it is, unclaimed', async () => {
    const lane = uniq('lane');
    const bulk = queueRef('profiles', lane, 'bulk', 'src-a');
    const [early, late] = [op(lane, 'a@example.com'), op(lane, 'a@example.com')];
    const job = await queued(bulk, [early]);
    await queued(queueRef('profiles', lane, 'live', 'src-a'), [late]);
    expect(await order.firsts(lane, [late])).toEqual([false]);
    const fields = await redis.hkeys(order.jobKey(bulk, job!.id!));
    expect(fields.filter((f) => f.startsWith('relay:promoted:'))).toEqual([]);
    expect(await members(lane, late.pk)).toEqual([early.m, String(early.seq), late.m, String(late.seq)]);
  });
});

describe('entries that must not block forever', () => {
  it('a job that finished (completed, or failed for good) without releasing its item: dropped by the first that finds it in the way', async () => {
    for (const how of ['completed', 'failed'] as const) {
      const lane = uniq('lane');
      const ref = queueRef('profiles', lane, 'live', uniq('src'));
      const [stuck, next] = [op(lane, 'a@example.com'), op(lane, 'a@example.com')];
      const job = await queued(ref, [stuck]);
      await queued(ref, [next]);
      expect(await order.firsts(lane, [next])).toEqual([false]); // its job is still waiting
      await finish(ref, job!, how);
      expect(await order.firsts(lane, [next])).toEqual([true]);
      expect(await members(lane, next.pk)).toEqual([next.m, String(next.seq)]);
    }
  });

  it('a job never added (a crash between numbering and adding it): waited for during the grace period, dropped after it', async () => {
    const lane = uniq('lane');
    const ref = queueRef('profiles', lane, 'live', 'src-a');
    const [lost, next] = [op(lane, 'a@example.com'), op(lane, 'a@example.com')];
    await queued(ref, [lost], { add: false });
    await queued(ref, [next]);
    // Just entered: its job may still be on its way.
    expect(await order.firsts(lane, [next])).toEqual([false]);
    // The same entry, as if written longer ago than the grace period.
    const key = pendingKey(queues, lane, lost.pk);
    const old = `${lost.m!.slice(0, lost.m!.lastIndexOf('|'))}|${Date.now() - ORPHAN_GRACE_MS - 1000}`;
    await redis.multi().zrem(key, lost.m!).zadd(key, lost.seq, old).exec();
    expect(await order.firsts(lane, [next])).toEqual([true]);
    expect(await members(lane, next.pk)).toEqual([next.m, String(next.seq)]);
  });

  it('a member it cannot read is dropped', async () => {
    const lane = uniq('lane');
    const next = op(lane, 'a@example.com');
    await queued(queueRef('profiles', lane, 'live', 'src-a'), [next]);
    await redis.zadd(pendingKey(queues, lane, next.pk), 0, 'not a member');
    expect(await order.firsts(lane, [next])).toEqual([true]);
    expect(await members(lane, next.pk)).toEqual([next.m, String(next.seq)]);
  });

  it('members written before queues were split by class (`<jobId>|<item key>|<ms>`) name a job of the legacy queue', async () => {
    const lane = uniq('lane');
    const legacy = legacyRef('profiles', lane);
    const next = op(lane, 'a@example.com');
    await queued(queueRef('profiles', lane, 'live', 'src-a'), [next]);
    const oldItem = { ...op(lane, 'a@example.com'), seq: 0 };
    const oldJob = await queues.get(legacy).add('profiles', { v: 1, src: 'key-old', lane, at: Date.now(), items: [oldItem] }, { jobId: 'old-1' });
    // Written when it came, long ago: only its job's state can tell whether it still holds the profile.
    await redis.zadd(pendingKey(queues, lane, next.pk), 0, `old-1|${oldItem.k}|${Date.now() - 10 * ORPHAN_GRACE_MS}`);
    expect(await order.firsts(lane, [next])).toEqual([false]);
    await finish(legacy, oldJob, 'completed');
    expect(await order.firsts(lane, [next])).toEqual([true]);
  });
});
