/**
 * The gauges any API process can read from Redis at scrape time: jobs per queue and state, the
 * age of the oldest waiting job, dead letters, paused lanes, webhook counters, and this process's
 * spool. Queues are every queue in the catalog (per kind, lane, class and source); per class, the
 * backlog per source and the oldest waiting job's age (issue 12).
 */
import type { RedisClient as Redis } from '../redis.ts';
import type { Metrics } from '../metrics.ts';
import type { Queues } from '../queues.ts';
import { CLASSED_KINDS, JOB_KINDS, queueName, type JobKind, type QueueRef } from '../queue-catalog.ts';
import { PRIORITY_CLASSES, type PriorityClass } from '../priority.ts';
import { lanePausedKey, statsKey } from '../redis-keys.ts';
import { sourceLabel } from './source-label.ts';

const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;

interface QueueSnapshot {
  readonly ref: QueueRef;
  readonly counts: Readonly<Record<string, number>>;
  /** When the oldest waiting job was added (undefined: none waits). */
  readonly oldestAt?: number;
}

/**
 * Every queue's counts and oldest waiting job, read once per scrape: five gauges come from them,
 * and a scrape collects every gauge at once, so the calls made while a read is under way share it.
 * (Not reused after it ends: a later scrape sees the queues as they are then.)
 */
function snapshotter(queues: Queues, lanes: readonly string[]): () => Promise<QueueSnapshot[]> {
  let pending: Promise<QueueSnapshot[]> | undefined;
  return () =>
    (pending ??= (async () => {
      const refs = await queues.catalog.all(lanes);
      return Promise.all(
        refs.map(async (ref): Promise<QueueSnapshot> => {
          const q = queues.get(ref);
          const [counts, [oldest]] = await Promise.all([q.getJobCounts(...STATES), q.getWaiting(-1, -1)]);
          return { ref, counts, ...(oldest ? { oldestAt: oldest.timestamp } : {}) };
        }),
      );
    })().finally(() => (pending = undefined)));
}

const ageS = (s: QueueSnapshot, now: number) => (s.oldestAt === undefined ? 0 : Math.max(0, (now - s.oldestAt) / 1000));

export function registerQueueGauges(metrics: Metrics, redis: Redis, queues: Queues, lanes: readonly string[], spooledBytes: () => number): void {
  const snapshot = snapshotter(queues, lanes);
  metrics.addCollected('relay_jobs', 'Jobs per queue and state (failed = dead letters)', ['queue', 'state'], async (set) => {
    for (const s of await snapshot()) for (const state of STATES) set({ queue: queueName(s.ref), state }, s.counts[state] ?? 0);
  });
  metrics.addCollected('relay_dead_letters', 'Dead letters (failed jobs) per queue', ['queue'], async (set) => {
    for (const s of await snapshot()) set({ queue: queueName(s.ref) }, s.counts.failed ?? 0);
  });
  metrics.addCollected('relay_queue_oldest_waiting_seconds', 'Age of the oldest job waiting in each queue (0 when none waits)', ['queue'], async (set) => {
    const now = Date.now();
    for (const s of await snapshot()) set({ queue: queueName(s.ref) }, ageS(s, now));
  });
  metrics.addCollected(
    'relay_backlog',
    'Jobs waiting or delayed, by lane, kind, class and source (the source id of the queue; legacy = work queued by an older version, all = the webhooks queue)',
    ['lane', 'kind', 'class', 'source'],
    async (set) => {
      for (const s of await snapshot()) {
        set(
          { lane: s.ref.lane, kind: s.ref.kind, class: s.ref.cls, source: sourceLabel(s.ref) },
          (s.counts.waiting ?? 0) + (s.counts.prioritized ?? 0) + (s.counts.delayed ?? 0),
        );
      }
    },
  );
  metrics.addCollected(
    'relay_oldest_waiting_seconds',
    'Age of the oldest job waiting in any queue of a lane, kind and class (0 when none waits): live work waiting long is the thing to look at',
    ['lane', 'kind', 'class'],
    async (set) => {
      const now = Date.now();
      const all = await snapshot();
      for (const lane of lanes) {
        for (const kind of JOB_KINDS) {
          const classes: readonly PriorityClass[] = (CLASSED_KINDS as readonly JobKind[]).includes(kind) ? PRIORITY_CLASSES : ['live'];
          for (const cls of classes) {
            const mine = all.filter((s) => s.ref.lane === lane && s.ref.kind === kind && s.ref.cls === cls);
            set({ lane, kind, class: cls }, Math.max(0, ...mine.map((s) => ageS(s, now))));
          }
        }
      }
    },
  );
  metrics.addCollected('relay_lane_paused', '1 while a lane is paused because its credentials were refused', ['lane'], async (set) => {
    for (const lane of lanes) set({ lane }, (await redis.exists(lanePausedKey(queues.prefix, lane))) ? 1 : 0);
  });
  metrics.addCollected(
    'relay_webhook_items',
    'Klaviyo webhook items by outcome (matched/unmatched topic or flow, rules applied/filtered, rejected deliveries)',
    ['outcome'],
    async (set) => {
      const stats = await redis.hgetall(statsKey(queues.prefix, 'webhooks'));
      const byOutcome = new Map<string, number>();
      for (const [field, n] of Object.entries(stats)) {
        // Fields are "<outcome>:<topic>"; the topic is left out so the label set stays small.
        const outcome = field.split(':')[0]!;
        byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + Number(n));
      }
      for (const [outcome, n] of byOutcome) set({ outcome }, n);
    },
  );
  metrics.addCollected(
    'relay_tracking_messages',
    'Segment/RudderStack tracking API messages by type (track, identify, page, screen, group, alias, unknown) and outcome (accepted, ignored, rejected), since the counters began',
    ['type', 'outcome'],
    async (set) => {
      for (const [field, n] of Object.entries(await redis.hgetall(statsKey(queues.prefix, 'tracking')))) {
        const [type, outcome] = field.split(':');
        set({ type: type!, outcome: outcome ?? '' }, Number(n));
      }
    },
  );
  metrics.addCollected('relay_spool_bytes', "Bytes of accepted work in this process's local spool (Redis unreachable)", [], async (set) =>
    set({}, spooledBytes()),
  );
}
