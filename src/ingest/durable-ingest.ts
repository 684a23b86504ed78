/**
 * Ingest that never answers 2xx for work it does not hold: straight into Redis when it can, into
 * the local spool (fsync'ed) when Redis fails, and 503 only when the spool is full too. A loop
 * moves the spool into Redis, in order, once Redis answers again.
 *
 * Profile operations are never spooled. Their order is taken from Redis when they enter it
 * (src/profile-order.ts), and a spool is one process's: with several API processes, a caller's
 * next operation for the profile, sent to another process after this one's 2xx, would reach Redis
 * — and Klaviyo — first (the cluster test saw a list unsubscribe land after the later subscribe).
 * So while Redis cannot take them they get a 503 and the caller retries, keeping the order.
 */
import type { RedisClient as Redis } from '../redis.ts';
import type { Logger } from '../log.ts';
import type { EnqueueResult } from './enqueue.ts';
import type { Ingest, Origin, RequestPart } from './ingest.ts';
import type { BacklogGuard } from './backlog.ts';
import type { SourceLimiter } from './source-limits.ts';
import type { Spool, SpoolRecord } from './spool.ts';
import { queueRef } from '../queue-catalog.ts';
import {
  type BackInStockItem,
  type CouponCodeItem,
  decodeBackInStockItem,
  decodeCouponCodeItem,
  encodeBackInStockItem,
  encodeCouponCodeItem,
  type StoredBackInStockItem,
  type StoredCouponCodeItem,
  decodeEventItem,
  decodeProfileItem,
  decodeWebhookItem,
  encodeEventItem,
  encodeProfileOp,
  encodeWebhookItem,
  type EventItem,
  type ProfileItem,
  type StoredEventItem,
  type StoredProfileOp,
  type StoredWebhookItem,
  type WebhookItem,
} from '../job-data.ts';

export interface DurableIngest extends Ingest {
  /** Bytes waiting in this process's spool (for metrics and /readyz). */
  spooledBytes(): number;
  /** Whether a request could be accepted now: Redis answers, or the spool has room. */
  canAccept(): boolean;
  stop(): void;
}

/** A slow Redis must not hold a request forever: past this, the work goes to the spool. */
const REDIS_TIMEOUT_MS = 2000;
/** How often calls waiting on Redis are checked against it: a call fails 2.0–2.1 s after it began. */
const SWEEP_MS = 100;

const KIND = { events: 'events', profileOps: 'profiles', webhooks: 'webhooks', backInStock: 'back-in-stock', couponCodes: 'coupon-codes' } as const;

/**
 * A spool record keeps its items as jobs store them (src/job-data.ts): records written by any
 * version read back the same. Encoded on the way in, decoded on the way out to Redis.
 */
const SPOOLED: Record<SpoolRecord['m'], { encode(item: unknown): unknown; decode(stored: unknown): unknown }> = {
  events: { encode: (it) => encodeEventItem(it as EventItem), decode: (s) => decodeEventItem(s as StoredEventItem) },
  profileOps: { encode: (it) => encodeProfileOp(it as ProfileItem), decode: (s) => decodeProfileItem(s as StoredProfileOp) },
  webhooks: { encode: (it) => encodeWebhookItem(it as WebhookItem), decode: (s) => decodeWebhookItem(s as StoredWebhookItem) },
  backInStock: { encode: (it) => encodeBackInStockItem(it as BackInStockItem), decode: (s) => decodeBackInStockItem(s as StoredBackInStockItem) },
  couponCodes: { encode: (it) => encodeCouponCodeItem(it as CouponCodeItem), decode: (s) => decodeCouponCodeItem(s as StoredCouponCodeItem) },
};

const toStored = (rec: SpoolRecord): SpoolRecord => ({ ...rec, items: rec.items.map(SPOOLED[rec.m].encode) });
const fromStored = (rec: SpoolRecord): SpoolRecord => ({ ...rec, items: rec.items.map(SPOOLED[rec.m].decode) });

/** Redis cannot take an operation that must keep its place in a profile's order: 503, retry. */
export class OrderedWorkUnavailableError extends Error {
  override readonly name = 'OrderedWorkUnavailableError';
}

