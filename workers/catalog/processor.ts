/**
 * Processor for `catalog.<lane>` jobs (issue 15): up to 1,000 catalog operations, in the order
 * they were accepted, applied at Klaviyo as bulk jobs.
 *
 *  1. Within the job, only the last operation on each resource counts (the earlier ones are done:
 *     the final state is the last one's). Across jobs, an operation older than the last one
 *     applied to its resource is skipped (src/catalog/accept.ts explains the arrival numbers).
 *  2. Upserts go first — categories, then items, then variants, so that what a resource refers to
 *     exists — then deletes in the opposite order. An upsert is a create when the relay has not
 *     seen the resource exist, an update when it has; a create Klaviyo finds a duplicate is sent
 *     again as an update, an update of a resource it does not have as a create (once each). A
 *     delete of a resource Klaviyo does not have is done.
 *  3. What was applied is written down (the per-resource arrival number, signed: exists or
 *     deleted). A rejected upsert's accepted hash is forgotten, so that the next sync sends it again.
 *  4. settle() turns the outcomes into the job's: done, retried (BullMQ, only what is left) or a
 *     dead letter listing each rejected operation with Klaviyo's error naming the resource.
 */
import type { Job } from 'bullmq';
import type { RedisClient as Redis } from '../../src/redis.ts';
import type { CatalogJobData, StoredCatalogItem } from '../../src/job-data.ts';
import { catalogDeleteResource, catalogResource } from '../../src/klaviyo/catalog-payloads.ts';
import type { CatalogType } from '../../src/model/catalog.ts';
import { catalogAppliedKey, catalogHashKey } from '../../src/redis-keys.ts';
import { DELIVERED, type ItemOutcome } from '../retry-policy.ts';
import { settle, type JobHooks } from '../settle.ts';
import { type BulkJobDeps, type CatalogResult, runBulkJobs } from './bulk-jobs.ts';

const UPSERT_ORDER: readonly CatalogType[] = ['category', 'item', 'variant'];
const DELETE_ORDER: readonly CatalogType[] = ['variant', 'item', 'category'];

export interface CatalogProcessorDeps extends BulkJobDeps {
  readonly redis: Redis;
  readonly prefix: string;
  readonly hooks: JobHooks;
}

