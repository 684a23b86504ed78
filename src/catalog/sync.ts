/**
 * Full catalog sync with change detection (issue 15): the sender gives the whole catalog, the
 * relay sends Klaviyo only what changed since it last accepted each resource.
 *
 * A sync is one request (NDJSON, streamed, any size) or several chunks with the same sync id.
 * Lines are taken in batches of SYNC_BATCH: each batch's content hashes are compared with the
 * accepted ones (one HMGET per type), and only new or changed resources are accepted as upserts
 * (src/catalog/accept.ts), categories before items before variants within a batch. Changes are
 * gathered until there are a job's worth (5,000), so ten changes spread over a feed are one job —
 * one Klaviyo request, not one per batch. A resource the feed repeats counts once per batch, with
 * its last content. So a feed of 100,000 unchanged items costs Redis
 * a hundred HMGETs and Klaviyo nothing.
 *
 * Deletes (`deletes=true`, at the end of the sync): every accepted resource the sync did not name
 * is deleted — variants, then items, then categories. The ids seen are kept in Redis sets per sync
 * (a chunked sync's chunks may reach different API processes), which expire a day after the last
 * chunk. A sync with an invalid line deletes nothing: the resource on that line would look gone.
 */
import { randomUUID } from 'node:crypto';
import { CATALOG_TYPES, type CatalogOp, type CatalogType, SyncLineSchema, upsertOp } from '../model/catalog.ts';
import { catalogSeenKey, catalogSyncKey } from '../redis-keys.ts';
import { CATALOG_OPS_PER_JOB, type CatalogIngest, type CatalogOrigin } from './accept.ts';

export const SYNC_BATCH = 1000;
/** Invalid lines listed in the answer (all are counted). */
const MAX_LISTED_PROBLEMS = 100;
const SEEN_TTL_S = 24 * 3600;
/** Creates in this order, so that what a resource refers to exists first; deletes the other way. */
const UPSERT_ORDER: readonly CatalogType[] = ['category', 'item', 'variant'];
const DELETE_ORDER: readonly CatalogType[] = ['variant', 'item', 'category'];

export interface SyncProblem {
  readonly line: number;
  readonly field: string;
  readonly message: string;
}

export interface SyncSummary {
  readonly syncId: string;
  /** Lines read by this request (blank lines are skipped). */
  readonly received: number;
  readonly unchanged: number;
  /** New or changed resources accepted as upserts. */
  readonly upserts: number;
  /** Resources accepted for deletion because the sync did not name them. */
  readonly deletes: number;
  readonly invalid: number;
  readonly problems: readonly SyncProblem[];
  /** The sync is over (its last chunk, or a single request). */
  readonly complete: boolean;
  /** Why deletes were asked for and not made. */
  readonly deletesSkipped?: string;
}

export interface SyncOptions {
  readonly syncId: string;
  readonly final: boolean;
  readonly deletes: boolean;
  /** The number of the first line of this request (chunks continue their sync's count). */
  readonly firstLine?: number;
}

export const newSyncId = (): string => `sync-${randomUUID()}`;

