/**
 * Issue 12, per-profile order across classes: the claim is the single arbiter between a live
 * worker that promotes an earlier bulk operation and the bulk job that carries it
 * (src/profile-order.ts, "Promotion"). Each race is played out step by step on real BullMQ jobs —
 * queued through the API, taken and put back by hand with BullMQ's manual processing — and
 * checked through the order's own calls, as the workers make them.
 */
import { Worker, type Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProfileOrder, pendingKey, type Claim, type ProfileOrder, type Turn } from '../../src/profile-order.ts';
import { queueRef } from '../../src/queue-catalog.ts';
import type { ProfilesJobData, StoredProfileItem } from '../../src/job-data.ts';
import { RELAY_SOURCE, startHarness, type Harness } from '../support/harness.ts';
import { testRedis } from '../support/redis.ts';
import { waitUntil } from '../support/wait.ts';

const LANE = 'default';
const bulkRef = queueRef('profiles', LANE, 'bulk', RELAY_SOURCE);
const liveRef = queueRef('profiles', LANE, 'live', RELAY_SOURCE);

let h: Harness;
let order: ProfileOrder;
let taker: Worker;
const redis = testRedis();
beforeAll(async () => {
  // No workers: the test plays them.
  h = await startHarness({ name: 'promotion-claims', workers: false });
  order = createProfileOrder(redis as never, h.service.queues);
  taker = new Worker(`profiles.${LANE}.bulk.${RELAY_SOURCE}`, null, { connection: redis as never, prefix: h.service.queues.bullPrefix('profiles', LANE) });
});
afterAll(async () => {
  await taker?.close();
  await h?.close();
  redis.disconnect();
});

