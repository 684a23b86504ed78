/**
 * Builds and runs the service from a Config: the HTTP API, the workers, or both. Entry points call
 * it after reading the environment; integration tests call it with a Config of their own.
 */
import { serve, type ServerType } from '@hono/node-server';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Hono } from 'hono';
import type { RedisClient as Redis } from '../redis.ts';
import type { Config } from '../config.ts';
import { createApp } from '../http/app.ts';
import { readCodeResults } from '../coupon-results.ts';
import { createCatalogIngest } from '../catalog/accept.ts';
import { createIngest, type Ingest } from '../ingest/ingest.ts';
import { tracedIngest } from '../tracing/traced-ingest.ts';
import { tracingOn } from '../tracing/tracer.ts';
import { createBacklogGuard } from '../ingest/backlog.ts';
import { createDurableIngest, type DurableIngest } from '../ingest/durable-ingest.ts';
import { createSourceLimiter, limitedSources } from '../ingest/source-limits.ts';
import { Spool } from '../ingest/spool.ts';
import { createKlaviyoClient, type FetchLike } from '../klaviyo/client.ts';
import { createWebhooksApi, type WebhooksApi } from '../klaviyo/webhooks.ts';
import { buildLanes, laneNames as fileLaneNames, SANDBOX_PLACEHOLDER_URL, type Lane, type QuotaScope } from '../lanes.ts';
import { DEFAULT_LANE } from '../queues.ts';
import { EMPTY_RELAY_FILE, type RelayFile } from '../relay-config.ts';
import type { Logger } from '../log.ts';
import { JOB_KINDS, Queues } from '../queues.ts';
import { CLASSED_KINDS, legacyRef, queueRef, type QueueRef } from '../queue-catalog.ts';
import { PRIORITY_CLASSES } from '../priority.ts';
import { flowSource, KLAVIYO_WEBHOOK_SOURCE } from '../http/routes/webhooks.ts';
import { dashboardRoutes } from '../http/dashboard.ts';
import { createDeadLetters } from '../ops/dead-letters.ts';
import { appendAudit, readAudit } from '../ops/audit.ts';
import { findJobs } from '../ops/find.ts';
import { defineDedupeMemoryScripts } from '../dedupe-memory.ts';
import { createEraser } from '../privacy/erasure.ts';
import { PayloadCipher, usePayloadCipher } from '../payload-cipher.ts';
import { statsKey } from '../redis-keys.ts';
import { pauseLane, resumeLane } from '../ops/lane-state.ts';
import { readStatus } from '../ops/status.ts';
import { describeQueue, sourceNamer } from '../ops/source-label.ts';
import type { Metrics } from '../metrics.ts';
import { registerQueueGauges } from '../ops/queue-gauges.ts';
import { createRedis } from '../redis.ts';
import { RedisRefusedError, verifyRedis } from './verify-redis.ts';
import { createReplayCache } from '../webhooks/replay-cache.ts';
import { createKlaviyoWebhookSecrets, deliveryStatsKey } from '../webhooks/klaviyo-secrets.ts';
import { createWebhookSecretStore } from '../webhooks/secret-store.ts';
import { createKlaviyoWebhookAdmin } from '../ops/klaviyo-webhooks.ts';
import { registerWebhookGauges } from '../ops/webhook-gauges.ts';
import { SourceRegistry } from '../sources.ts';
import { checkListpackSetting } from '../dedupe-memory.ts';
import { startWorkers, type WorkerRuntime } from '../../workers/start.ts';
import { createQuotaGovernor, DEFAULT_LIMITS } from '../quota/governor.ts';

export interface ServiceOptions {
  readonly config: Config;
  readonly log: Logger;
  readonly api: boolean;
  readonly workers: boolean;
  /** The in-process simulator's URL in sandbox mode. */
  readonly sandboxUrl?: string;
  /** Mounted at /sandbox in sandbox mode: a read-only view of what the sandbox received. */
  readonly sandboxView?: Hono;
  readonly fetch?: FetchLike;
  /** The RELAY_CONFIG file, already validated (accounts, sources, webhooks, rules). */
  readonly file?: RelayFile;
  /** This process's metrics registry (the entry point makes one). */
  readonly metrics?: Metrics;
}

