/**
 * workers/settle.ts on real BullMQ jobs: a job taken by hand (active, locked), settled with a set
 * of per-item outcomes, then read back from Redis — what it kept, where it went, what it threw.
 */
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeadItem, ItemError } from '../../src/job-data.ts';
import { RetryLaterError, type ItemOutcome } from '../../workers/retry-policy.ts';
import { settle, waitDelayMs, type ItemsJobData, type SettleOptions } from '../../workers/settle.ts';
import { deleteKeys, testRedis, uniquePrefix } from '../support/redis.ts';

interface Item {
  readonly k: string;
}
type Data = ItemsJobData<Item> & { readonly note?: string };

const QUEUE = 'settle';
let redis: Redis;
let prefix: string;
let queue: Queue<Data>;
let taker: Worker<Data>;
beforeAll(() => {
  redis = testRedis();
  prefix = uniquePrefix('settle');
  queue = new Queue<Data>(QUEUE, { connection: redis as never, prefix });
  // No processor: the test takes each job itself, as a worker would (active, with a lock).
  taker = new Worker<Data>(QUEUE, null, { connection: redis.duplicate() as never, prefix });
});
afterAll(async () => {
  await taker?.close();
  await queue?.close();
  redis?.disconnect();
  await deleteKeys(`${prefix}:*`);
});

const items = (...ks: string[]): Item[] => ks.map((k) => ({ k }));
const error = (status: number, detail = 'nope', extra: Partial<ItemError> = {}): ItemError => ({ status, origin: 'klaviyo', detail, at: 1, ...extra });
const delivered: ItemOutcome = { kind: 'delivered' };
const rejected = (e = error(400)): ItemOutcome => ({ kind: 'rejected', error: e });
const retry = (retryAfterMs?: number, e = error(503, 'busy')): ItemOutcome => ({ kind: 'retry', error: e, retryAfterMs });
const paused = (e = error(401, 'refused')): ItemOutcome => ({ kind: 'paused', error: e });
const yielded: ItemOutcome = { kind: 'yield' };

let n = 0;
/** A job added with `data`, then taken: active and locked with `token`, as the processor sees it. */
async function taken(data: Data): Promise<{ job: Job<Data>; token: string }> {
  const token = `tok-${++n}`;
  await queue.add('job', data, { jobId: `job-${n}` });
  const job = await taker.getNextJob(token, { block: false });
  expect(job?.id).toBe(`job-${n}`);
  return { job: job!, token };
}
const stored = async (job: Job<Data>) => (await queue.getJob(job.id!))!;
const thrown = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('settle: nothing held back', () => {
  it('all delivered: returns the count and leaves the job as it was (no write)', async () => {
    const { job } = await taken({ items: items('a', 'b'), note: 'kept' });
    const seen: (readonly ItemOutcome[])[] = [];
    expect(await settle(job, job.data.items, [delivered, delivered], { observe: (o) => seen.push(o) })).toEqual({ delivered: 2 });
    expect(seen).toEqual([[delivered, delivered]]);
    expect((await stored(job)).data).toEqual({ items: items('a', 'b'), note: 'kept' });
  });

  it('some to retry: the job keeps only those (delivered ones are never sent again) and throws RetryLaterError with the longest Retry-After', async () => {
    const { job } = await taken({ items: items('a', 'b', 'c', 'd'), note: 'kept' });
    const err = await thrown(settle(job, job.data.items, [delivered, retry(2000), retry(), retry(500, error(0, 'timed out', { origin: 'timeout' }))]));
    expect(err).toBeInstanceOf(RetryLaterError);
    expect((err as RetryLaterError).retryAfterMs).toBe(2000);
    expect((err as Error).message).toBe('3 of 4 items to retry (1 delivered): timeout: timed out');
    const data = (await stored(job)).data;
    expect(data.items).toEqual(items('b', 'c', 'd'));
    expect(data.note).toBe('kept');
    expect(data.dead).toEqual([]);
  });

  it('to retry without a Retry-After: none is set (BullMQ backs off as usual)', async () => {
    const { job } = await taken({ items: items('a') });
    const err = await thrown(settle(job, job.data.items, [retry()]));
    expect(err).toBeInstanceOf(RetryLaterError);
    expect((err as RetryLaterError).retryAfterMs).toBeUndefined();
  });

  it('some rejected while others retry: the rejected become dead letters now, and the job retries the rest', async () => {
    const earlier: DeadItem<Item> = { item: { k: 'old' }, error: error(422, 'earlier') };
    const { job } = await taken({ items: items('a', 'b', 'c'), dead: [earlier] });
    const e = error(400, 'bad email', { code: 'invalid', pointer: '/data/attributes/email' });
    const err = await thrown(settle(job, job.data.items, [rejected(e), retry(), delivered]));
    expect(err).toBeInstanceOf(RetryLaterError);
    const data = (await stored(job)).data;
    expect(data.items).toEqual(items('b'));
    expect(data.dead).toEqual([earlier, { item: { k: 'a' }, error: e }]);
  });

  it('only rejections left: the job fails for good (UnrecoverableError) with Klaviyo’s first error, PII masked', async () => {
    const { job } = await taken({ items: items('a', 'b', 'c') });
    const first = error(400, 'ada.lovelace@example.com is not a valid email', { code: 'invalid', pointer: '/data/attributes/email' });
    const err = await thrown(settle(job, job.data.items, [rejected(first), delivered, rejected(error(409, 'duplicate'))]));
    expect(err).toBeInstanceOf(UnrecoverableError);
    const message = (err as Error).message;
    expect(message).toMatch(/^2 item\(s\) rejected by Klaviyo: 400 invalid: .* is not a valid email at \/data\/attributes\/email$/);
    expect(message).not.toContain('ada.lovelace@example.com');
    const data = (await stored(job)).data;
    expect(data.items).toEqual([]);
    expect(data.dead!.map((d) => d.item.k)).toEqual(['a', 'c']);
    // The full detail stays in the job's data (the dashboard masks it).
    expect(data.dead![0]!.error.detail).toContain('ada.lovelace@example.com');
  });

  it('dead letters from an earlier attempt fail the job once the rest is delivered (the failed set is the dead-letter store)', async () => {
    const earlier: DeadItem<Item> = { item: { k: 'old' }, error: error(422, 'earlier') };
    const { job } = await taken({ items: items('a'), dead: [earlier] });
    const err = await thrown(settle(job, job.data.items, [delivered]));
    expect(err).toBeInstanceOf(UnrecoverableError);
    expect((err as Error).message).toBe('1 item(s) rejected by Klaviyo: 422: earlier');
  });
});

