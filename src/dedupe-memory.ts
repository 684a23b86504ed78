/**
 * The dedupe memory: which items ingest has accepted within the dedupe window (RELAY_DEDUP_TTL_S),
 * in a few tens of bytes per item instead of a Redis key each (issue 18: 136 B per item, 29 GB for
 * a day of one account at its ceiling).
 *
 * Layout, per kind and lane, all under the lane's hash tag (one cluster slot, as the claim's Lua
 * touches them together):
 *   `<lane keys>dd:<g>:b:<n>`  bucket n of generation g: a hash of DIGEST_BYTES-byte digests (the
 *                              item key's first bytes, binary) → the number of the job they went
 *                              to, or empty once that job completed
 *   `<lane keys>dd:<g>:j`      generation g's job table: number → job ref ("<queue>/<jobId>") or `done`
 *   `<lane keys>dd:<g>:m`      its counters: items (n), linear-hashing level (l) and split (s), jobs (j)
 *   `<lane keys>dd:since`      when this layout was first written (legacy item keys are read until a window later)
 * A generation lasts windowMs / GENERATIONS; an item is looked up in the current one and the
 * GENERATIONS before it, so it is a duplicate for at least the window and at most a generation
 * longer. Buckets split (linear hashing) to keep BUCKET_LOAD digests each on average, under Redis's
 * `hash-max-listpack-entries` (128 by default): a listpack entry is the digest plus 3–6 bytes.
 * Each key expires once no lookup can reach it: rotation by generation, not a TTL per item.
 *
 * The guarantee is the per-item keys': an item is a duplicate while its job exists or, once that
 * job completed, for the rest of the window (its number says `done`); the claim is one Lua call.
 * A false duplicate needs two items' first 80 bits of SHA-256 to agree: at 216 million items a
 * day (one account at its ceiling), about once in 10⁷ days.
 *
 * Writers: ingest (src/lua/enqueue-claim.lua), the workers (`done`, src/lua/dedupe-done.lua), a
 * dead-letter replay (src/lua/dedupe-repoint.lua); readers: the claim and find (dedupe-find.lua).
 */
import { hash } from 'node:crypto';
import { luaScript } from './lua/script.ts';
import type { RedisClient as Redis } from './redis.ts';
import type { Logger } from './log.ts';
import { DONE } from './item-keys.ts';
import type { JobKind } from './queue-catalog.ts';
import { claimRouteKey, dedupeJobTableKey, dedupeMemoryPrefix } from './redis-keys.ts';

/** Digests per bucket on average (linear hashing splits past it); a bucket holds up to about twice as many. */
export const BUCKET_LOAD = 40;
/** Below this `hash-max-listpack-entries` the fuller buckets turn into hash tables (several times the bytes per item). */
const LISTPACK_ENTRIES_NEEDED = 128;

/** Bytes of an item key's digest kept per item (80 bits). */
export const DIGEST_BYTES = 10;
/** How many generations a window spans: the memory holds between one window and 1 + 1/GENERATIONS of them. */
export const GENERATIONS = 1;

const DIGEST_TEXT = /^[A-Za-z0-9_-]{14,}$/;

/**
 * The item keys' digests, concatenated. An item key is SHA-256 in base64url already
 * (src/item-keys.ts): its first 14 characters decode to the 10 bytes. Any other key (tests' own)
 * is hashed first.
 */
export function digestsOf(itemKeys: readonly string[]): Buffer {
  const out = Buffer.alloc(itemKeys.length * DIGEST_BYTES);
  for (let i = 0; i < itemKeys.length; i++) {
    const k = itemKeys[i]!;
    if (DIGEST_TEXT.test(k)) out.write(k.slice(0, 14), i * DIGEST_BYTES, DIGEST_BYTES, 'base64url');
    else hash('sha256', k, 'buffer').copy(out, i * DIGEST_BYTES, 0, DIGEST_BYTES);
  }
  return out;
}

/** A job's place in the memory, `<generation>:<number>` (stored on the job as `d`, src/job-data.ts). */
export function parseMemoryPlace(place: string | undefined): { generation: string; number: string } | undefined {
  const m = place === undefined ? null : /^(\d+):(\d+)$/.exec(place);
  return m ? { generation: m[1]!, number: m[2]! } : undefined;
}

