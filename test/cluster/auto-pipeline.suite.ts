/**
 * On an auto-pipelining Redis Cluster connection (the API's was one until issue 18; src/redis.ts)
 * commands of one tick are grouped per node, by the first key ioredis finds in each. The ingest claim (a custom Lua
 * command) once led with its numkeys, so ioredis grouped it with slot("1")'s node — and the
 * pipeline was refused whenever another command for that node went out in the same tick while the
 * queue lived elsewhere (the webhooks suite failed on the cluster about one run in two). Here that
 * tick is made on purpose: every enqueue must still be taken.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createRedis, waitForRedis } from '../../src/redis.ts';
import { Queues } from '../../src/queues.ts';
import { queueRef } from '../../src/queue-catalog.ts';
import { bullPrefix } from '../../src/redis-keys.ts';
import { createJobWriter } from '../../src/ingest/enqueue.ts';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../support/redis.ts';

const prefix = uniquePrefix('autopipe');
let api: Redis;
let queues: Queues;

beforeAll(async () => {
  expect(REDIS_URL, 'this suite runs on a cluster (npm run test:cluster)').toMatch(/^redis\+cluster:\/\//);
  api = createRedis(REDIS_URL, 'api', { enableAutoPipelining: true }) as Redis;
  queues = new Queues(api, prefix, { attempts: 3, keepCompletedS: 60 });
  await waitForRedis(api, 10_000);
});
afterAll(async () => {
  await queues?.close();
  api?.disconnect();
  await deleteKeys(`${prefix}:*`);
});

/** The master port serving a slot, from CLUSTER SLOTS. */
async function masterOf(slot: number): Promise<number> {
  const r = (await api.cluster('SLOTS')).find(([from, to]) => slot >= from && slot <= to);
  if (!r?.[2]) throw new Error(`no master serves slot ${slot}`);
  return r[2][1];
}

it('an enqueue shares its tick with a command for another node: both are taken', async () => {
  const slotOfOne = Number(await api.cluster('KEYSLOT', '1'));
  const nodeOfOne = await masterOf(slotOfOne);
  // A lane whose events queue lives on another master than slot("1").
  let lane = '';
  for (let i = 0; i < 200 && !lane; i++) {
    const candidate = `l${i}`;
    // Every queue of a kind and lane hashes on "<kind>.<lane>" (its bull prefix's tag).
    const slot = Number(await api.cluster('KEYSLOT', bullPrefix(prefix, 'events', candidate)));
    if ((await masterOf(slot)) !== nodeOfOne) lane = candidate;
  }
  expect(lane, 'a lane on another master').not.toBe('');
  // A key of ours on slot("1")'s master: its hash tag is "1".
  const neighbour = `${prefix}:{1}:neighbour`;

  const writer = createJobWriter(api, queues, 60_000, { kind: 'events', data: (_t, items: { k: string }[]) => ({ v: 1, items }) });
  for (let round = 0; round < 20; round++) {
    const [result] = await Promise.all([
      writer.enqueue({ lane, cls: 'live', source: 'key-autopipe' }, [{ k: `item-${round}` }]),
      api.hset(neighbour, `round-${round}`, '1'),
    ]);
    expect(result).toMatchObject({ enqueued: 1, duplicates: 0 });
  }
  expect(await queues.get(queueRef('events', lane, 'live', 'key-autopipe')).count()).toBe(20);
  expect(Object.keys(await api.hgetall(neighbour))).toHaveLength(20);
});

it("a queue first opened while its node's pipeline waits: its add is taken and the waiting commands are answered", async () => {
  // BullMQ defines its Lua commands on a connection when the first Queue on it opens. ioredis gives
  // an auto-pipeline the commands the connection had when the pipeline was created, so a BullMQ
  // command sent into a pipeline created before that broke it: 'pipeline[functionName] is not a
  // function' for the add, then 'results[i] is not iterable' (uncaught) and the pipeline's other
  // commands never answered. On a cluster BullMQ's version check (INFO) can come back from
  // another node before that pipeline goes out, so its first add lands in it. Queues per class and
  // source open mid-traffic; the commands must be there before any traffic (src/queues.ts).
  for (let round = 0; round < 10; round++) {
    // A fresh connection each round, as an API process starts with: no BullMQ command defined yet.
    const fresh = createRedis(REDIS_URL, 'api') as Redis;
    const own = new Queues(fresh, prefix, { attempts: 1, keepCompletedS: 60 });
    try {
      await waitForRedis(fresh, 10_000);
      const lane = `fresh${round}`;
      const tag = bullPrefix(prefix, 'events', lane);
      // The queue's node is busy with a pipeline for 300 ms; the next command for it waits in a new one.
      const busy = fresh.blpop(`${tag}:busy`, 0.3);
      await new Promise((r) => setImmediate(r));
      const waiting = fresh.get(`${tag}:waiting`);
      const add = own.get(queueRef('events', lane, 'live', `key-fresh${round}`)).add('events', { round }, { jobId: `j${round}` });
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        Promise.all([busy, waiting, add]).then(
          () => 'answered',
          (err: unknown) => `failed: ${err instanceof Error ? err.message : String(err)}`,
        ),
        new Promise((r) => (timer = setTimeout(() => r('hung'), 5000))),
      ]);
      clearTimeout(timer);
      expect(outcome, `round ${round}`).toBe('answered');
    } finally {
      await own.close();
      fresh.disconnect();
    }
  }
});
