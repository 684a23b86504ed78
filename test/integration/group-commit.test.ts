/**
 * The group commit (src/ingest/enqueue.ts), on real Redis: calls for one target in one event-loop
 * turn are written together — one claim, one job — and each caller still gets its own answer; a
 * failure reaches every caller of the turn; and what a flush writes (the job's data, the step
 * before the add) comes from the writer, made once per kind, and the target alone, so calls that
 * share a flush cannot disagree about it.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobWriter, type EnqueueTarget, type PlannedJob } from '../../src/ingest/enqueue.ts';
import { Queues } from '../../src/queues.ts';
import { queueRef, type QueueRef } from '../../src/queue-catalog.ts';
import { dedupeMemoryPrefix } from '../../src/redis-keys.ts';
import { deleteKeys, testRedis, uniquePrefix } from '../support/redis.ts';
import { waitUntil } from '../support/wait.ts';

const prefix = uniquePrefix('group');
let redis: Redis;
let monitor: Redis | undefined;
let queues: Queues;

interface Item {
  readonly k: string;
}
interface Data {
  readonly src: string;
  readonly lane: string;
  readonly cls: string;
  readonly at: number;
  readonly items: Item[];
  readonly b?: number;
}

/** A writer as ingest makes one: its data and its step before the add are fixed here, once. */
function writer(opts: { prepared?: { ref: QueueRef; jobs: readonly PlannedJob<Item>[] }[]; failPrepare?: () => boolean } = {}) {
  return createJobWriter(redis, queues, 60_000, {
    kind: 'events',
    data: (t, items: Item[], at): Data => ({ src: t.source, lane: t.lane, cls: t.cls, at, items }),
    prepare: async (ref, jobs) => {
      if (opts.failPrepare?.()) throw new Error('prepare failed');
      opts.prepared?.push({ ref, jobs });
    },
  });
}

const target = (source: string, cls: EnqueueTarget['cls'] = 'live'): EnqueueTarget => ({ lane: 'gc', cls, source });
const jobsOf = async (t: EnqueueTarget) =>
  (await queues.get(queueRef('events', t.lane, t.cls, t.source)).getJobs(['waiting', 'prioritized'])).map((j) => j.data as Data);

/** The claims (one Lua call each) Redis receives for this test's lane, seen through MONITOR. */
const claims: string[][] = [];

beforeAll(async () => {
  redis = testRedis();
  queues = new Queues(redis, prefix, { attempts: 1, keepCompletedS: 60 });
  monitor = await testRedis().monitor();
  // The claim's first argument after its key is the kind and lane's dedupe memory prefix (src/lua/enqueue-claim.lua).
  const claimPrefix = dedupeMemoryPrefix(prefix, 'events', 'gc');
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (/^eval(sha)?$/i.test(args[0] ?? '') && args[4] === claimPrefix) claims.push(args);
  });
});
afterAll(async () => {
  monitor?.disconnect();
  await queues?.close();
  redis?.disconnect();
  await deleteKeys(`${prefix}:*`);
});