export function catalogProcessor(deps: CatalogProcessorDeps) {
  return async function processCatalog(job: Job<CatalogJobData>, token?: string): Promise<{ delivered: number }> {
    const { lane } = job.data;
    const items = job.data.items;
    const outcomes: ItemOutcome[] = items.map(() => DELIVERED);

    // 1. The last operation per resource in this job, then those not superseded by one applied since.
    const last = new Map<string, number>();
    items.forEach((it, i) => {
      last.set(`${it.c.t}\n${it.id}`, i);
    });
    const candidates = [...last.values()].sort((a, b) => a - b);
    const applied = new Map<number, number>();
    for (const type of UPSERT_ORDER) {
      const mine = candidates.filter((i) => items[i]!.c.t === type);
      if (mine.length === 0) continue;
      const values = await deps.redis.hmget(catalogAppliedKey(deps.prefix, lane, type), ...mine.map((i) => items[i]!.id));
      mine.forEach((i, n) => {
        applied.set(i, Number(values[n] ?? 0));
      });
    }
    const todo = candidates.filter((i) => Math.abs(applied.get(i) ?? 0) < items[i]!.c.q);

    // 2. Upserts by type, then deletes.
    const writes: [CatalogType, string, number][] = [];
    const record = (i: number, r: CatalogResult, exists: boolean) => {
      const it = items[i]!;
      if (r.kind === 'done') writes.push([it.c.t, it.id, exists ? it.c.q : -it.c.q]);
      else if (r.kind !== 'exists' && r.kind !== 'missing') outcomes[i] = r;
    };
    const run = (type: CatalogType, action: 'create' | 'update', idx: readonly number[]) =>
      idx.length === 0
        ? Promise.resolve([])
        : runBulkJobs(
            deps,
            type,
            action,
            idx.map((i) => ({ id: items[i]!.id, resource: catalogResource(type, action, items[i]!.c.d!) })),
          );

    for (const type of UPSERT_ORDER) {
      const upserts = todo.filter((i) => items[i]!.c.t === type && items[i]!.c.a === 'u');
      const creates = upserts.filter((i) => (applied.get(i) ?? 0) <= 0);
      const updates = upserts.filter((i) => (applied.get(i) ?? 0) > 0);
      const [created, updated] = await Promise.all([run(type, 'create', creates), run(type, 'update', updates)]);
      // Klaviyo knew better: the other way, once.
      const asUpdates = creates.filter((_, n) => created[n]!.kind === 'exists');
      const asCreates = updates.filter((_, n) => updated[n]!.kind === 'missing');
      creates.forEach((i, n) => {
        record(i, created[n]!, true);
      });
      updates.forEach((i, n) => {
        record(i, updated[n]!, true);
      });
      const [reupdated, recreated] = await Promise.all([run(type, 'update', asUpdates), run(type, 'create', asCreates)]);
      asUpdates.forEach((i, n) => {
        record(i, notAgain(reupdated[n]!, items[i]!), true);
      });
      asCreates.forEach((i, n) => {
        record(i, notAgain(recreated[n]!, items[i]!), true);
      });
    }
    for (const type of DELETE_ORDER) {
      const deletes = todo.filter((i) => items[i]!.c.t === type && items[i]!.c.a === 'd');
      if (deletes.length === 0) continue;
      const results = await runBulkJobs(
        deps,
        type,
        'delete',
        deletes.map((i) => ({ id: items[i]!.id, resource: catalogDeleteResource(type, items[i]!.id) })),
      );
      // Already gone is what a delete wants.
      deletes.forEach((i, n) => {
        record(i, results[n]!.kind === 'missing' ? { kind: 'done' } : results[n]!, false);
      });
    }

    // 3. What was applied, and forgetting the content of rejected upserts.
    if (writes.length > 0) {
      const pipe = deps.redis.pipeline();
      for (const [type, id, value] of writes) pipe.hset(catalogAppliedKey(deps.prefix, lane, type), id, value);
      await pipe.exec();
    }
    // On the last attempt, what is still to retry becomes a dead letter too: forget its content as well.
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    await forgetRejected(deps, lane, items, outcomes, lastAttempt);

    // 4. The job's outcome.
    return settle(job, items, outcomes, { token, observe: (o) => deps.hooks.observe('catalog', lane, job.data.at, o) });
  };
}

/** The second try said the opposite of the first (exists / does not exist): retry the job later rather than loop now. */
function notAgain(r: CatalogResult, it: StoredCatalogItem): CatalogResult {
  if (r.kind !== 'exists' && r.kind !== 'missing') return r;
  return {
    kind: 'retry',
    error: { status: 409, origin: 'klaviyo', detail: `catalog ${it.c.t} ${it.id}: Klaviyo answered both that it exists and that it does not`, at: Date.now() },
  };
}

/** A rejected upsert's content (or one out of attempts) was never applied: drop its accepted hash (if still that one) so the next sync sends it. */
async function forgetRejected(
  deps: CatalogProcessorDeps,
  lane: string,
  items: readonly StoredCatalogItem[],
  outcomes: readonly ItemOutcome[],
  lastAttempt: boolean,
) {
  const failed = (o: ItemOutcome) => o.kind === 'rejected' || (lastAttempt && o.kind === 'retry');
  const rejected = items.filter((it, i) => failed(outcomes[i]!) && it.c.a === 'u');
  if (rejected.length === 0) return;
  const current = await Promise.all(rejected.map((it) => deps.redis.hget(catalogHashKey(deps.prefix, lane, it.c.t), it.id)));
  const pipe = deps.redis.pipeline();
  rejected.forEach((it, n) => {
    if (current[n] === it.c.h) pipe.hdel(catalogHashKey(deps.prefix, lane, it.c.t), it.id);
  });
  await pipe.exec();
}
