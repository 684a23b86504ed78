/**
 * Starts the BullMQ workers for every lane and stops them cleanly.
 *
 * Per lane (issue 12): one BullMQ Worker per queue — per kind, class and source, plus the legacy
 * queue `<kind>.<lane>` that work queued by an older version drains from — opened as the queues
 * appear (workers/queue-pool.ts). Events of each class go through that class's batcher: live and
 * bulk never share a buffer, a worker slot or a batch, and within a class the buffer serves
 * sources by weight. Each class has its own budget of items in flight, split among its queues
 * (workers/in-flight.ts). Profile operations likewise go through their class's dispatcher.
 *
 * The job kinds are one table (`kinds` below): for each, what a lane builds for it once (batchers,
 * dispatchers, in-flight budgets) and how one of its queues is served (processor, concurrency).
 * One function opens every queue's Worker from it.
 */
import { Worker, type Job } from 'bullmq';
import type { RedisClient as Redis } from '../src/redis.ts';
import { createKlaviyoClient, type FetchLike } from '../src/klaviyo/client.ts';
import { MAX_QUEUED_COUPON_JOBS } from '../src/klaviyo/endpoints.ts';
import type { Lane } from '../src/lanes.ts';
import type { Logger } from '../src/log.ts';
import { createProfileOrder } from '../src/profile-order.ts';
import { JOB_KINDS, Queues, type JobKind } from '../src/queues.ts';
import {
  type BackInStockJobData,
  type CatalogJobData,
  type CouponCodesJobData,
  completedJobData,
  itemKeyOf,
  type EventsJobData,
  type ItemError,
  type ProfilesJobData,
  type StoredJob,
  type WebhooksJobData,
} from '../src/job-data.ts';
import { legacyRef, queueName, type QueueRef } from '../src/queue-catalog.ts';
import type { PriorityClass } from '../src/priority.ts';
import { countDelivered, markDone } from '../src/delivery-marks.ts';
import { markJobDone } from '../src/dedupe-memory.ts';
import { releaseQueuedBytes } from '../src/ingest/queued-bytes.ts';
import type { Ingest } from '../src/ingest/ingest.ts';
import type { Rule } from '../src/relay-config.ts';
import type { QuotaGovernor } from '../src/quota/governor.ts';
import type { Metrics } from '../src/metrics.ts';
import { registerClassShareGauge } from '../src/ops/class-share.ts';
import { registerGatewayGauges } from '../src/ops/gateway-use.ts';
import { GATEWAY_REQUESTS_PER_SECOND } from '../src/klaviyo/endpoints.ts';
import { jobHashKey, lanePausedKey } from '../src/redis-keys.ts';
import { webhooksProcessor, type Count } from './webhooks/processor.ts';
import { catalogProcessor } from './catalog/processor.ts';
import { JobSlots } from './catalog/job-slots.ts';
import { backInStockProcessor } from './back-in-stock/processor.ts';
import { couponCodesProcessor } from './coupons/processor.ts';
import { couponJobSlots } from './coupons/slots.ts';
import { Batcher } from './batcher.ts';
import { eventsProcessor, type EventBatcher } from './events/processor.ts';
import { eventSender } from './events/sender.ts';
import { createIdCache } from './profiles/id-cache.ts';
import { createProfileDispatcher } from './profiles/dispatcher.ts';
import { profilesProcessor } from './profiles/processor.ts';
import { backoffDelay, type BackoffSettings, type ItemOutcome } from './retry-policy.ts';
import { startLaneControl } from './lane-control.ts';
import { BULK_ITEMS_IN_FLIGHT, InFlightShare, LIVE_ITEMS_IN_FLIGHT } from './in-flight.ts';
import { startQueuePool, type QueuePool } from './queue-pool.ts';
import type { JobHooks } from './settle.ts';
import type { CallDeps } from './klaviyo-call.ts';
import { tracedJob } from './traced-job.ts';
import { tracingOn } from '../src/tracing/tracer.ts';

