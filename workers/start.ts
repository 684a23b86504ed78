/**
 * Starts the BullMQ workers for every lane and stops them cleanly.
 *
 * Per lane (issue 12): one BullMQ Worker per queue — per kind, class and source, plus the legacy
 * queue `<kind>.<lane>` that work queued by an older version drains from — opened as the queues
 * appear (workers/queue-pool.ts). Events of each class go through that class's batcher: live and
 * bulk never share a buffer, a worker slot or a batch, and within a class the buffer serves
 * sources by weight. Each class has its own budget of items in flight, split among its queues
 * (workers/in-flight.ts). Profile operations likewise go through their class's dispatcher.
 */
import { Worker } from 'bullmq';
import type { RedisClient as Redis } from '../src/redis.ts';
import { createKlaviyoClient, type FetchLike } from '../src/klaviyo/client.ts';
import type { Lane } from '../src/lanes.ts';
import type { Logger } from '../src/log.ts';
import { createProfileOrder } from '../src/profile-order.ts';
import { Queues, type JobKind } from '../src/queues.ts';
import { itemKeyOf, type EventsJobData, type ItemError, type ProfilesJobData, type WebhooksJobData } from '../src/job-data.ts';
import { queueName, type QueueRef } from '../src/queue-catalog.ts';
import type { PriorityClass } from '../src/priority.ts';
import { markDone } from '../src/ingest/enqueue.ts';
import { releaseQueuedBytes } from '../src/ingest/queued-bytes.ts';
import type { Ingest } from '../src/ingest/ingest.ts';
import type { Rule } from '../src/relay-config.ts';
import { webhooksProcessor, type Count, type WebhookResult } from './webhooks/processor.ts';
import { Batcher } from './batcher.ts';
import { eventsProcessor, type EventBatcher } from './events/processor.ts';
import { eventSender } from './events/sender.ts';
import { createIdCache } from './profiles/id-cache.ts';
import { createProfileDispatcher, type ProfileDispatcher } from './profiles/dispatcher.ts';
import { profilesProcessor } from './profiles/processor.ts';
import type { QuotaGovernor } from './quota-governor.ts';
import { backoffDelay, type BackoffSettings, type ItemOutcome } from './retry-policy.ts';
import { startLaneControl } from './lane-control.ts';
import { BULK_ITEMS_IN_FLIGHT, InFlightShare, LIVE_ITEMS_IN_FLIGHT } from './in-flight.ts';
import { startQueuePool, type QueuePool } from './queue-pool.ts';
import { lanePausedKey } from '../src/redis-keys.ts';

const YIELD: ItemOutcome = Object.freeze({ kind: 'yield' });
import type { JobHooks, SettleResult } from './settle.ts';
import type { CallDeps } from './klaviyo-call.ts';
import type { Metrics } from '../src/metrics.ts';
import { countDelivered } from '../src/ops/status.ts';
import { registerClassShareGauge } from '../src/ops/class-share.ts';

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
  /** A source's weight within its class (RELAY_CONFIG `sources[].weight`; 1 for any other source). */
  readonly weightOf?: (sourceId: string) => number;
  /** How often the queue registry is read for new queues (default 5 s). */
  readonly discoverEveryMs?: number;
  /** The configured sources' queues: registered and served from the start, before their first job. */
  readonly knownQueues?: readonly QueueRef[];
}

export interface WorkerRuntime {
  /** Every BullMQ Worker running now (more appear as queues do). */
  readonly workers: readonly Worker[];
  isRunning(): boolean;
  /** Stop taking jobs, flush batches, wait for active jobs up to `timeoutMs`, then stop waiting. */
  close(timeoutMs: number): Promise<void>;
}

const IN_FLIGHT: Record<PriorityClass, number> = { live: LIVE_ITEMS_IN_FLIGHT, bulk: BULK_ITEMS_IN_FLIGHT };
const CLASSES: readonly PriorityClass[] = ['live', 'bulk'];

