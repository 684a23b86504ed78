/**
 * Which queues exist, what they are called, and where their keys live (issue 12).
 *
 * Work is queued per (kind, lane, class, source): `<kind>.<lane>.<class>.<source>`, e.g.
 * `events.default.bulk.src-erp`. A queue per class lets a live job be picked up while a million
 * bulk jobs wait (BullMQ queues are FIFO); a queue per source lets the workers serve sources by
 * weight. Two names stay as they were:
 *   - `<kind>.<lane>`, the legacy queue: work queued by an older version drains from it (it always
 *     has a worker, class live);
 *   - `webhooks.<lane>`: webhook jobs only fan out into other queues, so they stay one queue;
 *   - `catalog.<lane>`: catalog operations are applied in the order they were accepted, one job at
 *     a time per lane (src/catalog/accept.ts), so they are one FIFO queue too (issue 15).
 *
 * Every queue of one (kind, lane) shares one hash tag, `<prefix>:{<kind>.<lane>}`: the keys our Lua
 * reads across a lane's queues (the ingest claim, per-profile order) sit in one Redis Cluster slot.
 *
 * Queues are created by ingest, which knows the source; the workers learn of them from a registry,
 * a set per (kind, lane) that ingest adds each name to (`<bullPrefix>:queues`). Status, dead
 * letters, metrics, find, lane pause and the dashboard enumerate the same set.
 *
 * Names contain no other dots: lanes are `[a-z0-9_-]`, source ids `key-<hex>`, `src-<name>`,
 * `flow-<name>` or `klaviyo-webhooks`.
 */
import type { RedisClient as Redis } from './redis.ts';
import type { PriorityClass } from './priority.ts';
import { queueKeyPrefix, queueRegistryKey } from './redis-keys.ts';

export const JOB_KINDS = ['events', 'profiles', 'webhooks', 'catalog', 'back-in-stock', 'coupon-codes'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/**
 * The kinds queued per class and source. The others have one queue per lane, `<kind>.<lane>`:
 * webhook jobs only fan out into other queues; catalog work is applied one job at a time per lane
 * (its order is the order of acceptance); back-in-stock subscriptions and coupon codes
 * (issue 15) are steady, small streams with endpoints of their own, which need no classes.
 */
export const CLASSED_KINDS = ['events', 'profiles'] as const satisfies readonly JobKind[];

/** Whether a kind is queued per class and source. */
export function isClassed(kind: JobKind): boolean {
  return (CLASSED_KINDS as readonly JobKind[]).includes(kind);
}

export interface QueueRef {
  readonly kind: JobKind;
  readonly lane: string;
  readonly cls: PriorityClass;
  /** The source whose work it holds; absent for the legacy queue `<kind>.<lane>` (class live). */
  readonly source?: string;
}

const PART = /^[a-z0-9_-]{1,64}$/;
// Every kind of JOB_KINDS (a literal, so that the ReDoS test can check it: test/security/redos.test.ts).
const NAME = /^(events|profiles|webhooks|catalog|back-in-stock|coupon-codes)\.([a-z0-9_-]{1,64})(?:\.(live|bulk)\.([a-z0-9_-]{1,64}))?$/;

/** The legacy queue of a kind and lane (and the only webhooks or catalog queue of a lane). */
export function legacyRef(kind: JobKind, lane: string): QueueRef {
  return { kind, lane, cls: 'live' };
}

/** The queue new work of this kind, lane, class and source goes to. */
export function queueRef(kind: JobKind, lane: string, cls: PriorityClass, source: string): QueueRef {
  return isSingleQueue(kind) ? legacyRef(kind, lane) : { kind, lane, cls, source };
}

/** Kinds with one queue per lane, whatever the class and source. */
export function isSingleQueue(kind: JobKind): boolean {
  return !isClassed(kind);
}

export function isLegacy(ref: QueueRef): boolean {
  return ref.source === undefined;
}

export function queueName(ref: QueueRef): string {
  return ref.source === undefined ? `${ref.kind}.${ref.lane}` : `${ref.kind}.${ref.lane}.${ref.cls}.${ref.source}`;
}

/** The ref of a queue name, or undefined when it is not one of ours. */
export function parseQueueName(name: string): QueueRef | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const kind = m[1] as JobKind;
  if (m[3] === undefined) return legacyRef(kind, m[2]!);
  if (isSingleQueue(kind)) return undefined;
  return { kind, lane: m[2]!, cls: m[3] as PriorityClass, source: m[4]! };
}

/**
 * `<bullPrefix>:<queue>:` — what BullMQ puts before a job id and the queue's own keys. The braces
 * of the BullMQ prefix (`<prefix>:{<kind>.<lane>}`, src/redis-keys.ts) make `<kind>.<lane>` the hash
 * tag of every key BullMQ and we write for those queues, so in a Redis Cluster they share one slot
 * (BullMQ's Lua and ours require it) while lanes and kinds spread over the cluster.
 */
export function jobKeyPrefix(prefix: string, ref: QueueRef): string {
  return queueKeyPrefix(prefix, ref.kind, ref.lane, queueName(ref));
}

/** A queue name is added again this often, in case the registry was deleted (e.g. by an operator). */
export const REREGISTER_MS = 10 * 60_000;

/** The set of queues: ingest registers the ones it writes to, everyone else lists them. */
export class QueueCatalog {
  /** Names registered by this process, and when: one SADD per name per REREGISTER_MS. */
  private readonly registered = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    readonly prefix: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Before a job is added to `ref`: makes sure the workers can find the queue. */
  async register(ref: QueueRef): Promise<void> {
    if (isLegacy(ref)) return;
    const name = queueName(ref);
    const at = this.registered.get(name);
    const now = this.now();
    if (at !== undefined && now - at < REREGISTER_MS) return;
    // A bad part would make a name the parser reads back as another queue, or not at all.
    if (!PART.test(ref.lane) || !PART.test(ref.source!))
      throw new Error(`cannot name a queue for lane ${JSON.stringify(ref.lane)} and source ${JSON.stringify(ref.source)}`);
    await this.redis.sadd(queueRegistryKey(this.prefix, ref.kind, ref.lane), name);
    this.registered.set(name, now);
  }

  /** Every queue of a kind and lane: the legacy one first, then the registered ones by name. */
  async list(kind: JobKind, lane: string): Promise<QueueRef[]> {
    const out = [legacyRef(kind, lane)];
    if (isSingleQueue(kind)) return out;
    const names = (await this.redis.smembers(queueRegistryKey(this.prefix, kind, lane))).sort();
    for (const name of names) {
      const ref = parseQueueName(name);
      // Only this kind and lane's own names: anything else in the set is not a queue of ours.
      if (ref && !isLegacy(ref) && ref.kind === kind && ref.lane === lane) out.push(ref);
    }
    return out;
  }

  /** Every queue of these lanes (and kinds). */
  async all(lanes: readonly string[], kinds: readonly JobKind[] = JOB_KINDS): Promise<QueueRef[]> {
    const out: QueueRef[] = [];
    for (const lane of lanes) for (const kind of kinds) out.push(...(await this.list(kind, lane)));
    return out;
  }
}