export interface Service {
  /** Where the API listens (when it runs). */
  readonly url?: string;
  /** The Klaviyo accounts the workers deliver to (empty in an API-only process, which never calls Klaviyo). */
  readonly lanes: readonly Lane[];
  readonly queues: Queues;
  readonly workers?: WorkerRuntime;
  /** The HTTP app (when the API runs): tests read its routes. */
  readonly app?: Hono;
  /** Graceful stop: stop accepting, finish in-flight requests and active jobs (bounded), close connections. */
  close(): Promise<void>;
}

/**
 * How long a starting service waits for Redis to answer. Refused credentials or TLS fail at once;
 * this only bounds a Redis that is not up (yet), e.g. while a managed one fails over.
 */
const REDIS_START_TIMEOUT_MS = 10_000;

export async function startService(opts: ServiceOptions): Promise<Service> {
  const { config, log } = opts;
  // Before the connections that retry forever: a wrong password would otherwise leave the workers
  // waiting and the API spooling, looking like an outage instead of a configuration error.
  try {
    await verifyRedis(config.redis, REDIS_START_TIMEOUT_MS);
  } catch (err) {
    // Refused credentials or TLS end the start. A Redis that is simply not up is an outage, which
    // the service is built to ride out (the API spools, workers wait): start anyway, or a restart
    // during an outage would stop taking work that the spool could hold.
    if (!(err instanceof RedisRefusedError) || err.reason !== 'unreachable') throw err;
    log.warn({ err: err.message }, 'Redis does not answer yet; starting anyway (the API spools, workers wait)');
  }
  const file = opts.file ?? EMPTY_RELAY_FILE;
  // Before any job is written or read: the codecs of src/job-data.ts seal and open with it.
  usePayloadCipher(config.privacy.payloadKeys.length > 0 ? new PayloadCipher(config.privacy.payloadKeys) : undefined);
  const lanes = opts.workers ? buildLanes(config, file, opts.sandboxUrl) : [];
  /**
   * Every lane's name and quota scope, known to API-only processes too (they never call Klaviyo).
   * Without credentials (mode none) the scopes, hashes of the keys, are unknown: names only.
   */
  const apiLanes = config.klaviyo.mode === 'none' ? [] : buildLanes(config, file, opts.sandboxUrl ?? SANDBOX_PLACEHOLDER_URL);
  const laneScopes: { name: string; scope?: QuotaScope }[] =
    config.klaviyo.mode === 'none' ? fileLaneNames(file).map((name) => ({ name })) : apiLanes.map((l) => ({ name: l.name, scope: l.scope }));
  const laneNames = laneScopes.map((l) => l.name);
  const governorLimits = {
    ...DEFAULT_LIMITS,
    gatewayPerSecond: file.limits.gatewayPerSecond ?? DEFAULT_LIMITS.gatewayPerSecond,
    gatewayMarginMs: file.limits.gatewayMarginMs ?? DEFAULT_LIMITS.gatewayMarginMs,
    endpoints: file.limits.endpoints ?? {},
    bulkMinShare: file.priorities.bulkMinShare,
    liveGatewayReserve: file.priorities.liveGatewayReserve,
  };
  const sources = SourceRegistry.fromConfig(config.apiKeys, file);
  /** Names beside source ids in the status and the dashboard (`api-key-1` for `key-1a2b…`). */
  const sourceName = sourceNamer(sources.all());
  // Sources with a queued-bytes limit have their bytes counted per source, by the API and by the
  // workers (work their webhook rules make), so both must know them.
  const limited = limitedSources(file);
  const byteLimited = new Set(limited.filter((s) => s.limits.queuedBytes !== undefined).map((s) => s.id));
  const countsSourceBytes = (id: string) => byteLimited.has(id);
  /** RELAY_CONFIG `priorities.enabled` (default true): false makes every item live (src/priority.ts). */
  const priorities = { enabled: file.priorities?.enabled !== false };
  const policy = {
    attempts: config.jobs.attempts,
    keepCompletedS: config.jobs.keepCompletedS,
    keepFailedS: config.jobs.keepFailedS,
    keepFailedCount: config.jobs.keepFailedCount,
  };

  // Before anything connects: taking over a spool left under this process's name may wait a few
  // seconds, and fails start-up when another live process writes it.
  const spool =
    opts.api && config.ingest.spoolMaxBytes > 0 ? await Spool.open(config.ingest.spoolDir, config.instanceId, config.ingest.spoolMaxBytes) : undefined;
  const apiRedis: Redis | undefined = opts.api ? createRedis(config.redis, 'api') : undefined;
  const workerRedis: Redis | undefined = opts.workers ? createRedis(config.redis, 'worker') : undefined;
  // Find and replay use the dedupe memory's scripts on the API's connection: defined before traffic
  // (when it auto-pipelined, defining them on the first find broke a pending pipeline: a 500 under load).
  if (apiRedis) defineDedupeMemoryScripts(apiRedis);
  const queues = new Queues((apiRedis ?? workerRedis)!, config.queuePrefix, policy);

  const count = (redis: Redis) => async (counter: string, fields: Readonly<Record<string, number>>) => {
    const nonZero = Object.entries(fields).filter(([, n]) => n !== 0);
    if (nonZero.length === 0) return;
    const pipe = redis.pipeline();
    for (const [field, n] of nonZero) pipe.hincrby(statsKey(config.queuePrefix, counter), field, n);
    await pipe.exec();
  };

  // While tracing is on, each enqueue is a span and its jobs carry its trace (src/tracing/).
  const ingestOn = (redis: Redis): Ingest => {
    const ingest = createIngest(redis, queues, config.ingest.dedupTtlMs, { countsSourceBytes });
    return tracingOn() ? tracedIngest(ingest) : ingest;
  };

  let workers: WorkerRuntime | undefined;
  if (workerRedis) {
    workers = await startWorkers({
      rules: file.rules,
      ingest: ingestOn(workerRedis),
      count: count(workerRedis),
      connection: workerRedis,
      prefix: config.queuePrefix,
      lanes,
      governor: createQuotaGovernor(workerRedis, config.queuePrefix, governorLimits),
      gatewayPerSecond: governorLimits.gatewayPerSecond,
      log,
      concurrency: config.worker.concurrency,
      lingerMs: config.worker.lingerMs,
      pauseProbeMs: config.worker.pauseProbeMs,
      lockMs: config.worker.lockMs,
      catalogMaxJobs: config.worker.catalogMaxJobs,
      couponJobsMax: config.worker.couponJobsMax,
      profileIdCacheTtlS: config.privacy.profileIdCacheTtlS,
      metrics: opts.metrics,
      backoff: { baseMs: config.jobs.retryBaseMs, maxMs: config.jobs.retryMaxMs },
      fetch: opts.fetch,
      weightOf: (id) => sources.weightOf(id),
      knownQueues: configuredQueues(sources, file, priorities.enabled),
    });
  }

  let server: ServerType | undefined;
  let url: string | undefined;
  let durable: DurableIngest | undefined;
  let draining = false;
  let stopKeepAlive = () => undefined as undefined;
  let httpApp: Hono | undefined;
  if (apiRedis) {
    // Listen once the API's own connection is ready: a TLS handshake and AUTH take a moment, and
    // a request in that moment would be spooled (or, for profile operations, refused with 503)
    // although Redis is fine. Bounded: if Redis went away since verifyRedis, the spool covers.
    if (apiRedis.status !== 'ready') {
      let timer: NodeJS.Timeout | undefined;
      // Not events.once: it would reject on the 'error' of a reconnect attempt.
      await Promise.race([new Promise((r) => apiRedis.once('ready', r)), new Promise((r) => (timer = setTimeout(r, REDIS_START_TIMEOUT_MS)))]);
      clearTimeout(timer);
    }
    void checkListpackSetting(apiRedis, log);
    const { maxQueuedJobs, maxQueuedBytes } = config.ingest;
    const limiter = limited.length > 0 ? createSourceLimiter(apiRedis, config.queuePrefix, limited, log) : undefined;
    durable = createDurableIngest(
      ingestOn(apiRedis),
      apiRedis,
      spool,
      maxQueuedJobs > 0 || maxQueuedBytes > 0 ? createBacklogGuard(queues, apiRedis, { maxJobs: maxQueuedJobs, maxBytes: maxQueuedBytes }) : undefined,
      log,
      undefined,
      limiter,
    );
    const ingest = durable;
    if (opts.metrics) registerQueueGauges(opts.metrics, apiRedis, queues, laneNames, () => ingest.spooledBytes());
    // Klaviyo webhook subscriptions made from the relay (/ops/webhooks): their secrets live in Redis,
    // shared by every API process; their Klaviyo calls are paced by the same governor as the workers'.
    const webhookStore = createWebhookSecretStore(apiRedis, config.queuePrefix);
    const apiGovernor = createQuotaGovernor(apiRedis, config.queuePrefix, governorLimits);
    const webhookApis = new Map<string, WebhooksApi>(
      apiLanes.map((l) => [
        l.name,
        createWebhooksApi(createKlaviyoClient(l.target, opts.fetch), {
          take: (endpoint, signal) => apiGovernor.take(l.scope, endpoint, signal, 'live'),
          observe: (endpoint, info) => apiGovernor.observe(l.scope, endpoint, info),
        }),
      ]),
    );
    if (opts.metrics) registerWebhookGauges(opts.metrics, apiRedis, config.queuePrefix, webhookStore);
    const app = createApp({
      metricsToken: config.metricsToken,
      sources,
      ingest,
      catalog: createCatalogIngest(apiRedis, queues),
      maxBodyBytes: config.ingest.maxBodyBytes,
      log,
      // Ready = work can be accepted (Redis answers, or the spool has room) and, where they run
      // here, the workers run. `redis` is reported on its own so a degraded state is visible.
      readiness: async () => {
        const redis = await apiRedis.ping().then(
          (r) => r === 'PONG',
          () => false,
        );
        const checks: Record<string, boolean> = { redis, accepting: redis || ingest.canAccept() };
        if (workers) checks.workers = workers.isRunning();
        return { ready: checks.accepting! && checks.workers !== false, checks };
      },
      sandboxView: opts.sandboxView,
      couponResults: (source, couponId, requestId) => readCodeResults(apiRedis, config.queuePrefix, source.lane, source.id, couponId, requestId),
      erase: createEraser({ redis: apiRedis, queues, lanes: laneNames, spool, auditKeepS: config.privacy.auditKeepS }),
      replay: createReplayCache(apiRedis, config.queuePrefix),
      priorities,
      count: count(apiRedis),
      metrics: opts.metrics,
      ops: {
        adminToken: config.adminToken,
        deadLetters: createDeadLetters(apiRedis, queues, () => laneNames, {
          showPii: config.dashboard.showPii,
          prioritiesEnabled: priorities.enabled,
          revision: config.klaviyo.revision,
          auditKeepS: config.privacy.auditKeepS,
        }),
        audit: (n) => readAudit(apiRedis, config.queuePrefix, n),
        status: () =>
          readStatus(apiRedis, queues, laneScopes, apiGovernor, limiter, {
            limits: governorLimits,
            sourceName,
          }),
        lanes: laneNames,
        pause: async (lane, actor) => {
          await pauseLane(apiRedis, queues, lane, { since: Date.now(), status: 0, origin: 'relay', detail: `paused by ${actor}`, by: actor });
          await appendAudit(apiRedis, config.queuePrefix, { actor, action: 'lane.pause', lane }, config.privacy.auditKeepS);
        },
        resume: async (lane, actor) => {
          await resumeLane(apiRedis, queues, lane);
          await appendAudit(apiRedis, config.queuePrefix, { actor, action: 'lane.resume', lane }, config.privacy.auditKeepS);
        },
        find: (q) => findJobs(apiRedis, queues, laneNames, sources.ids(), q, config.ingest.dedupTtlMs),
        dashboard: dashboardRoutes(
          laneNames.flatMap((lane) => JOB_KINDS.map((kind) => queues.get(legacyRef(kind, lane)))),
          {
            basePath: '/ops/queues',
            readOnly: config.dashboard.readOnly,
            showPii: config.dashboard.showPii,
            describe: (ref) => describeQueue(ref, sourceName),
          },
          async () => (await queues.catalog.all(laneNames)).map((ref) => queues.get(ref)),
        ),
        klaviyoWebhooks: {
          admin: createKlaviyoWebhookAdmin({
            lanes: laneNames,
            api: (lane) => webhookApis.get(lane),
            store: webhookStore,
            appendAudit: (entry) => appendAudit(apiRedis, config.queuePrefix, entry, config.privacy.auditKeepS),
            deliveryStats: () => apiRedis.hgetall(deliveryStatsKey(config.queuePrefix)),
          }),
        },
      },
      webhooks: {
        rules: file.rules,
        // Without `klaviyoWebhooks` in the config file, deliveries of webhooks made with
        // `relay webhooks create` are still verified (their secrets are in Redis), with the defaults.
        klaviyo: file.klaviyoWebhooks
          ? {
              secrets: file.klaviyoWebhooks.secrets,
              toleranceMs: file.klaviyoWebhooks.toleranceSeconds * 1000,
              lane: file.klaviyoWebhooks.account,
            }
          : { secrets: [], toleranceMs: 300_000, lane: DEFAULT_LANE },
        klaviyoSecrets: createKlaviyoWebhookSecrets(webhookStore, apiRedis, config.queuePrefix),
        flows: Object.fromEntries(Object.entries(file.flows).map(([name, f]) => [name, { header: f.header, secret: f.secret, lane: f.account }])),
      },
    });
    httpApp = app as unknown as Hono;
    server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, port: config.port, hostname: config.host, serverOptions: httpTimeouts(config.http) }, () => resolve(s));
    });
    // A keep-alive connection idle this long is closed (Node's default, 5 s, unless configured).
    if ('keepAliveTimeout' in server) server.keepAliveTimeout = config.http.keepAliveTimeoutMs;
    // Responses in flight, so that shutdown can tell their keep-alive connections to close after them.
    const inFlight = new Set<ServerResponse>();
    server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
      if (draining) res.shouldKeepAlive = false;
      inFlight.add(res);
      res.once('close', () => inFlight.delete(res));
    });
    stopKeepAlive = () => {
      draining = true;
      for (const res of inFlight) res.shouldKeepAlive = false;
    };
    const addr = server.address() as AddressInfo;
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    url = `http://${host}:${addr.port}`;
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    lanes,
    queues,
    workers,
    app: httpApp,
    close() {
      closing ??= (async () => {
        const deadline = Date.now() + config.shutdownTimeoutMs;
        // Stop accepting: no new connections, and every open keep-alive connection closes after the
        // response it is serving (a client on one would otherwise keep sending for the whole wait).
        stopKeepAlive();
        if (server) await closeServer(server, config.shutdownTimeoutMs);
        durable?.stop();
        if (workers) await workers.close(Math.max(0, deadline - Date.now()));
        await queues.close();
        await Promise.all([apiRedis?.quit().catch(() => undefined), workerRedis?.quit().catch(() => undefined)]);
      })();
      return closing;
    },
  };
}

