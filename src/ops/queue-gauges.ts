/**
 * The gauges any API process can read from Redis at scrape time: jobs per queue and state, the
 * age of the oldest waiting job, dead letters, paused lanes, webhook counters, and this process's
 * spool. Queues are every queue in the catalog (per kind, lane, class and source).
 */
import type { RedisClient as Redis } from '../redis.ts';
import type { Metrics } from '../metrics.ts';
import type { Queues } from '../queues.ts';
import { queueName } from '../queue-catalog.ts';
import { pausedKey } from './lane-state.ts';

const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;

export function registerQueueGauges(metrics: Metrics, redis: Redis, queues: Queues, lanes: readonly string[], spooledBytes: () => number): void {
  metrics.addCollected('relay_jobs', 'Jobs per queue and state (failed = dead letters)', ['queue', 'state'], async (set) => {
    for (const ref of await queues.catalog.all(lanes)) {
      const counts = await queues.get(ref).getJobCounts(...STATES);
      for (const state of STATES) set({ queue: queueName(ref), state }, counts[state] ?? 0);
    }
  });
  metrics.addCollected('relay_dead_letters', 'Dead letters (failed jobs) per queue', ['queue'], async (set) => {
    for (const ref of await queues.catalog.all(lanes)) set({ queue: queueName(ref) }, await queues.get(ref).getFailedCount());
  });
  metrics.addCollected('relay_queue_oldest_waiting_seconds', 'Age of the oldest job waiting in each queue (0 when none waits)', ['queue'], async (set) => {
    for (const ref of await queues.catalog.all(lanes)) {
      const [oldest] = await queues.get(ref).getWaiting(-1, -1);
      set({ queue: queueName(ref) }, oldest ? Math.max(0, (Date.now() - oldest.timestamp) / 1000) : 0);
    }
  });
  metrics.addCollected('relay_lane_paused', '1 while a lane is paused because its credentials were refused', ['lane'], async (set) => {
    for (const lane of lanes) set({ lane }, (await redis.exists(pausedKey(queues.prefix, lane))) ? 1 : 0);
  });
  metrics.addCollected('relay_webhook_items', 'Klaviyo webhook items by outcome (matched/unmatched topic or flow, rules applied/filtered, rejected deliveries)', ['outcome'], async (set) => {
    const stats = await redis.hgetall(`${queues.prefix}:stats:webhooks`);
    const byOutcome = new Map<string, number>();
    for (const [field, n] of Object.entries(stats)) {
      // Fields are "<outcome>:<topic>"; the topic is left out so the label set stays small.
      const outcome = field.split(':')[0]!;
      byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + Number(n));
    }
    for (const [outcome, n] of byOutcome) set({ outcome }, n);
  });
  metrics.addCollected('relay_spool_bytes', "Bytes of accepted work in this process's local spool (Redis unreachable)", [], async (set) => set({}, spooledBytes()));
}