const DONE_SCRIPT = luaScript({
  name: 'dedupe-done',
  keys: ['jobTable', 'job'],
  args: ['number', 'data', 'memoryPrefix', 'generation', 'digests'],
  reply: (raw) => raw as number,
  constants: { DONE, DIGEST_BYTES },
});

const REPOINT = luaScript({
  name: 'dedupe-repoint',
  keys: ['jobTable'],
  args: ['number', 'from', 'to'],
  reply: (raw) => raw === 1,
});

const FIND = luaScript({
  name: 'dedupe-find',
  keys: ['route'],
  args: ['memoryPrefix', 'windowMs', 'digests'],
  reply: (raw) => (raw as (string | null | false)[]).map((v) => (typeof v === 'string' ? v : undefined)),
  constants: { DIGEST_BYTES, GENERATIONS },
});

/**
 * Workers: a job completed. Its items (`itemKeys`: those still on it) are duplicates for the rest
 * of the window; its hash keeps `data` (a summary) and its timestamps only.
 */
export async function markJobDone(
  redis: Redis,
  prefix: string,
  kind: JobKind,
  lane: string,
  place: string,
  job: { readonly key: string; readonly data: string; readonly itemKeys: readonly string[] },
): Promise<void> {
  const at = parseMemoryPlace(place);
  if (!at) return;
  await DONE_SCRIPT.run(redis, {
    keys: { jobTable: dedupeJobTableKey(prefix, kind, lane, at.generation), job: job.key },
    args: {
      number: at.number,
      data: job.data,
      memoryPrefix: dedupeMemoryPrefix(prefix, kind, lane),
      generation: at.generation,
      digests: digestsOf(job.itemKeys),
    },
  });
}

/** A dead letter replayed into another job: its items name that job now. */
export async function repointJob(redis: Redis, prefix: string, kind: JobKind, lane: string, place: string, from: string, to: string): Promise<void> {
  const at = parseMemoryPlace(place);
  if (!at) return;
  await REPOINT.run(redis, { keys: { jobTable: dedupeJobTableKey(prefix, kind, lane, at.generation) }, args: { number: at.number, from, to } });
}

/** Defines the memory's scripts on a connection when it is set up, before traffic (src/lua/script.ts). */
export function defineDedupeMemoryScripts(redis: Redis): void {
  for (const script of [DONE_SCRIPT, REPOINT, FIND]) script.define(redis);
}

/** Find: per item key, what the memory holds (a job ref or `done`), or undefined. */
export async function lookUpItems(
  redis: Redis,
  prefix: string,
  kind: JobKind,
  lane: string,
  windowMs: number,
  itemKeys: readonly string[],
): Promise<(string | undefined)[]> {
  if (itemKeys.length === 0 || windowMs <= 0) return itemKeys.map(() => undefined);
  return FIND.run(redis, {
    keys: { route: claimRouteKey(prefix, kind, lane) },
    args: { memoryPrefix: dedupeMemoryPrefix(prefix, kind, lane), windowMs, digests: digestsOf(itemKeys) },
  });
}

/**
 * Start-up: warn when the server keeps small hashes as listpacks only below what the buckets need
 * (Redis's default, 128, is enough). Still correct below it, only larger. A server that refuses
 * CONFIG (some managed Redis) is not asked again.
 */
export async function checkListpackSetting(redis: Redis, log: Logger): Promise<void> {
  try {
    const reply = (await redis.config('GET', 'hash-max-listpack-entries')) as string[];
    const entries = Number(reply[1]);
    if (Number.isFinite(entries) && entries < LISTPACK_ENTRIES_NEEDED)
      log.warn(
        { hashMaxListpackEntries: entries, needed: LISTPACK_ENTRIES_NEEDED },
        `Redis hash-max-listpack-entries is ${entries}: the dedupe memory's buckets (about ${BUCKET_LOAD}, at most ~${2 * BUCKET_LOAD + 30} digests) need ${LISTPACK_ENTRIES_NEEDED} to stay compact; set it to ${LISTPACK_ENTRIES_NEEDED} or more`,
      );
  } catch {
    // CONFIG disabled (managed Redis): nothing to check.
  }
}