/** Takes one request's lines of a sync; `finish` ends the request (and the sync, when final). */
export function syncSession(ingest: CatalogIngest, origin: CatalogOrigin, opts: SyncOptions) {
  const { redis, prefix } = ingest;
  const syncKey = catalogSyncKey(prefix, origin.lane, opts.syncId);
  let pending: { line: number; value: unknown }[] = [];
  /** New or changed resources not accepted yet. */
  let changed: CatalogOp[] = [];
  let received = 0;
  /** Lines of this request so far, blank ones included: what a problem's line number counts. */
  let physical = 0;
  let unchanged = 0;
  let upserts = 0;
  let invalid = 0;
  const problems: SyncProblem[] = [];
  const problem = (p: SyncProblem) => {
    invalid++;
    if (problems.length < MAX_LISTED_PROBLEMS) problems.push(p);
  };

  async function flush(): Promise<void> {
    const batch = pending;
    pending = [];
    // Last content per resource in this batch.
    const latest = new Map<string, CatalogOp & { action: 'upsert' }>();
    for (const { line, value } of batch) {
      const parsed = SyncLineSchema.safeParse(value);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        problem({ line, field: issue.path.join('.'), message: issue.message });
        continue;
      }
      const { type, ...data } = parsed.data;
      const op = upsertOp(type, data) as CatalogOp & { action: 'upsert' };
      latest.delete(`${type}\n${data.id}`);
      latest.set(`${type}\n${data.id}`, op);
    }
    const seen = redis.pipeline();
    for (const type of UPSERT_ORDER) {
      const ops = [...latest.values()].filter((op) => op.type === type);
      if (ops.length === 0) continue;
      const known = await ingest.hashes(
        origin.lane,
        type,
        ops.map((op) => op.id),
      );
      ops.forEach((op, i) => {
        if (known[i] === op.hash) unchanged++;
        else changed.push(op);
      });
      if (opts.deletes) seen.sadd(catalogSeenKey(prefix, origin.lane, opts.syncId, type), ...ops.map((op) => op.id));
    }
    if (opts.deletes && latest.size > 0) await seen.exec();
    if (changed.length >= CATALOG_OPS_PER_JOB) await acceptChanged();
  }

  async function acceptChanged(): Promise<void> {
    const ops = changed;
    changed = [];
    if (ops.length > 0) await ingest.accept(origin, ops);
    upserts += ops.length;
  }

  return {
    /** One line of an NDJSON feed (without its newline); blank lines are skipped. */
    async line(raw: string): Promise<void> {
      if (raw.trim() === '') {
        physical++;
        return;
      }
      let value: unknown;
      try {
        value = JSON.parse(raw);
      } catch {
        this.reject('is not JSON');
        return;
      }
      await this.value(value);
    },
    /** One resource of the feed, parsed. */
    async value(value: unknown): Promise<void> {
      const line = (opts.firstLine ?? 1) + physical++;
      received++;
      pending.push({ line, value });
      if (pending.length >= SYNC_BATCH) await flush();
    },
    /** A line that could not be read (too long, not JSON). */
    reject(message: string): void {
      const line = (opts.firstLine ?? 1) + physical++;
      received++;
      problem({ line, field: '', message });
    },
    async finish(): Promise<SyncSummary> {
      if (pending.length > 0) await flush();
      await acceptChanged();
      // The sync's counters so far (every chunk adds its own).
      const totals = await redis.pipeline().hincrby(syncKey, 'received', received).hincrby(syncKey, 'invalid', invalid).expire(syncKey, SEEN_TTL_S).exec();
      const invalidInSync = Number(totals?.[1]?.[1] ?? invalid);
      let deletes = 0;
      let deletesSkipped: string | undefined;
      if (opts.final && opts.deletes) {
        if (invalidInSync > 0) deletesSkipped = `${invalidInSync} line(s) of this sync were not valid: nothing is deleted, as their resources would look gone`;
        else deletes = await deleteUnseen();
      }
      const keys = CATALOG_TYPES.map((t) => catalogSeenKey(prefix, origin.lane, opts.syncId, t));
      if (opts.final) await redis.del(syncKey, ...keys);
      else if (opts.deletes) {
        const pipe = redis.pipeline();
        for (const k of keys) pipe.expire(k, SEEN_TTL_S);
        await pipe.exec();
      }
      return {
        syncId: opts.syncId,
        received,
        unchanged,
        upserts,
        deletes,
        invalid,
        problems,
        complete: opts.final,
        ...(deletesSkipped ? { deletesSkipped } : {}),
      };
    },
  };

  async function deleteUnseen(): Promise<number> {
    let n = 0;
    for (const type of DELETE_ORDER) {
      const seen = new Set(await redis.smembers(catalogSeenKey(prefix, origin.lane, opts.syncId, type)));
      const gone = (await ingest.ids(origin.lane, type)).filter((id) => !seen.has(id));
      for (let i = 0; i < gone.length; i += SYNC_BATCH) {
        const ops: CatalogOp[] = gone.slice(i, i + SYNC_BATCH).map((id) => ({ type, action: 'delete', id }));
        await ingest.accept(origin, ops);
      }
      n += gone.length;
    }
    return n;
  }
}