export interface WorkerRuntimeDeps {
  /** A worker-role connection (`maxRetriesPerRequest: null`); BullMQ duplicates it for blocking reads. */
  readonly connection: Redis;
  readonly prefix: string;
  readonly lanes: readonly Lane[];
  readonly governor: QuotaGovernor;
  /** The gateway's requests/s per key (RELAY_CONFIG limits.gatewayPerSecond): its utilisation gauge. */
  readonly gatewayPerSecond?: number;
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
  /** RELAY_PROFILE_ID_CACHE_TTL_S: how long a cached Klaviyo profile id is kept. */
  readonly profileIdCacheTtlS?: number;
  /** A source's weight within its class (RELAY_CONFIG `sources[].weight`; 1 for any other source). */
  readonly weightOf?: (sourceId: string) => number;
  /** How often the queue registry is read for new queues (default 5 s). */
  readonly discoverEveryMs?: number;
  /** The configured sources' queues: registered and served from the start, before their first job. */
  readonly knownQueues?: readonly QueueRef[];
  /** Catalog bulk jobs a lane may have in progress at Klaviyo (its cap: 500; RELAY_CATALOG_MAX_JOBS_IN_PROGRESS). */
  readonly catalogMaxJobs?: number;
  /** The first poll of a catalog bulk job after this long (default 250 ms). */
  readonly catalogPollMs?: number;
  /** Coupon-code bulk create jobs queued at Klaviyo at once, per account (default Klaviyo's 100). */
  readonly couponJobsMax?: number;
}

export interface WorkerRuntime {
  /** Every BullMQ Worker running now (more appear as queues do). */
  readonly workers: readonly Worker[];
  isRunning(): boolean;
  /** Stop taking jobs, flush batches, wait for active jobs up to `timeoutMs`, then stop waiting. */
  close(timeoutMs: number): Promise<void>;
}

const IN_FLIGHT: Record<PriorityClass, number> = { live: LIVE_ITEMS_IN_FLIGHT, bulk: BULK_ITEMS_IN_FLIGHT };
const YIELD: ItemOutcome = Object.freeze({ kind: 'yield' });

/** The data of each kind's jobs. */
interface JobDataOf {
  events: EventsJobData;
  profiles: ProfilesJobData;
  webhooks: WebhooksJobData;
  catalog: CatalogJobData;
  'back-in-stock': BackInStockJobData;
  'coupon-codes': CouponCodesJobData;
}
/** What the workers' event handlers read of any job. */
type WatchedJobData = JobDataOf[JobKind];

/** How a lane serves one job kind's queues. */
interface KindServer<D> {
  /** The processor of one of the kind's queues. */
  processor(ref: QueueRef): (job: Job<D>, token?: string) => Promise<unknown>;
  /**
   * Per class, its budget of items in flight, which the class's queues share by their sources'
   * weights (workers/in-flight.ts); or a fixed number of jobs per queue.
   */
  readonly concurrency: Readonly<Record<PriorityClass, InFlightShare>> | number;
}

/** What a lane's kinds build their servers from. */
interface LaneContext {
  readonly name: string;
  readonly log: Logger;
  /** Calls to Klaviyo for this lane, in a class. */
  callDeps(cls: PriorityClass): CallDeps;
  /** At close: `drain` sends what is buffered; `yieldAll` hands back what has not gone out yet. */
  onClose(drain: () => Promise<void>, yieldAll: () => void): void;
}

/** The job kinds: for each, how a lane serves its queues (made once per lane, shared by the lane's queues of that kind). */
type KindTable = { readonly [K in JobKind]: (lane: LaneContext) => KindServer<JobDataOf[K]> };

function perClass<T>(make: (cls: PriorityClass) => T): Record<PriorityClass, T> {
  return { live: make('live'), bulk: make('bulk') };
}

