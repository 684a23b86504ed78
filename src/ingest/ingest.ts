/**
 * What every route (and every webhook rule) hands work to: events into the events queue, profile
 * operations into the profiles queue with their place in the per-profile order.
 */
import type { RedisClient as Redis } from '../redis.ts';
import { profileOrderKey, enterPending } from '../profile-order.ts';
import { refOf, type ProfileOp } from '../model/profile-op.ts';
import type { EventItem, EventsJobData, ProfileItem, ProfilesJobData, Queues, WebhookItem, WebhooksJobData } from '../queues.ts';
import type { Source } from '../sources.ts';
import { createEnqueuer, type EnqueueResult } from './enqueue.ts';

export type Origin = Pick<Source, 'id' | 'lane'>;

export interface NewProfileOp {
  readonly k: string;
  readonly id: string;
  readonly o: ProfileOp;
}

export interface Ingest {
  events(origin: Origin, items: readonly EventItem[]): Promise<EnqueueResult>;
  profileOps(origin: Origin, ops: readonly NewProfileOp[]): Promise<EnqueueResult>;
  webhooks(origin: Origin, items: readonly WebhookItem[]): Promise<EnqueueResult>;
}

export function createIngest(redis: Redis, queues: Queues, dedupTtlMs: number): Ingest {
  const enqueuer = createEnqueuer(redis, queues, dedupTtlMs);
  return {
    events(origin, items) {
      const at = Date.now();
      return enqueuer.enqueue('events', origin.lane, items, (chunk): EventsJobData => ({ v: 1, src: origin.id, lane: origin.lane, at, items: chunk }), { group: origin.id });
    },
    profileOps(origin, ops) {
      const at = Date.now();
      const items: ProfileItem[] = ops.map((op) => ({ ...op, pk: profileOrderKey(origin.lane, refOf(op.o)), seq: 0 }));
      return enqueuer.enqueue('profiles', origin.lane, items, (chunk): ProfilesJobData => ({ v: 1, src: origin.id, lane: origin.lane, at, items: chunk }), {
        prepare: (jobs) => enterPending(redis, queues, origin.lane, jobs),
        group: origin.id,
      });
    },
    webhooks(origin, items) {
      const at = Date.now();
      // One job per item: each webhook item is its own unit of work and dead letter.
      return enqueuer.enqueue('webhooks', origin.lane, items, (chunk): WebhooksJobData => ({ v: 1, src: origin.id, lane: origin.lane, at, items: chunk }), { itemsPerJob: 1, group: origin.id });
    },
  };
}