export async function startWorkers(deps: WorkerRuntimeDeps): Promise<WorkerRuntime> {
  const drains: (() => Promise<void>)[] = [];
  const yields: (() => void)[] = [];
  const weightOf = deps.weightOf ?? (() => 1);

  const queues = new Queues(deps.connection, deps.prefix, { attempts: 1, keepCompletedS: 0 }); // for key names only
  const order = createProfileOrder(deps.connection, queues);
  const idCache = createIdCache(deps.connection, deps.prefix);
  const lanes = startLaneControl({
    redis: deps.connection,
    queues,
    lanes: deps.lanes,
    governor: deps.governor,
    log: deps.log,
    probeIntervalMs: deps.pauseProbeMs,
    fetch: deps.fetch,
  });
  const m = deps.metrics;
  /** What the processors of one queue report: outcomes count per queue (status) and per kind and class (metrics). */
  const hooksFor = (ref: QueueRef): JobHooks => ({
    onPaused: (lane: string, error: ItemError) => lanes.pause(lane, error),
    observe(kind, _lane, acceptedAt, outcomes) {
      const latency = (Date.now() - acceptedAt) / 1000;
      let delivered = 0;
      for (const o of outcomes) {
        m?.items.inc({ kind, class: ref.cls, outcome: o.kind });
        if (o.kind === 'delivered') {
          delivered++;
          m?.deliveryLatency.observe({ kind, class: ref.cls }, latency);
        }
      }
      void countDelivered(deps.connection, deps.prefix, ref, delivered).catch(() => undefined);
    },
  });
  if (m) {
    m.addCollected(
      'relay_quota_headroom',
      'Calls left now in each quota window, by lane, endpoint and window (burst, steady, gateway)',
      ['lane', 'endpoint', 'window'],
      async (set) => {
        for (const lane of deps.lanes) {
          for (const endpoint of [
            'create_event',
            'bulk_create_events',
            'create_or_update_profile',
            'bulk_import_profiles',
            'add_profiles_to_list',
            'bulk_subscribe_profiles',
          ] as const) {
            const h = await deps.governor.headroom(lane.scope, endpoint);
            set({ lane: lane.name, endpoint, window: 'burst' }, h.burst);
            set({ lane: lane.name, endpoint, window: 'steady' }, h.steady);
            if (h.gateway !== undefined) set({ lane: lane.name, endpoint: 'any', window: 'gateway' }, h.gateway);
          }
        }
      },
    );
    registerClassShareGauge(m, deps.governor, deps.lanes);
  }
  const locking = { lockDuration: deps.lockMs, stalledInterval: deps.lockMs };
  const settings = { backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) => backoffDelay(attemptsMade, err, deps.backoff) };

  function watch<D extends { src: string; lane: string; items: readonly { k: string }[]; b?: number; bs?: 1 }, R>(
    worker: Worker<D, R>,
    kind: JobKind,
    log: Logger,
  ): Worker<D, R> {
    // A completed job's items are done: from now on a resend of any of them is a duplicate at ingest.
    worker.on('completed', (job, result) => {
      markDone(deps.connection, queues, kind, job.data.lane, job.data.items.map(itemKeyOf)).catch((err) => log.warn({ err }, 'could not mark items done'));
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
    return worker;
  }

  /** A BullMQ Worker for one queue, its concurrency a share of its class's items in flight. */
  function itemsWorker<D extends { src: string; lane: string; items: readonly { k: string }[]; b?: number; bs?: 1 }>(
    ref: QueueRef,
    processor: (job: never, token?: string) => Promise<SettleResult>,
    share: InFlightShare,
    log: Logger,
  ): Worker {
    // The legacy queue holds every source's older work: it counts as one source of weight 1.
    const weight = ref.source === undefined ? 1 : weightOf(ref.source);
    const worker = new Worker<D, SettleResult>(queueName(ref), processor as never, {
      connection: deps.connection as never,
      prefix: queues.bullPrefix(ref.kind, ref.lane),
      concurrency: share.initial(weight),
      settings,
      ...locking,
    });
    share.add(worker as never, weight);
    return watch(worker, ref.kind, log) as unknown as Worker;
  }

  const opener = new Map<string, (ref: QueueRef) => Worker>();
  for (const lane of deps.lanes) {
    const log = deps.log.child({ lane: lane.name });
    const base: CallDeps = {
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
    const callDeps = (cls: PriorityClass): CallDeps => ({ ...base, cls });

    // Events: a batcher per class. Live sends a few waiting events one by one, in parallel
    // (create_event has its own window); bulk fills bulk requests (workers/events/sender.ts).
    const batchers = {} as Record<PriorityClass, EventBatcher>;
    for (const cls of CLASSES) {
      const b: EventBatcher = new Batcher({
        ...eventSender(callDeps(cls)),
        lingerMs: deps.lingerMs,
        maxInFlight: cls === 'live' ? 16 : 8,
        weightOf,
        onError: (err) => log.warn({ err, class: cls }, 'event batcher: retrying after an error'),
      });
      batchers[cls] = b;
      drains.push(() => b.drain());
      yields.push(() => b.yieldAll(YIELD));
    }
    const eventShares = { live: new InFlightShare(IN_FLIGHT.live, deps.concurrency), bulk: new InFlightShare(IN_FLIGHT.bulk, deps.concurrency) };
    opener.set(`events\n${lane.name}`, (ref) => itemsWorker<EventsJobData>(ref, eventsProcessor(batchers[ref.cls], hooksFor(ref)), eventShares[ref.cls], log));

    // Profiles: a dispatcher per class, like events' batchers. Per-profile order holds across the
    // classes: a live item promotes an earlier bulk one through the live dispatcher (processor.ts).
    const dispatchers = {} as Record<PriorityClass, ProfileDispatcher>;
    for (const cls of CLASSES) {
      const d = createProfileDispatcher(callDeps(cls), idCache, lane.name, deps.lingerMs, undefined, weightOf);
      dispatchers[cls] = d;
      drains.push(() => d.drain());
      yields.push(() => d.yieldAll());
    }
    const profileShares = { live: new InFlightShare(IN_FLIGHT.live, deps.concurrency), bulk: new InFlightShare(IN_FLIGHT.bulk, deps.concurrency) };
    opener.set(`profiles\n${lane.name}`, (ref) =>
      itemsWorker<ProfilesJobData>(ref, profilesProcessor(dispatchers[ref.cls], order, hooksFor(ref), { ref, log }), profileShares[ref.cls], log),
    );

    // Webhook items only fan out into other queues: light work, modest concurrency, one queue.
    opener.set(
      `webhooks\n${lane.name}`,
      (ref) =>
        watch(
          new Worker<WebhooksJobData, WebhookResult>(queueName(ref), webhooksProcessor(deps.rules, deps.ingest, deps.count), {
            connection: deps.connection as never,
            prefix: queues.bullPrefix(ref.kind, ref.lane),
            concurrency: 16,
            settings,
            ...locking,
          }),
          'webhooks',
          log,
        ) as unknown as Worker,
    );
  }

  const pool: QueuePool = await startQueuePool({
    catalog: queues.catalog,
    lanes: deps.lanes.map((l) => l.name),
    kinds: ['events', 'profiles', 'webhooks'],
    open: (ref) => opener.get(`${ref.kind}\n${ref.lane}`)!(ref),
    paused: async (lane) => (await deps.connection.exists(lanePausedKey(deps.prefix, lane))) === 1,
    known: deps.knownQueues,
    log: deps.log,
    intervalMs: deps.discoverEveryMs,
  });

  let closing = false;
  return {
    get workers() {
      return pool.workers();
    },
    isRunning: () => !closing && pool.workers().every((w) => w.isRunning()),
    /**
     * Stop taking jobs and send what is buffered. Half-way through the allowance, whatever has not
     * gone out yet is handed back: its jobs return to the queue untouched (no attempt spent, no
     * lock left behind), and only requests already on the wire are waited for. Past the whole
     * allowance, it stops waiting (those jobs return when their locks expire).
     */
    async close(timeoutMs) {
      closing = true;
      lanes.stop();
      pool.stop();
      const workers = pool.workers();
      const closed = Promise.all(workers.map((w) => w.close())).then(() => false);
      closed.catch(() => undefined); // a close that fails after we stopped waiting for it
      void Promise.all(drains.map((d) => d()));
      const yieldTimer = setTimeout(() => {
        for (const y of yields) y();
      }, timeoutMs / 2);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([closed, new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs)))]);
      clearTimeout(timer);
      clearTimeout(yieldTimer);
      // Past the allowance, stop waiting. (BullMQ's close(true) cannot force it: once a close is
      // under way it returns that close, which waits for the active jobs — a request on the wire,
      // a bulk import being polled — however long they take.)
      if (timedOut) deps.log.warn({ timeoutMs }, 'workers did not finish in time; stopped waiting (their jobs return to the queue when their locks expire)');
    },
  };
}
