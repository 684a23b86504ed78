/**
 * Starts the BullMQ workers for every lane and stops them cleanly.
 *
 * Concurrency is what feeds the batcher: to fill a 1,000-event bulk request the worker must hold
 * many jobs active at once. Jobs carry 1 to 100 items, so the number of active jobs adapts to keep
 * about TARGET_ITEMS_IN_FLIGHT items in memory: enough for full batches, flat memory on a backlog.
 * During a burst (10 bulk calls/s) several requests are in flight while the next ones fill; with
 * 3,000 items the batches went out ~90% full and a million-event drain ran at 93% of the ceiling
 * (bench/results/2026-11-27.json), so the target covers eight full batches.
 */
import { Worker } from 'bullmq';
import type { RedisClient as Redis } from '../src/redis.ts';
import { createKlaviyoClient, type FetchLike } from '../src/klaviyo/client.ts';
import type { Lane } from '../src/lanes.ts';
import type { Logger } from '../src/log.ts';
import { createProfileOrder } from '../src/profile-order.ts';
import { queueName, Queues, type EventsJobData, type ItemError, type JobKind, type ProfilesJobData, type WebhooksJobData } from '../src/queues.ts';
import { markDone } from '../src/ingest/enqueue.ts';
import { releaseQueuedBytes } from '../src/ingest/queued-bytes.ts';
import type { Ingest } from '../src/ingest/ingest.ts';
import type { Rule } from '../src/relay-config.ts';
import { webhooksProcessor, type Count, type WebhookResult } from './webhooks/processor.ts';
import { Batcher } from './batcher.ts';
import { eventsProcessor, type EventBatcher } from './events/processor.ts';
import { eventSender } from './events/sender.ts';
import { createIdCache } from './profiles/id-cache.ts';
import { createProfileDispatcher } from './profiles/dispatcher.ts';
import { profilesProcessor } from './profiles/processor.ts';
import type { QuotaGovernor } from './quota-governor.ts';
import { backoffDelay, type BackoffSettings, type ItemOutcome } from './retry-policy.ts';
import { startLaneControl } from './lane-control.ts';

const YIELD: ItemOutcome = Object.freeze({ kind: 'yield' });
import type { JobHooks, SettleResult } from './settle.ts';
import type { CallDeps } from './klaviyo-call.ts';
import type { Metrics } from '../src/metrics.ts';
import { countDelivered } from '../src/ops/status.ts';

export interface WorkerRuntimeDeps {
  /** A worker-role connection (`maxRetriesPerRequest: null`); BullMQ duplicates it for blocking reads. */
  readonly connection: Redis;
  readonly prefix: string;
  readonly lanes: readonly Lane[];
  readonly governor: QuotaGovernor;
  readonly log: Logger;
  /** Upper bound on jobs active at once per worker. */
  readonly concurrency: number;
  readonly lingerMs: number;
  readonly backoff: BackoffSettings;
  readonly fetch?: FetchLike;
  readonly rules: readonly Rule[];
  /** Where webhook rules put the work they produce. */
  readonly ingest: Ingest;
  readonly count: Count;
  /** How often a paused lane is probed (GET /api/accounts) to see if its credentials work again. */
  readonly pauseProbeMs: number;
  readonly metrics?: Metrics;
  /**
   * Job lock, renewed while the worker lives. A worker that dies (kill -9, a lost machine) holds its
   * jobs until the lock expires and the stalled check finds them: BullMQ's 30 s + 30 s made a
   * killed worker's jobs wait about a minute (fault suite, scenario a); 10 s + 10 s is ~20 s.
   */
  readonly lockMs: number;
}

export interface WorkerRuntime {
  readonly workers: readonly Worker[];
  isRunning(): boolean;
  /** Stop taking jobs, flush batches, wait for active jobs up to `timeoutMs`, then force. */
  close(timeoutMs: number): Promise<void>;
}

const TARGET_ITEMS_IN_FLIGHT = 8000;
const MIN_CONCURRENCY = 8;