const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 8)}`;

interface Scene {
  readonly email: string;
  readonly bulkJob: Job<ProfilesJobData>;
  readonly bulkItem: StoredProfileItem;
  readonly bulkKey: string;
  /** The live items on the same profile, in the order they were sent. */
  readonly live: { readonly item: StoredProfileItem; readonly key: string }[];
}

/** A bulk upsert of one profile, then `lives` live upserts of it, queued through the API. */
async function scene(lives = 1): Promise<Scene> {
  const email = `${uniq('claim')}@example.com`;
  expect((await h.post('/v1/profiles', { email, first_name: 'Bulk' }, { headers: { 'X-Relay-Priority': 'bulk' } })).status).toBe(202);
  for (let i = 0; i < lives; i++) expect((await h.post('/v1/profiles', { id: uniq('live'), email, first_name: `Live${i}` })).status).toBe(202);
  const find = async (ref: typeof bulkRef) =>
    (await h.service.queues.get(ref).getJobs(['waiting'])).filter((j) => JSON.stringify(j.data).includes(email)) as Job<ProfilesJobData>[];
  const [bulkJob] = await find(bulkRef);
  const liveJobs = (await find(liveRef)).sort((a, b) => a.data.items[0]!.seq - b.data.items[0]!.seq);
  expect(liveJobs).toHaveLength(lives);
  return {
    email,
    bulkJob: bulkJob!,
    bulkItem: bulkJob!.data.items[0]!,
    bulkKey: order.jobKey(bulkRef, bulkJob!.id!),
    live: liveJobs.map((j) => ({ item: j.data.items[0]!, key: order.jobKey(liveRef, j.id!) })),
  };
}

const liveTurn = async (s: Scene, i = 0, o = order): Promise<Turn> => (await o.turns(LANE, [s.live[i]!.item], 'live', s.live[i]!.key))[0]!;
const bulkTurn = async (s: Scene, o = order): Promise<Turn> => (await o.turns(LANE, [s.bulkItem], 'bulk', s.bulkKey))[0]!;
const claimOf = (t: Turn): Claim => {
  expect(t.kind).toBe('promote');
  return (t as Extract<Turn, { kind: 'promote' }>).claim;
};
/** The bulk job taken by a worker (active, locked), as BullMQ's own fetch does it. */
async function take(s: Scene, token: string): Promise<Job> {
  const job = await taker.getNextJob(token, { block: false });
  expect(job?.id).toBe(s.bulkJob.id);
  return job!;
}
const pending = async (s: Scene) => redis.zrange(pendingKey(h.service.queues, LANE, s.bulkItem.pk), '0', '-1');

describe('promoting an earlier bulk operation', () => {
  it('waits while the bulk job is active; claims it once the job is back in the queue; the bulk job then holds it, and skips it once it is applied', async () => {
    const s = await scene();
    const first = await take(s, 'tok-1');
    // In flight in a bulk request: the live operation waits for it.
    expect(await liveTurn(s)).toEqual({ kind: 'wait' });

    await first.moveToDelayed(Date.now() + 60_000, 'tok-1');
    const claim = claimOf(await liveTurn(s));
    expect(claim.item).toMatchObject({ k: s.bulkItem.k, o: s.bulkItem.o });

    // The bulk job becomes active while the promotion is under way: it must not apply the item.
    await (await h.service.queues.get(bulkRef).getJob(s.bulkJob.id!))!.promote();
    const again = await take(s, 'tok-2');
    expect(await bulkTurn(s)).toEqual({ kind: 'wait' });
    expect(await liveTurn(s)).toEqual({ kind: 'wait' });

    // Applied through the live path: the bulk job resolves it without applying it; the live one goes.
    expect(await order.finish(claim, { kind: 'delivered' })).toBe(true);
    expect(await pending(s)).not.toContain(s.bulkItem.m);
    expect(await bulkTurn(s)).toEqual({ kind: 'done' });
    expect(await liveTurn(s)).toEqual({ kind: 'first' });
    await again.moveToCompleted('done', 'tok-2', false);
  });

  it('two live operations asking at once: exactly one claims the head, the other waits behind it', async () => {
    const s = await scene(2);
    const turns = await Promise.all(Array.from({ length: 20 }, (_, n) => liveTurn(s, n % 2)));
    const claims = turns.filter((t) => t.kind === 'promote');
    expect(claims).toHaveLength(1);
    expect(turns.filter((t) => t.kind === 'wait')).toHaveLength(19);

    expect(await order.finish(claimOf(claims[0]!), { kind: 'delivered' })).toBe(true);
    expect(await liveTurn(s, 0)).toEqual({ kind: 'first' });
    expect(await liveTurn(s, 1)).toEqual({ kind: 'wait' });
    await s.bulkJob.remove();
  });

  it('a promoter that died: its claim runs out and is taken again; the late promoter then changes nothing', async () => {
    const short = createProfileOrder(redis as never, h.service.queues, { leaseMs: 300 });
    const s = await scene();
    const dead = claimOf(await liveTurn(s, 0, short));
    expect(await liveTurn(s, 0, short)).toEqual({ kind: 'wait' });
    await new Promise((r) => setTimeout(r, 400));
    const second = claimOf(await liveTurn(s, 0, short));
    expect(second.owner).not.toBe(dead.owner);

    expect(await short.finish(dead, { kind: 'delivered' })).toBe(false);
    expect(await short.renew(dead)).toBe(false);
    expect(await pending(s)).toContain(s.bulkItem.m);
    expect(await bulkTurn(s, short)).toEqual({ kind: 'wait' }); // still the second promoter's
    expect(await short.finish(second, { kind: 'delivered' })).toBe(true);
    expect(await bulkTurn(s, short)).toEqual({ kind: 'done' });
    await s.bulkJob.remove();
  });

  it('a promoter that died: once its lease ran out, the bulk job applies the item itself, and the late promoter changes nothing', async () => {
    const short = createProfileOrder(redis as never, h.service.queues, { leaseMs: 300 });
    const s = await scene();
    const dead = claimOf(await liveTurn(s, 0, short));
    const job = await take(s, 'tok-3');
    expect(await bulkTurn(s, short)).toEqual({ kind: 'wait' });
    await new Promise((r) => setTimeout(r, 400));
    expect(await bulkTurn(s, short)).toEqual({ kind: 'first' });
    expect(await short.finish(dead, { kind: 'delivered' })).toBe(false);
    // The bulk job has it now (active): the live operation waits for it, and nobody claims it.
    expect(await liveTurn(s, 0, short)).toEqual({ kind: 'wait' });
    expect(await pending(s)).toContain(s.bulkItem.m);
    await order.release(LANE, [s.bulkItem]);
    expect(await liveTurn(s, 0, short)).toEqual({ kind: 'first' });
    await job.moveToCompleted('done', 'tok-3', false);
  });

  it('a lease renewed while the operation is under way keeps the claim past its first deadline', async () => {
    const short = createProfileOrder(redis as never, h.service.queues, { leaseMs: 300 });
    const s = await scene();
    const claim = claimOf(await liveTurn(s, 0, short));
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 150));
      expect(await short.renew(claim)).toBe(true);
      expect(await liveTurn(s, 0, short)).toEqual({ kind: 'wait' });
    }
    expect(await short.finish(claim, { kind: 'delivered' })).toBe(true);
    expect(await liveTurn(s, 0, short)).toEqual({ kind: 'first' });
    await s.bulkJob.remove();
  });

  it('not applied (Klaviyo unavailable): the claim is given up and the item stays first; rejected: the bulk job gets the error to record, once', async () => {
    const s = await scene();
    const claim = claimOf(await liveTurn(s));
    expect(await order.finish(claim, { kind: 'released' })).toBe(true);
    expect(await pending(s)).toContain(s.bulkItem.m);
    const retry = claimOf(await liveTurn(s));
    const error = { status: 400, origin: 'klaviyo' as const, code: 'invalid', detail: 'bad', at: Date.now() };
    expect(await order.finish(retry, { kind: 'rejected', error })).toBe(true);
    expect(await liveTurn(s)).toEqual({ kind: 'first' });
    expect(await bulkTurn(s)).toEqual({ kind: 'rejected', error });
    // Recorded as a dead letter: the mark is cleared, so that a replay sends the item again (once
    // the live operation, which came after it, is done — as for any item replayed).
    await order.forget(s.bulkKey, [s.bulkItem.k]);
    await order.release(LANE, [s.live[0]!.item]);
    expect(await bulkTurn(s)).toEqual({ kind: 'first' });
    await s.bulkJob.remove();
  });

  it('a job that no longer carries the claimed item: the claim says so, and ending it lets the live operation go', async () => {
    const s = await scene();
    const other = { ...s.bulkItem, k: 'another-item' };
    await s.bulkJob.updateData({ ...s.bulkJob.data, items: [other] });
    const claim = claimOf(await liveTurn(s));
    expect(claim.item).toBeUndefined();
    expect(await order.finish(claim, { kind: 'gone' })).toBe(true);
    expect(await liveTurn(s)).toEqual({ kind: 'first' });
    expect(await redis.hget(s.bulkKey, claim.field)).toBeNull();
    await s.bulkJob.remove();
  });

  it('a live operation behind an earlier live one waits: only bulk work is promoted', async () => {
    const email = `${uniq('live-live')}@example.com`;
    for (const name of ['A', 'B']) expect((await h.post('/v1/profiles', { id: uniq(name), email, first_name: name })).status).toBe(202);
    const jobs = await waitUntil('the two live jobs of the profile', async () => {
      const js = (await h.service.queues.get(liveRef).getJobs(['waiting'])).filter((j) => JSON.stringify(j.data).includes(email)) as Job<ProfilesJobData>[];
      return js.length === 2 && js.sort((a, b) => a.data.items[0]!.seq - b.data.items[0]!.seq);
    });
    const [a, b] = jobs.map((j) => ({ item: j.data.items[0]!, key: order.jobKey(liveRef, j.id!) }));
    expect((await order.turns(LANE, [b!.item], 'live', b!.key))[0]).toEqual({ kind: 'wait' });
    expect((await order.turns(LANE, [a!.item], 'live', a!.key))[0]).toEqual({ kind: 'first' });
    for (const j of jobs) await j.remove();
  });
});