export function createDurableIngest(
  inner: Ingest,
  redis: Redis,
  spool: Spool | undefined,
  backlog: BacklogGuard | undefined,
  log: Logger,
  drainEveryMs = 500,
  limits?: SourceLimiter,
): DurableIngest {
  let draining = false;

  // Calls waiting on Redis, oldest first (one timeout for all, so insertion order is deadline
  // order), and one timer that fails those past REDIS_TIMEOUT_MS — running only while some wait. A
  // timer and a Promise.race per call cost ~1 µs of every ingest request (issue 18).
  const waiting = new Set<{ readonly deadline: number; readonly reject: (err: Error) => void }>();
  let sweeper: NodeJS.Timeout | undefined;
  function sweep(): void {
    const now = performance.now();
    for (const w of waiting) {
      if (w.deadline > now) break;
      waiting.delete(w);
      w.reject(new Error(`Redis did not acknowledge within ${REDIS_TIMEOUT_MS} ms`));
    }
    if (waiting.size === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  }

  function viaRedis(rec: SpoolRecord): Promise<EnqueueResult> {
    return new Promise((resolve, reject) => {
      const w = { deadline: performance.now() + REDIS_TIMEOUT_MS, reject };
      waiting.add(w);
      sweeper ??= setInterval(sweep, SWEEP_MS).unref();
      (inner[rec.m] as (o: Origin, items: readonly unknown[], bytes?: number) => Promise<EnqueueResult>)(rec.o, rec.items, rec.b).then(
        (r) => {
          waiting.delete(w);
          resolve(r);
        },
        (err: unknown) => {
          waiting.delete(w);
          reject(err);
        },
      );
    });
  }

  function toSpool(rec: SpoolRecord): EnqueueResult {
    spool!.append(toStored(rec)); // fsync'ed; throws SpoolFullError when full → 503
    return { enqueued: rec.items.length, duplicates: 0, jobIds: [], spooled: true };
  }

  /**
   * Backpressure on each part's queue (BacklogFullError → 503), then the source's own limits for
   * all the parts together (SourceLimitedError → 429): a Redis round trip only for a limited
   * source. Spooled work already passed them, so the spool's drain does not ask again.
   */
  function checks(m: SpoolRecord['m'], o: Origin, parts: readonly RequestPart[], bytes: number): Promise<void> | undefined {
    for (const p of parts) backlog?.check(queueRef(KIND[m], o.lane, p.cls, o.id));
    return limits?.admit(
      o.id,
      parts.reduce((n, p) => n + p.items, 0),
      bytes,
    );
  }

  // Promise chains rather than async functions: these wait as long as Redis takes, and a suspended
  // async frame per request is more for the garbage collector to copy meanwhile (issue 18).
  function accept(rec: SpoolRecord, admitted = false): Promise<EnqueueResult> {
    try {
      const pending = admitted ? undefined : checks(rec.m, rec.o, [{ cls: rec.o.cls ?? 'live', items: rec.items.length }], rec.b ?? 0);
      return pending ? pending.then(() => store(rec)) : store(rec);
    } catch (err) {
      return Promise.reject(err); // a check that refused (BacklogFullError): a rejection, as from an async function
    }
  }

  function store(rec: SpoolRecord): Promise<EnqueueResult> {
    // Profile operations go straight to Redis, past any spooled events (events are not ordered
    // against them); everything else queues behind what is spooled.
    const ordered = rec.m === 'profileOps';
    if (!ordered && spool?.active) return spooledNow(rec);
    return viaRedis(rec).catch((err: unknown) => {
      const reason = err instanceof Error ? err.message : String(err);
      if (ordered) {
        log.warn({ err: reason, items: rec.items.length }, 'Redis did not take profile operations; answered 503');
        throw new OrderedWorkUnavailableError(reason);
      }
      if (!spool) throw err;
      log.warn({ err: reason, items: rec.items.length }, 'Redis did not take the work; spooled it locally');
      return toSpool(rec);
    });
  }

  /** toSpool, with a full spool's SpoolFullError as a rejection. */
  function spooledNow(rec: SpoolRecord): Promise<EnqueueResult> {
    try {
      return Promise.resolve(toSpool(rec));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async function drain(): Promise<void> {
    if (!spool || draining) return;
    if (spool.pendingFiles().length === 0) return;
    draining = true;
    try {
      if ((await redis.ping()) !== 'PONG') return;
      const n = await spool.drain(async (rec) => {
        await viaRedis(fromStored(rec));
      });
      if (n > 0) log.info({ records: n }, 'moved spooled work into Redis');
    } catch (err) {
      log.debug({ err }, 'spool drain paused; Redis still unavailable');
    } finally {
      draining = false;
    }
  }

  const timer = spool ? setInterval(() => void drain(), drainEveryMs) : undefined;
  timer?.unref();

  return {
    events: (o, items, b, admitted) => accept({ m: 'events', o, items, b }, admitted),
    profileOps: (o, items, b, admitted) => accept({ m: 'profileOps', o, items, b }, admitted),
    webhooks: (o, items, b, admitted) => accept({ m: 'webhooks', o, items, b }, admitted),
    backInStock: (o, items, b, admitted) => accept({ m: 'backInStock', o, items, b }, admitted),
    couponCodes: (o, items, b, admitted) => accept({ m: 'couponCodes', o, items, b }, admitted),
    admit: async (m, o, parts, bytes) => {
      await checks(m, o, parts, bytes);
    },
    spooledBytes: () => spool?.size ?? 0,
    canAccept: () => redis.status === 'ready' || (spool?.hasRoom(64 * 1024) ?? false),
    stop() {
      if (timer) clearInterval(timer);
      backlog?.stop();
      limits?.stop();
      spool?.close();
    },
  };
}