/**
 * The queues this configuration's sources write to: a source's own work in either class, and the
 * work Klaviyo's webhooks and flow webhooks turn into (live). The workers serve them from the
 * start instead of waiting to find them in the registry.
 */
function configuredQueues(sources: SourceRegistry, file: RelayFile, classesEnabled: boolean): QueueRef[] {
  const classes = classesEnabled ? PRIORITY_CLASSES : (['live'] as const);
  return [
    ...sources.all().flatMap((s) => CLASSED_KINDS.flatMap((kind) => classes.map((cls) => queueRef(kind, s.lane, cls, s.id)))),
    ...(file.klaviyoWebhooks ? CLASSED_KINDS.map((kind) => queueRef(kind, file.klaviyoWebhooks!.account, 'live', KLAVIYO_WEBHOOK_SOURCE)) : []),
    ...Object.entries(file.flows).flatMap(([name, f]) => CLASSED_KINDS.map((kind) => queueRef(kind, f.account, 'live', flowSource(name)))),
  ];
}

/**
 * Node's HTTP server against slow clients. Its defaults let a client hold a connection for a minute
 * by dribbling headers (headersTimeout 60 s) and five minutes by dribbling a body (requestTimeout
 * 300 s), and it looks for expired requests only every 30 s (connectionsCheckingInterval). Past a
 * timeout Node answers 408 and closes the connection.
 */
function httpTimeouts(t: Config['http']): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } {
  return { headersTimeout: t.headersTimeoutMs, requestTimeout: t.requestTimeoutMs, connectionsCheckingInterval: Math.min(1000, t.headersTimeoutMs / 2) };
}

/** Stop accepting connections, let in-flight requests finish (bounded), drop idle keep-alives. */
function closeServer(server: ServerType, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      if ('closeAllConnections' in server) server.closeAllConnections();
      resolve();
    }, timeoutMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    if ('closeIdleConnections' in server) server.closeIdleConnections();
  });
}
