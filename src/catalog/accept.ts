/**
 * Where catalog operations enter the relay (issue 15): PUT/DELETE /v1/catalog/… and the changes a
 * sync finds all come through `accept`.
 *
 * Order. Catalog operations on one resource must apply in the order they were accepted (a delete
 * after an upsert stays a delete). Each operation gets a number from the lane's arrival counter
 * (INCRBY, so a request's operations are consecutive), and all of a lane's operations go into one
 * queue, `catalog.<lane>`, served one job at a time across every worker process (BullMQ's global
 * concurrency 1). A job retried later (BullMQ delays it) can be overtaken by younger ones, so the
 * worker also keeps, per resource, the number of the last operation it applied, and skips an
 * operation older than that: the latest accepted operation wins whatever the order of delivery.
 *
 * Not spooled: like profile operations, their order comes from Redis, so when Redis cannot take
 * them the request is answered 503 (src/http/enqueue-or-503.ts), never 2xx.
 *
 * Accepted content. The hash of each accepted upsert is kept per resource (catalogHashKey) and a
 * delete removes it: a sync compares against what was accepted, so an unchanged item costs nothing
 * even while its last change is still queued. Jobs are added before the hashes are written: a
 * failure in between leaves a hash missing, which only makes the next sync send that item again.
 */
import type { RedisClient as Redis } from '../redis.ts';
import type { StoredCatalogItem } from '../job-data.ts';
import { newJobData } from '../job-data.ts';
import type { CatalogOp, CatalogType } from '../model/catalog.ts';
import { legacyRef } from '../queue-catalog.ts';
import type { Queues } from '../queues.ts';
import { catalogHashKey, catalogSeqKey } from '../redis-keys.ts';

/**
 * Operations per job. A lane's jobs are worked one at a time, so a job must carry enough to keep
 * Klaviyo busy: 5,000 are fifty bulk jobs sent at once (under the 75/s burst). With 1,000 (ten at
 * once) the first sync of 100,000 items was held by each job's round trip and poll (about 1.2 s a
 * job on a loaded machine), not by Klaviyo's 750/min. A job of 5,000 typical items is ~1.5 MB.
 */
export const CATALOG_OPS_PER_JOB = 5000;

export interface CatalogOrigin {
  readonly id: string;
  readonly lane: string;
}

export interface CatalogIngest {
  /** Queues the operations, in this order; resolves once Redis holds them. */
  accept(origin: CatalogOrigin, ops: readonly CatalogOp[]): Promise<{ readonly accepted: number; readonly jobs: number }>;
  /** The content hash last accepted for each id (null: none, or deleted). */
  hashes(lane: string, type: CatalogType, ids: readonly string[]): Promise<(string | null)[]>;
  /** Every id with accepted content of a type (for a sync's deletes). */
  ids(lane: string, type: CatalogType): Promise<string[]>;
  readonly redis: Redis;
  readonly prefix: string;
}

export function encodeCatalogOp(op: CatalogOp, seq: number): StoredCatalogItem {
  const c = op.action === 'upsert' ? { t: op.type, a: 'u' as const, q: seq, h: op.hash, d: op.data } : { t: op.type, a: 'd' as const, q: seq };
  return { k: `cat-${seq}`, id: op.id, c };
}

export function createCatalogIngest(redis: Redis, queues: Queues): CatalogIngest {
  const prefix = queues.prefix;
  /** Lanes whose queue was set to one job at a time by this process. */
  const serial = new Set<string>();

  async function accept(origin: CatalogOrigin, ops: readonly CatalogOp[]) {
    if (ops.length === 0) return { accepted: 0, jobs: 0 };
    const queue = queues.get(legacyRef('catalog', origin.lane));
    if (!serial.has(origin.lane)) {
      await queue.setGlobalConcurrency(1);
      serial.add(origin.lane);
    }
    const last = await redis.incrby(catalogSeqKey(prefix, origin.lane), ops.length);
    const first = last - ops.length + 1;
    const stored = ops.map((op, i) => encodeCatalogOp(op, first + i));
    const at = Date.now();
    const jobs = [];
    for (let i = 0; i < stored.length; i += CATALOG_OPS_PER_JOB) {
      jobs.push({ name: 'catalog', data: newJobData({ source: origin.id, lane: origin.lane, acceptedAt: at }, stored.slice(i, i + CATALOG_OPS_PER_JOB)) });
    }
    await queue.addBulk(jobs);
    const pipe = redis.pipeline();
    for (const op of ops) {
      const key = catalogHashKey(prefix, origin.lane, op.type);
      if (op.action === 'upsert') pipe.hset(key, op.id, op.hash);
      else pipe.hdel(key, op.id);
    }
    await pipe.exec();
    return { accepted: ops.length, jobs: jobs.length };
  }

  return {
    accept,
    async hashes(lane, type, ids) {
      if (ids.length === 0) return [];
      return redis.hmget(catalogHashKey(prefix, lane, type), ...ids);
    },
    async ids(lane, type) {
      const out: string[] = [];
      const key = catalogHashKey(prefix, lane, type);
      let cursor = '0';
      do {
        const [next, page] = await redis.hscan(key, cursor, 'COUNT', 1000);
        for (let i = 0; i < page.length; i += 2) out.push(page[i]!);
        cursor = next;
      } while (cursor !== '0');
      return out;
    },
    redis,
    prefix,
  };
}
