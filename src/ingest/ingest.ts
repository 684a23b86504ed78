/**
 * What every route (and every webhook rule) hands work to: events into the events queue of their
 * class and source, profile operations into the profiles queue of theirs with their place in the
 * per-profile order (which is lane-wide: it holds across classes and sources).
 */
import type { RedisClient as Redis } from '../redis.ts';
import { profileOrderKey, enterPending } from '../profile-order.ts';
import { profileOf } from '../model/profile-operation.ts';
import {
  type BackInStockItem,
  type CouponCodeItem,
  encodeBackInStockItem,
  encodeCouponCodeItem,
  type StoredBackInStockItem,
  type StoredCouponCodeItem,
  encodeEventItem,
  encodeProfileItem,
  encodeProfileOp,
  encodeWebhookItem,
  type EventItem,
  type JobOrigin,
  newJobData,
  type ProfileItem,
  type StoredEventItem,
  type StoredProfileItem,
  type StoredWebhookItem,
  type WebhookItem,
} from '../job-data.ts';
import type { Queues } from '../queues.ts';
import type { Source } from '../sources.ts';
import type { PriorityClass } from '../priority.ts';
import { createJobWriter, type EnqueueResult, type EnqueueTarget } from './enqueue.ts';

/** Who sent the work, to which lane, and its class (unset = live: webhook rules, older spool records). */
export type Origin = Pick<Source, 'id' | 'lane'> & { readonly cls?: PriorityClass };

/** A part of one request: its items of one class. */
export interface RequestPart {
  readonly cls: PriorityClass;
  readonly items: number;
}

/**
 * `bytes`: the size of the request body that carried the items, what queued-bytes limits count
 * (src/ingest/queued-bytes.ts); without it (work made by webhook rules) the items' JSON is measured.
 * `admitted`: `admit` already let this request in (its parts are not checked again).
 */
export interface Ingest {
  events(origin: Origin, items: readonly EventItem[], bytes?: number, admitted?: boolean): Promise<EnqueueResult>;
  profileOps(origin: Origin, ops: readonly ProfileItem[], bytes?: number, admitted?: boolean): Promise<EnqueueResult>;
  webhooks(origin: Origin, items: readonly WebhookItem[], bytes?: number, admitted?: boolean): Promise<EnqueueResult>;
  /** Back-in-stock subscriptions and coupon codes (issue 15): one queue per lane each, whatever the class. */
  backInStock(origin: Origin, items: readonly BackInStockItem[], bytes?: number, admitted?: boolean): Promise<EnqueueResult>;
  couponCodes(origin: Origin, items: readonly CouponCodeItem[], bytes?: number, admitted?: boolean): Promise<EnqueueResult>;
  /**
   * For a request that goes in as several calls (one per class, src/http/ingest-by-class.ts): the
   * checks each call would make before taking work — backpressure on each part's queue, the
   * source's limits once for the whole request — made before any of it is taken, so the request
   * is taken or refused as a whole. Absent where nothing is checked (straight into Redis).
   */
  admit?(kind: 'events' | 'profileOps', origin: Origin, parts: readonly RequestPart[], bytes: number): Promise<void>;
}

export interface IngestOptions {
  /** Sources whose queued bytes are counted per source (those with `limits.queuedBytes`). */
  readonly countsSourceBytes?: (sourceId: string) => boolean;
}

export function createIngest(redis: Redis, queues: Queues, dedupTtlMs: number, opts: IngestOptions = {}): Ingest {
  const countsSourceBytes = opts.countsSourceBytes;
  // One writer per kind, made once: what its jobs hold depends only on where they go.
  const originOf = (t: EnqueueTarget, acceptedAt: number): JobOrigin => ({ source: t.source, lane: t.lane, acceptedAt });
  const events = createJobWriter(redis, queues, dedupTtlMs, {
    kind: 'events',
    data: (t, items: StoredEventItem[], at) => newJobData(originOf(t, at), items),
    countsSourceBytes,
  });
  const profiles = createJobWriter(redis, queues, dedupTtlMs, {
    kind: 'profiles',
    data: (t, items: StoredProfileItem[], at) => newJobData(originOf(t, at), items),
    prepare: (ref, jobs) => enterPending(redis, queues, ref, jobs),
    countsSourceBytes,
  });
  const webhooks = createJobWriter(redis, queues, dedupTtlMs, {
    kind: 'webhooks',
    data: (t, items: StoredWebhookItem[], at) => newJobData(originOf(t, at), items),
    // One job per item: each webhook item is its own unit of work and dead letter.
    itemsPerJob: 1,
    countsSourceBytes,
  });
  const backInStock = createJobWriter(redis, queues, dedupTtlMs, {
    kind: 'back-in-stock',
    data: (t, items: StoredBackInStockItem[], at) => newJobData(originOf(t, at), items),
    countsSourceBytes,
  });
  const couponCodes = createJobWriter(redis, queues, dedupTtlMs, {
    kind: 'coupon-codes',
    data: (t, items: StoredCouponCodeItem[], at) => newJobData(originOf(t, at), items),
    // One job is one Klaviyo coupon-code bulk create job: up to 1,000 codes (OAS bulk_create_coupon_codes).
    itemsPerJob: 1000,
    countsSourceBytes,
  });
  const targetOf = (origin: Origin): EnqueueTarget => ({ lane: origin.lane, cls: origin.cls ?? 'live', source: origin.id });
  // Work without a body (webhook rules) counts as its stored items' JSON.
  const sizeOf = (stored: readonly unknown[], bytes: number | undefined) => bytes ?? Buffer.byteLength(JSON.stringify(stored));
  // Items are stored as src/job-data.ts spells them: encoded here, where they enter the queues.
  return {
    events(origin, items, bytes) {
      const stored = items.map(encodeEventItem);
      return events.enqueue(targetOf(origin), stored, sizeOf(stored, bytes));
    },
    profileOps(origin, ops, bytes) {
      const stored = ops.map((op) => encodeProfileItem(op, profileOrderKey(origin.lane, profileOf(op.operation))));
      return profiles.enqueue(targetOf(origin), stored, bytes ?? sizeOf(ops.map(encodeProfileOp), undefined));
    },
    // Webhook jobs have one queue per lane, whatever the class (src/queue-catalog.ts).
    webhooks(origin, items, bytes) {
      const stored = items.map(encodeWebhookItem);
      return webhooks.enqueue({ ...targetOf(origin), cls: 'live' }, stored, sizeOf(stored, bytes));
    },
    backInStock(origin, items, bytes) {
      const stored = items.map(encodeBackInStockItem);
      return backInStock.enqueue({ ...targetOf(origin), cls: 'live' }, stored, sizeOf(stored, bytes));
    },
    couponCodes(origin, items, bytes) {
      const stored = items.map(encodeCouponCodeItem);
      return couponCodes.enqueue({ ...targetOf(origin), cls: 'live' }, stored, sizeOf(stored, bytes));
    },
  };
}
