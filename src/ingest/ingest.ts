/**
 * What every route (and every webhook rule) hands work to: events into the events queue of their
 * class and source, profile operations into the profiles queue of theirs with their place in the
 * per-profile order (which is lane-wide: it holds across classes and sources).
 */
import type { RedisClient as Redis } from '../redis.ts';
import { profileOrderKey, enterPending } from '../profile-order.ts';
import { refOf, type ProfileOp } from '../model/profile-op.ts';
import type { EventItem, EventsJobData, ProfileItem, ProfilesJobData, Queues, WebhookItem, WebhooksJobData } from '../queues.ts';
import type { Source } from '../sources.ts';
import type { PriorityClass } from '../priority.ts';
import { createJobWriter, type EnqueueResult, type EnqueueTarget } from './enqueue.ts';

/** Who sent the work, to which lane, and its class (unset = live: webhook rules, older spool records). */
export type Origin = Pick<Source, 'id' | 'lane'> & { readonly cls?: PriorityClass };

export interface NewProfileOp {
  readonly k: string;
  readonly id: string;
  readonly o: ProfileOp;
}

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
  profileOps(origin: Origin, ops: readonly NewProfileOp[], bytes?: number, admitted?: boolean): Promise<EnqueueResult>;
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
  const countsSourceBytes = opts.countsSourceBytes;
  // One writer per kind, made once: what its jobs hold depends only on where they go.
  const events = createJobWriter(redis, queues, dedupTtlMs, {
    kind: 'events',
    data: (t, items: EventItem[], at): EventsJobData => ({ v: 1, src: t.source, lane: t.lane, at, items }),
    countsSourceBytes,
  });
  const profiles = createJobWriter(redis, queues, dedupTtlMs, {
    kind: 'profiles',
    data: (t, items: ProfileItem[], at): ProfilesJobData => ({ v: 1, src: t.source, lane: t.lane, at, items }),
    prepare: (ref, jobs) => enterPending(redis, queues, ref, jobs),
    countsSourceBytes,
  });
  const webhooks = createJobWriter(redis, queues, dedupTtlMs, {
    kind: 'webhooks',
    data: (t, items: WebhookItem[], at): WebhooksJobData => ({ v: 1, src: t.source, lane: t.lane, at, items }),
    // One job per item: each webhook item is its own unit of work and dead letter.
    itemsPerJob: 1,
    countsSourceBytes,
  });
  const targetOf = (origin: Origin): EnqueueTarget => ({ lane: origin.lane, cls: origin.cls ?? 'live', source: origin.id });
  const sizeOf = (items: readonly unknown[], bytes: number | undefined) => bytes ?? Buffer.byteLength(JSON.stringify(items));
  return {
    events: (origin, items, bytes) => events.enqueue(targetOf(origin), items, sizeOf(items, bytes)),
    profileOps(origin, ops, bytes) {
      const items: ProfileItem[] = ops.map((op) => ({ ...op, pk: profileOrderKey(origin.lane, refOf(op.o)), seq: 0 }));
      return profiles.enqueue(targetOf(origin), items, sizeOf(ops, bytes));
    },
    // Webhook jobs have one queue per lane, whatever the class (src/queue-catalog.ts).
    webhooks: (origin, items, bytes) => webhooks.enqueue({ ...targetOf(origin), cls: 'live' }, items, sizeOf(items, bytes)),
  };
}
