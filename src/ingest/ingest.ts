/**
 * What every route (and every webhook rule) hands work to: events into the events queue of their
 * class and source, profile operations into the profiles queue of theirs with their place in the
 * per-profile order (which is lane-wide: it holds across classes and sources).
 */
import type { RedisClient as Redis } from '../redis.ts';
import { profileOrderKey, enterPending } from '../profile-order.ts';
import { profileOf } from '../model/profile-operation.ts';
import {
  encodeEventItem,
  encodeProfileItem,
  encodeProfileOp,
  encodeWebhookItem,
  type EventItem,
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
import { queueRef } from '../queue-catalog.ts';
import { createEnqueuer, type EnqueueResult } from './enqueue.ts';

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
  const enqueuer = createEnqueuer(redis, queues, dedupTtlMs);
  const bytesSource = (origin: Origin) => (opts.countsSourceBytes?.(origin.id) ? origin.id : undefined);
  // Work without a body (webhook rules) counts as its stored items' JSON.
  const sizeOf = (stored: readonly unknown[], bytes: number | undefined) => bytes ?? Buffer.byteLength(JSON.stringify(stored));
  // Items are stored as src/job-data.ts spells them: encoded here, where they enter the queues.
  return {
    events(origin, items, bytes) {
      const job = { source: origin.id, lane: origin.lane, acceptedAt: Date.now() };
      const stored = items.map(encodeEventItem);
      return enqueuer.enqueue(
        queueRef('events', origin.lane, origin.cls ?? 'live', origin.id),
        stored,
        (chunk: StoredEventItem[]) => newJobData(job, chunk),
        { group: origin.id, bytesSource: bytesSource(origin) },
        sizeOf(stored, bytes),
      );
    },
    profileOps(origin, ops, bytes) {
      const job = { source: origin.id, lane: origin.lane, acceptedAt: Date.now() };
      const items = ops.map((op) => encodeProfileItem(op, profileOrderKey(origin.lane, profileOf(op.operation))));
      const ref = queueRef('profiles', origin.lane, origin.cls ?? 'live', origin.id);
      return enqueuer.enqueue(
        ref,
        items,
        (chunk: StoredProfileItem[]) => newJobData(job, chunk),
        {
          prepare: (jobs) => enterPending(redis, queues, ref, jobs),
          group: origin.id,
          bytesSource: bytesSource(origin),
        },
        bytes ?? sizeOf(ops.map(encodeProfileOp), undefined),
      );
    },
    webhooks(origin, items, bytes) {
      const job = { source: origin.id, lane: origin.lane, acceptedAt: Date.now() };
      // One job per item: each webhook item is its own unit of work and dead letter.
      const stored = items.map(encodeWebhookItem);
      return enqueuer.enqueue(
        queueRef('webhooks', origin.lane, 'live', origin.id),
        stored,
        (chunk: StoredWebhookItem[]) => newJobData(job, chunk),
        { itemsPerJob: 1, group: origin.id, bytesSource: bytesSource(origin) },
        sizeOf(stored, bytes),
      );
    },
  };
}