export async function startWorkers(deps: WorkerRuntimeDeps): Promise<WorkerRuntime> {
  const drains: (() => Promise<void>)[] = [];
  const yields: (() => void)[] = [];
  const weightOf = deps.weightOf ?? (() => 1);

  const queues = new Queues(deps.connection, deps.prefix, { attempts: 1, keepCompletedS: 0 }); // for key names only
  const order = createProfileOrder(deps.connection, queues);
  const idCache = createIdCache(deps.connection, deps.prefix, deps.profileIdCacheTtlS);
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
        if (o.kind === 'rejected') m?.deadLettered.inc({ kind, class: ref.cls, origin: o.error.origin, status: String(o.error.status) });
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
            'create_back_in_stock_subscription',
            'bulk_create_coupon_codes',
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
    registerGatewayGauges(m, deps.governor, deps.lanes, deps.gatewayPerSecond ?? GATEWAY_REQUESTS_PER_SECOND);
  }
  const locking = { lockDuration: deps.lockMs, stalledInterval: deps.lockMs };
  const settings = { backoffStrategy: (attemptsMade: number, _type?: string, err?: Error) => backoffDelay(attemptsMade, err, deps.backoff) };

  /**
   * A completed job: its items are done in the dedupe memory and its hash keeps no payload
   * (src/dedupe-memory.ts, issue 18). A job queued before issue 18 has no place in the memory:
   * its items' own keys say `done`, as they did then.
   */
  function markCompleted(job: Job<WatchedJobData>, kind: JobKind, qualifiedName: string): Promise<void> {
    const data = job.data as StoredJob<unknown>;
    if (data.d === undefined) return markDone(deps.connection, queues, kind, data.lane, job.data.items.map(itemKeyOf));
    return markJobDone(deps.connection, deps.prefix, kind, data.lane, data.d, {
      key: jobHashKey(qualifiedName, job.id!),
      data: JSON.stringify(completedJobData(data)),
      itemKeys: job.data.items.map(itemKeyOf),
    });
  }

  /** `log` is the lane's (it names the lane on every line). */
  function watch<D extends WatchedJobData>(worker: Worker<D, unknown>, kind: JobKind, log: Logger): Worker {
    // A completed job's items are done: from now on a resend of any of them is a duplicate at ingest.
    worker.on('completed', (job, result) => {
      markCompleted(job, kind, worker.qualifiedName).catch((err) => log.warn({ err }, 'could not mark items done'));
      // Finished: its bytes no longer count against queued-bytes limits (a lost release is healed, src/ingest/queued-bytes.ts).
      releaseQueuedBytes(deps.connection, deps.prefix, job).catch((err) => log.warn({ err }, 'could not release queued bytes'));
      log.info({ jobId: job.id, queue: worker.name, attempt: job.attemptsMade, items: job.data.items.length, result }, 'job completed');
    });
    worker.on('failed', (job, err) => {
      if (err.name === 'DelayedError') return;
      const final = job ? job.attemptsMade >= (job.opts.attempts ?? 1) || err.name === 'UnrecoverableError' : true;
      if (!final) m?.retries.inc({ queue: worker.name });
      if (final && job) releaseQueuedBytes(deps.connection, deps.prefix, job).catch((e) => log.warn({ err: e }, 'could not release queued bytes'));
      const dead = (job?.data as { dead?: { error: ItemError }[] } | undefined)?.dead;
      const status = dead?.[dead.length - 1]?.error.status;
      log[final ? 'warn' : 'info'](
        { jobId: job?.id, queue: worker.name, attempt: job?.attemptsMade, ...(status !== undefined ? { status } : {}), err: err.message },
        final ? 'job failed: dead letter' : 'job will be retried',
      );
    });
    worker.on('error', (err) => log.error({ err }, 'worker error'));
    return worker;
  }

  const inFlightShares = () => perClass((cls) => new InFlightShare(IN_FLIGHT[cls], deps.concurrency));
  const kinds: KindTable = {
    // Events: a batcher per class. Live sends a few waiting events one by one, in parallel
    // (create_event has its own window); bulk fills bulk requests (workers/events/sender.ts).
    events(lane) {
      const batchers = perClass((cls) => {
        const b: EventBatcher = new Batcher({
          ...eventSender(lane.callDeps(cls)),
          lingerMs: deps.lingerMs,
          maxInFlight: cls === 'live' ? 16 : 8,
          weightOf,
          onError: (err) => lane.log.warn({ err, class: cls }, 'event batcher: retrying after an error'),
        });
        lane.onClose(
          () => b.drain(),
          () => b.yieldAll(YIELD),
        );
        return b;
      });
      return { processor: (ref) => eventsProcessor(batchers[ref.cls], hooksFor(ref)), concurrency: inFlightShares() };
    },
    // Profiles: a dispatcher per class, like events' batchers. Per-profile order holds across the
    // classes: a live item promotes an earlier bulk one through the live dispatcher (processor.ts).
    profiles(lane) {
      const dispatchers = perClass((cls) => {
        const d = createProfileDispatcher(lane.callDeps(cls), idCache, lane.name, deps.lingerMs, undefined, weightOf);
        lane.onClose(
          () => d.drain(),
          () => d.yieldAll(),
        );
        return d;
      });
      return {
        processor: (ref) => profilesProcessor(dispatchers[ref.cls], order, hooksFor(ref), { ref, log: lane.log }),
        concurrency: inFlightShares(),
      };
    },
    // Webhook items only fan out into other queues: light work, modest concurrency, one queue.
    webhooks: () => ({ processor: () => webhooksProcessor(deps.rules, deps.ingest, deps.count), concurrency: 16 }),
    // Catalog operations apply in order: one job at a time per lane, in every process together
    // (BullMQ's global concurrency, set by ingest before the lane's first job: src/catalog/accept.ts), each job running many Klaviyo bulk jobs at
    // once within the lane's slots (Klaviyo's cap of jobs in progress).
    catalog(lane) {
      const slots = new JobSlots(deps.catalogMaxJobs ?? 500);
      const call = lane.callDeps('bulk');
      const processor = catalogProcessor({
        call,
        slots,
        redis: deps.connection,
        prefix: deps.prefix,
        hooks: hooksFor(legacyRef('catalog', lane.name)),
        pollFirstMs: deps.catalogPollMs,
      });
      return { processor: () => processor, concurrency: 1 };
    },
    // Back in stock: one call per subscription (no bulk endpoint), a few jobs at a time; the
    // governor paces them (workers/back-in-stock/processor.ts).
    'back-in-stock': (lane) => {
      const stopping = new AbortController();
      lane.onClose(
        async () => undefined,
        () => stopping.abort(),
      );
      return { processor: (ref) => backInStockProcessor(lane.callDeps('live'), hooksFor(ref), stopping.signal), concurrency: 4 };
    },
    // Coupon codes: a job is a Klaviyo job, which holds its worker slot while it is polled; the
    // account's queued-job cap is kept across processes by the slots (workers/coupons/slots.ts).
    'coupon-codes': (lane) => {
      const call = lane.callDeps('live');
      const slots = couponJobSlots(deps.connection, deps.prefix, call.scope.klaviyoAccount, deps.couponJobsMax ?? MAX_QUEUED_COUPON_JOBS);
      const stopping = new AbortController();
      lane.onClose(
        async () => undefined,
        () => stopping.abort(),
      );
      return {
        processor: (ref) => couponCodesProcessor({ call, slots, redis: deps.connection, prefix: deps.prefix, hooks: hooksFor(ref), stopping: stopping.signal }),
        concurrency: 16,
      };
    },
  };

  /** The BullMQ Worker of one queue. */
  function openWorker<D extends WatchedJobData>(ref: QueueRef, server: KindServer<D>, log: Logger): Worker {
    // The legacy queue holds every source's older work: it counts as one source of weight 1.
    const weight = ref.source === undefined ? 1 : weightOf(ref.source);
    const c = server.concurrency;
    const share = typeof c === 'number' ? undefined : c[ref.cls];
    // While tracing is on each job run is a span in the trace of the request that queued it.
    const processor = tracingOn() ? tracedJob(ref, server.processor(ref)) : server.processor(ref);
    const worker = new Worker<D, unknown>(queueName(ref), processor, {
      connection: deps.connection as never,
      prefix: queues.bullPrefix(ref.kind, ref.lane),
      concurrency: typeof c === 'number' ? c : c[ref.cls].initial(weight),
      settings,
      ...locking,
    });
    share?.add(worker, weight);
    return watch(worker, ref.kind, log);
  }

  const openers = new Map<string, (ref: QueueRef) => Worker>();
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
    const ctx: LaneContext = {
      name: lane.name,
      log,
      callDeps: (cls) => ({ ...base, cls }),
      onClose(drain, yieldAll) {
        drains.push(drain);
        yields.push(yieldAll);
      },
    };
    const serve = <K extends JobKind>(kind: K) => {
      const server = kinds[kind](ctx);
      openers.set(`${kind}\n${lane.name}`, (ref) => openWorker(ref, server, log));
    };
    for (const kind of JOB_KINDS) serve(kind);
  }

  const pool: QueuePool = await startQueuePool({
    catalog: queues.catalog,
    lanes: deps.lanes.map((l) => l.name),
    kinds: JOB_KINDS,
    open: (ref) => openers.get(`${ref.kind}\n${ref.lane}`)!(ref),
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