export async function startWorkers(deps: WorkerRuntimeDeps): Promise<WorkerRuntime> {
  const workers: Worker[] = [];
  const drains: (() => Promise<void>)[] = [];
  const yields: (() => void)[] = [];

  const queues = new Queues(deps.connection, deps.prefix, { attempts: 1, keepCompletedS: 0 }); // for key names only
  const order = createProfileOrder(deps.connection, queues);
  const idCache = createIdCache(deps.connection, deps.prefix);
  const lanes = startLaneControl({ redis: deps.connection, queues, lanes: deps.lanes, governor: deps.governor, log: deps.log, probeIntervalMs: deps.pauseProbeMs, fetch: deps.fetch });
  const m = deps.metrics;
  const hooks: JobHooks = {
    onPaused: (lane: string, error: ItemError) => lanes.pause(lane, error),
    observe(kind, lane, acceptedAt, outcomes) {
      const latency = (Date.now() - acceptedAt) / 1000;
      let delivered = 0;
      for (const o of outcomes) {
        m?.items.inc({ kind, outcome: o.kind });
        if (o.kind === 'delivered') {
          delivered++;
          m?.deliveryLatency.observe({ kind }, latency);
        }
      }
      void countDelivered(deps.connection, deps.prefix, lane, kind, delivered).catch(() => undefined);
    },
  };
  if (m) {
    m.addCollected('relay_quota_headroom', 'Calls left now in each quota window, by lane, endpoint and window (burst, steady, gateway)', ['lane', 'endpoint', 'window'], async (set) => {
      for (const lane of deps.lanes) {
        for (const endpoint of ['create_event', 'bulk_create_events', 'create_or_update_profile', 'bulk_import_profiles', 'add_profiles_to_list', 'bulk_subscribe_profiles'] as const) {
          const h = await deps.governor.headroom(lane.scope, endpoint);
          set({ lane: lane.name, endpoint, window: 'burst' }, h.burst);
          set({ lane: lane.name, endpoint, window: 'steady' }, h.steady);
          if (h.gateway !== undefined) set({ lane: lane.name, endpoint: 'any', window: 'gateway' }, h.gateway);
        }
      }
    });
  }
  const locking = { lockDuration: deps.lockMs, stalledInterval: deps.lockMs };
  const settings = { backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) => backoffDelay(attemptsMade, err, deps.backoff) };

  function watch<D extends { src: string; lane: string; items: readonly { k: string }[]; b?: number; bs?: 1 }, R>(worker: Worker<D, R>, kind: JobKind, log: Logger): Worker<D, R> {
    // A completed job's items are done: from now on a resend of any of them is a duplicate at ingest.
    worker.on('completed', (job, result) => {
      markDone(deps.connection, queues, kind, job.data.lane, job.data.items.map((it) => it.k)).catch((err) => log.warn({ err }, 'could not mark items done'));
      // Finished: its bytes no longer count against queued-bytes limits (a lost release is healed, src/ingest/queued-bytes.ts).
      releaseQueuedBytes(deps.connection, deps.prefix, job).catch((err) => log.warn({ err }, 'could not release queued bytes'));
      log.info({ jobId: job.id, queue: worker.name, lane: job.data.lane, attempt: job.attemptsMade, items: job.data.items.length, result }, 'job completed');
    });
    worker.on('failed', (job, err) => {
      if (err.name === 'DelayedError') return;
      const final = job ? job.attemptsMade >= (job.opts.attempts ?? 1) || err.name === 'UnrecoverableError' : true;
      if (!final) m?.retries.inc({ queue: worker.name });
      if (final && job) releaseQueuedBytes(deps.connection, deps.prefix, job).catch((e) => log.warn({ err: e }, 'could not release queued bytes'));
      const dead = (job?.data as { dead?: { error: ItemError }[] } | undefined)?.dead;
      const status = dead?.[dead.length - 1]?.error.status;
      log[final ? 'warn' : 'info'](
        { jobId: job?.id, queue: worker.name, lane: job?.data.lane, attempt: job?.attemptsMade, ...(status !== undefined ? { status } : {}), err: err.message },
        final ? 'job failed: dead letter' : 'job will be retried',
      );
    });
    worker.on('error', (err) => log.error({ err }, 'worker error'));
    workers.push(worker as Worker);
    return worker;
  }

  for (const lane of deps.lanes) {
    const log = deps.log.child({ lane: lane.name });
    const callDeps: CallDeps = {
      client: createKlaviyoClient(lane.target, deps.fetch),
      governor: deps.governor,
      scope: lane.scope,
      log,
      onCall: m
        ? (endpoint, status, n, ms, origin) => {
            m.klaviyoRequests.inc({ lane: lane.name, endpoint, status: String(status) });
            m.klaviyoDuration.observe({ endpoint }, ms / 1000);
            m.klaviyoItems.inc({ endpoint }, n);
            if (status === 429) m.throttled.inc({ lane: lane.name, origin: origin ?? 'klaviyo' });
          }
        : undefined,
    };

    const batcher: EventBatcher = new Batcher({
      ...eventSender(callDeps),
      lingerMs: deps.lingerMs,
      maxInFlight: 8,
      onError: (err) => log.warn({ err }, 'event batcher: retrying after an error'),
    });
    drains.push(() => batcher.drain());
    yields.push(() => batcher.yieldAll(YIELD));
    const events = new Worker<EventsJobData, SettleResult>(queueName('events', lane.name), eventsProcessor(batcher, hooks), {
      connection: deps.connection as never,
      prefix: queues.bullPrefix('events', lane.name),
      concurrency: Math.min(deps.concurrency, TARGET_ITEMS_IN_FLIGHT),
      settings,
      ...locking,
    });
    adaptConcurrency(events, deps.concurrency);
    watch(events, 'events', log);

    const dispatcher = createProfileDispatcher(callDeps, idCache, lane.name, deps.lingerMs);
    drains.push(() => dispatcher.drain());
    yields.push(() => dispatcher.yieldAll());
    const profiles = new Worker<ProfilesJobData, SettleResult>(queueName('profiles', lane.name), profilesProcessor(dispatcher, order, hooks), {
      connection: deps.connection as never,
      prefix: queues.bullPrefix('profiles', lane.name),
      concurrency: Math.min(deps.concurrency, TARGET_ITEMS_IN_FLIGHT),
      settings,
      ...locking,
    });
    adaptConcurrency(profiles, deps.concurrency);
    watch(profiles, 'profiles', log);

    // Webhook items only fan out into other queues: light work, modest concurrency.
    watch(
      new Worker<WebhooksJobData, WebhookResult>(queueName('webhooks', lane.name), webhooksProcessor(deps.rules, deps.ingest, deps.count), {
        connection: deps.connection as never,
        prefix: queues.bullPrefix('webhooks', lane.name),
        concurrency: 16,
        settings,
        ...locking,
      }),
      'webhooks',
      log,
    );
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));

  let closing = false;
  return {
    workers,
    isRunning: () => !closing && workers.every((w) => w.isRunning()),
    /**
     * Stop taking jobs and send what is buffered. Half-way through the allowance, whatever has not
     * gone out yet is handed back: its jobs return to the queue untouched (no attempt spent, no
     * lock left behind), and only requests already on the wire are waited for. Past the whole
     * allowance, the close is forced (those jobs return when their locks expire).
     */
    async close(timeoutMs) {
      closing = true;
      lanes.stop();
      const closed = Promise.all(workers.map((w) => w.close()));
      void Promise.all(drains.map((d) => d()));
      const yieldTimer = setTimeout(() => yields.forEach((y) => y()), timeoutMs / 2);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        closed.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs))),
      ]);
      clearTimeout(timer);
      clearTimeout(yieldTimer);
      if (timedOut) {
        deps.log.warn({ timeoutMs }, 'workers did not finish in time; forcing close (their jobs return to the queue when their locks expire)');
        await Promise.all(workers.map((w) => w.close(true)));
      }
    },
  };
}

/** Keeps about TARGET_ITEMS_IN_FLIGHT items active, whatever the number of items per job. */
function adaptConcurrency<D extends { items: readonly unknown[] }>(worker: Worker<D, SettleResult>, max: number): void {
  let avgItems = 1;
  worker.on('active', (job) => {
    avgItems = avgItems * 0.9 + Math.max(1, job.data.items.length) * 0.1;
    const want = Math.max(MIN_CONCURRENCY, Math.min(max, Math.round(TARGET_ITEMS_IN_FLIGHT / avgItems)));
    if (Math.abs(want - worker.concurrency) / worker.concurrency > 0.1) worker.concurrency = want;
  });
}

export type { ItemOutcome };