describe('settle: held back, costing no attempt', () => {
  /** The job's stored state after a settle that delayed it: its data, delay and attempts. */
  async function delayedAs(job: Job<Data>, run: Promise<unknown>) {
    const err = await thrown(run);
    expect(err).toBeInstanceOf(DelayedError);
    const after = await stored(job);
    expect(await after.getState()).toMatch(/^(delayed|waiting)$/);
    expect(after.attemptsMade).toBe(0);
    return after;
  }

  it('waiting for an earlier operation on the profile: delayed, growing with each wait; the job keeps the retries, then the waiting', async () => {
    const { job, token } = await taken({ items: items('a', 'b', 'c', 'd'), waits: 2 });
    const opts: SettleOptions<Item> = { token, waiting: items('w1', 'w2') };
    const after = await delayedAs(job, settle(job, items('a', 'b', 'c', 'd'), [delivered, retry(), rejected(), retry()], opts));
    expect(after.data.items).toEqual(items('b', 'd', 'w1', 'w2'));
    expect(after.data.waits).toBe(3);
    expect(after.data.dead!.map((d) => d.item.k)).toEqual(['c']);
    expect(after.delay).toBeGreaterThan(waitDelayMs(3) - 100);
    expect(after.delay).toBeLessThanOrEqual(waitDelayMs(3));
  });

  it('the first wait of a job waits 200 ms', async () => {
    const { job, token } = await taken({ items: items('a') });
    const after = await delayedAs(job, settle(job, [], [], { token, waiting: items('a') }));
    expect(after.data.waits).toBe(1);
    expect(after.delay).toBeGreaterThan(100);
    expect(after.delay).toBeLessThanOrEqual(200);
  });

  it('credentials refused: the lane is paused once (with the first refusal), the job waits 1 s, and its wait count is not touched', async () => {
    const { job, token } = await taken({ items: items('a', 'b', 'c'), waits: 4 });
    const pausedWith: ItemError[] = [];
    const first = error(401, 'first refusal', { origin: 'gateway' });
    const after = await delayedAs(
      job,
      settle(job, job.data.items, [paused(first), delivered, paused(error(403, 'second'))], {
        token,
        waiting: items('w'),
        onPaused: async (e) => void pausedWith.push(e),
      }),
    );
    expect(pausedWith).toEqual([first]);
    expect(after.data.items).toEqual(items('w', 'a', 'c'));
    expect(after.data.waits).toBe(4);
    expect(after.delay).toBeGreaterThan(900);
    expect(after.delay).toBeLessThanOrEqual(1000);
  });

  it('yielded at shutdown: back to the queue at once, as it was, its wait count not touched', async () => {
    const { job, token } = await taken({ items: items('a', 'b') });
    const after = await delayedAs(job, settle(job, job.data.items, [delivered, yielded], { token, waiting: items('w') }));
    expect(after.data.items).toEqual(items('w', 'b'));
    expect(after.data.waits).toBeUndefined();
    expect(after.delay).toBe(0);
  });

  it('held items without the lock token: an error, not a silent retry', async () => {
    const { job } = await taken({ items: items('a') });
    const err = await thrown(settle(job, job.data.items, [yielded]));
    expect(err).not.toBeInstanceOf(DelayedError);
    expect((err as Error).message).toBe('settle: a job with held items needs its lock token');
  });
});

describe('waitDelayMs', () => {
  it('doubles from 100 ms and stops at 5 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 50].map(waitDelayMs)).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  });
});