describe('calls in one turn, for one target', () => {
  it('go into one claim and one job; each caller gets its own result', async () => {
    const prepared: { ref: QueueRef; jobs: readonly PlannedJob<Item>[] }[] = [];
    const w = writer({ prepared });
    const t = target('src-one');
    claims.length = 0;
    const before = Date.now();
    const [a, b, c] = await Promise.all([
      w.enqueue(t, [{ k: 'a1' }, { k: 'a2' }], 100),
      w.enqueue(t, [{ k: 'b1' }], 30),
      // a1 again: the turn's first caller has it; this caller's copy is a duplicate.
      w.enqueue(t, [{ k: 'c1' }, { k: 'a1' }], 40),
    ]);

    const jobs = await jobsOf(t);
    expect(jobs).toHaveLength(1);
    const jobId = a.jobIds[0];
    expect(a).toEqual({ enqueued: 2, duplicates: 0, jobIds: [jobId] });
    expect(b).toEqual({ enqueued: 1, duplicates: 0, jobIds: [jobId] });
    expect(c).toEqual({ enqueued: 1, duplicates: 1, jobIds: [jobId] });
    // One job: the data the writer makes from the target, every caller's items, their bytes
    // (each item carries its request's share: 50 + 50 + 30 + 20).
    const [job] = jobs;
    expect(job).toMatchObject({ src: 'src-one', lane: 'gc', cls: 'live', items: [{ k: 'a1' }, { k: 'a2' }, { k: 'b1' }, { k: 'c1' }], b: 150 });
    expect(job!.at).toBeGreaterThanOrEqual(before);
    // One claim for the whole turn, one step before the add with every planned job.
    await waitUntil('the claim, through MONITOR', () => claims.length >= 1);
    expect(claims).toHaveLength(1);
    expect(prepared.map((p) => ({ ref: p.ref, jobs: p.jobs.map((j) => ({ jobId: j.jobId, items: j.items })) }))).toEqual([
      { ref: queueRef('events', 'gc', 'live', 'src-one'), jobs: [{ jobId, items: job!.items }] },
    ]);
  });

  it('a call in a later turn is a flush of its own, and finds the earlier items claimed', async () => {
    const w = writer();
    const t = target('src-later');
    claims.length = 0;
    const first = await w.enqueue(t, [{ k: 'x1' }]);
    const again = await w.enqueue(t, [{ k: 'x1' }, { k: 'x2' }]);
    expect(first).toMatchObject({ enqueued: 1, duplicates: 0 });
    expect(again).toMatchObject({ enqueued: 1, duplicates: 1 });
    await waitUntil('both claims, through MONITOR', () => claims.length >= 2);
    expect(claims).toHaveLength(2);
  });

  it('a failure reaches every caller of the turn, and the next turn starts afresh', async () => {
    let fail = true;
    const w = writer({ failPrepare: () => fail });
    const t = target('src-fail');
    const results = await Promise.allSettled([w.enqueue(t, [{ k: 'f1' }]), w.enqueue(t, [{ k: 'f2' }]), w.enqueue(t, [{ k: 'f3' }])]);
    expect(results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'resolved'))).toEqual([
      'prepare failed',
      'prepare failed',
      'prepare failed',
    ]);
    expect(await jobsOf(t)).toEqual([]);
    // Nothing of the failed turn is left behind in the writer: a retry goes through (its claims
    // name jobs that were never added, which the claim treats as unclaimed).
    fail = false;
    expect(await w.enqueue(t, [{ k: 'f1' }, { k: 'f2' }])).toMatchObject({ enqueued: 2, duplicates: 0 });
  });
});

describe('the contract: what a flush writes follows from its target', () => {
  it('calls for different targets in one turn are separate flushes, each with its own data', async () => {
    const w = writer();
    const [one, two, bulk] = await Promise.all([
      w.enqueue(target('src-a'), [{ k: 'a-id' }]),
      w.enqueue(target('src-b'), [{ k: 'b-id' }]),
      w.enqueue(target('src-a', 'bulk'), [{ k: 'bulk-id' }]),
    ]);
    for (const r of [one, two, bulk]) expect(r).toMatchObject({ enqueued: 1, duplicates: 0 });
    expect((await jobsOf(target('src-a'))).map((d) => [d.src, d.cls])).toEqual([['src-a', 'live']]);
    expect((await jobsOf(target('src-b'))).map((d) => [d.src, d.cls])).toEqual([['src-b', 'live']]);
    expect((await jobsOf(target('src-a', 'bulk'))).map((d) => [d.src, d.cls])).toEqual([['src-a', 'bulk']]);
  });
});

/**
 * Type-level, checked by `npm run typecheck`: a call cannot bring data or a step of its own — only
 * a target, its items and their bytes. (Never called: the check is the compiler's.)
 */
function _callsBringNothingOfTheirOwn(w: ReturnType<typeof writer>): void {
  // @ts-expect-error enqueue takes a target, items and bytes: what the jobs hold is the writer's
  void w.enqueue(target('src-typed'), [{ k: 't1' }], (items: Item[]) => ({ items }));
  // @ts-expect-error a target is a lane, class and source, not a queue of the caller's choosing
  void w.enqueue(queueRef('events', 'gc', 'live', 'src-typed'), [{ k: 't1' }]);
}
