/**
 * The service's settings: one zod schema over the environment.
 *
 * Only entry points call `loadConfig`; everything else receives the frozen `Config` (or the part
 * of it that it needs). Every problem is reported at once, as a readable list, so a user fixes
 * their environment in one go instead of one error per restart.
 */
import { availableParallelism, hostname } from 'node:os';
import { z } from 'zod';
import { shownValue } from './mask-secrets.ts';
import { resolveRedisSettings, type RedisSettings } from './redis-options.ts';
import { parsePayloadKeys, type PayloadKey } from './payload-cipher.ts';

/** Empty strings mean "not set": `FOO= npm start` must behave like `FOO` being absent. */
const optionalString = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();

/** A flag that may also be left unset (empty counts as unset), when "unset" means something of its own. */
const optionalBool = optionalString.pipe(z.stringbool().optional());

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const url = z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ''));

/** Klaviyo's revision header: a date, optionally with a suffix such as `.pre`. */
const revision = z.string().regex(/^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$/, 'must look like 2026-01-15');

const EnvSchema = z.object({
  PORT: int(0, 65535).default(3000),
  /** Unset: 127.0.0.1 in the sandbox (its dev key and PII views stay on this machine), 0.0.0.0 otherwise. */
  HOST: optionalString,
  /** `production` never runs the sandbox: missing credentials are an error there. */
  NODE_ENV: optionalString,
  /** Unset: the sandbox only for `npm start` (API + workers) without credentials; true: asked for; false: never. */
  RELAY_SANDBOX: optionalBool,
  REDIS_URL: z
    .string()
    .regex(/^rediss?(\+cluster)?:\/\/[^\s]+$/, 'must be a redis://, rediss://, redis+cluster:// or rediss+cluster://host:port,host:port URL')
    .default('redis://127.0.0.1:6379'),
  REDIS_CLUSTER_NODES: optionalString,
  // What a URL cannot carry well (src/redis-options.ts): secrets kept out of it, a private CA.
  REDIS_USERNAME: optionalString,
  REDIS_PASSWORD: optionalString,
  REDIS_TLS_CA_FILE: optionalString,
  REDIS_TLS_SERVERNAME: optionalString,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  MATON_API_KEY: optionalString,
  // Maton moved the gateway to api.maton.ai on 2026-04-30 (docs/klaviyo-and-maton.md §4); the old host may not last.
  MATON_GATEWAY_URL: url.default('https://api.maton.ai'),
  MATON_CONNECTION_ID: optionalString,
  KLAVIYO_API_KEY: optionalString,
  KLAVIYO_BASE_URL: url.default('https://a.klaviyo.com'),
  KLAVIYO_REVISION: revision.default('2026-07-15'),
  KLAVIYO_TIMEOUT_MS: int(100, 300_000).default(15_000),

  RELAY_API_KEYS: optionalString,
  RELAY_CONFIG: optionalString,
  RELAY_ADMIN_TOKEN: optionalString,
  RELAY_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.{}-]{1,64}$/, 'letters, digits, _ . - { } only')
    .default('relay'),
  RELAY_MAX_BODY_BYTES: int(1024, 50 * 1024 * 1024).default(5 * 1024 * 1024),
  RELAY_HTTP_HEADERS_TIMEOUT_MS: int(1000, 600_000).default(10_000),
  RELAY_HTTP_REQUEST_TIMEOUT_MS: int(1000, 3_600_000).default(30_000),
  RELAY_HTTP_KEEP_ALIVE_TIMEOUT_MS: int(1000, 600_000).default(5_000),
  RELAY_DEDUP_TTL_S: int(0, 30 * 86_400).default(86_400),
  RELAY_JOB_ATTEMPTS: int(1, 100).default(12),
  RELAY_RETRY_BASE_MS: int(1, 3_600_000).default(1_000),
  RELAY_RETRY_MAX_MS: int(1, 86_400_000).default(600_000),
  RELAY_BATCH_LINGER_MS: int(0, 10_000).default(200),
  // Klaviyo's cap on catalog bulk jobs in progress per account is 500 (OAS bulk_create_catalog_items).
  RELAY_CATALOG_MAX_JOBS_IN_PROGRESS: int(1, 500).default(500),
  RELAY_WORKER_CONCURRENCY: int(1, 20_000).default(2_000),
  // Klaviyo's cap (OAS bulk_create_coupon_codes: 100 queued jobs per account); lower it to leave room for other clients.
  RELAY_COUPON_JOBS_MAX: int(1, 100).default(100),
  RELAY_SHUTDOWN_TIMEOUT_MS: int(0, 600_000).default(25_000),
  RELAY_KEEP_COMPLETED_S: int(0, 30 * 86_400).default(3_600),
  RELAY_KEEP_FAILED_S: int(1, 365 * 86_400).default(30 * 86_400),
  RELAY_KEEP_FAILED_COUNT: int(1, 10_000_000).default(100_000),
  RELAY_SANDBOX_PORT: int(0, 65535).default(0),
  RELAY_START_REDIS: z.stringbool().default(true),
  RELAY_API_PROCESSES: int(0, 64).default(1),
  RELAY_PAUSE_PROBE_MS: int(1000, 3_600_000).default(15_000),
  RELAY_LOCK_MS: int(2000, 600_000).default(10_000),
  RELAY_SPOOL_DIR: z.string().min(1).default('.data/spool'),
  RELAY_INSTANCE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only (at most 64)')
    .optional(),
  /** Set by the primary for each API process it forks (src/runtime/api-processes.ts); not a user setting. */
  RELAY_API_PROCESS_INDEX: int(0, 63).default(0),
  RELAY_SPOOL_MAX_BYTES: int(0, 64 * 1024 ** 3).default(256 * 1024 ** 2),
  RELAY_MAX_QUEUED_JOBS: int(0, 100_000_000).default(250_000),
  RELAY_MAX_QUEUED_BYTES: int(0, 1024 ** 4).default(1024 ** 3),
  RELAY_METRICS_PORT: int(0, 65535).default(9464),
  /** Unset: 127.0.0.1 (a worker's /metrics is for a scraper on this machine unless said otherwise). */
  RELAY_METRICS_HOST: optionalString,
  RELAY_METRICS_TOKEN: optionalString,
  RELAY_LOG_PII: z.stringbool().default(false),
  RELAY_DASHBOARD_PII: z.stringbool().default(false),
  RELAY_DASHBOARD_READONLY: z.stringbool().default(false),
  // OpenTelemetry, by the standard names (opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/):
  // traces are off unless OTEL_TRACES_EXPORTER=otlp or an OTLP endpoint is set.
  OTEL_SDK_DISABLED: z.stringbool().default(false),
  OTEL_TRACES_EXPORTER: optionalString.pipe(z.enum(['otlp', 'none']).optional()),
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalString.pipe(url.optional()),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  OTEL_EXPORTER_OTLP_HEADERS: optionalString,
  OTEL_EXPORTER_OTLP_TRACES_HEADERS: optionalString,
  OTEL_EXPORTER_OTLP_PROTOCOL: optionalString.pipe(z.literal('http/json', 'only http/json is supported (OTLP over HTTP, JSON)').optional()),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: optionalString.pipe(z.literal('http/json', 'only http/json is supported (OTLP over HTTP, JSON)').optional()),
  OTEL_SERVICE_NAME: optionalString,
  OTEL_TRACES_SAMPLER: optionalString.pipe(z.enum(['always_on', 'traceidratio', 'parentbased_always_on', 'parentbased_traceidratio']).optional()),
  OTEL_TRACES_SAMPLER_ARG: optionalString.pipe(z.union([z.undefined(), z.coerce.number<string>().min(0).max(1)])),
  /**
   * Encryption at rest of job payloads (src/payload-cipher.ts): `<key id>:<32 bytes, base64>`,
   * comma-separated. The first key seals new payloads; every key listed opens them (rotation).
   */
  RELAY_PAYLOAD_KEYS: optionalString,
  // Retention of personal data the relay keeps outside jobs (README "What the relay stores about a person").
  RELAY_AUDIT_KEEP_S: int(3_600, 3_650 * 86_400).default(90 * 86_400),
  RELAY_PROFILE_ID_CACHE_TTL_S: int(60, 365 * 86_400).default(30 * 86_400),
});

/**
 * How Klaviyo is reached. `none`: no credentials, in an API-only process outside the sandbox — it
 * never calls Klaviyo (the workers do), so it needs none, but it is not the sandbox either.
 */
export type Mode = 'gateway' | 'direct' | 'sandbox' | 'none';

/** What a process runs; the sandbox is only ever picked on its own for both at once (`npm start`). */
export interface ProcessRoles {
  readonly api: boolean;
  readonly workers: boolean;
}
export const API_AND_WORKERS: ProcessRoles = Object.freeze({ api: true, workers: true });

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly redisUrl: string;
  /** Seed nodes of a Redis Cluster ("host:port,host:port"), when REDIS_CLUSTER_NODES is set. */
  readonly redisClusterNodes?: string;
  /** How every connection reaches Redis: the URL with credentials and TLS (src/redis-options.ts). */
  readonly redis: RedisSettings;
  readonly logLevel: string;
  readonly queuePrefix: string;
  /** Where and how the workers reach Klaviyo. In sandbox mode the entry point fills in the simulator's URL. */
  readonly klaviyo: {
    readonly mode: Mode;
    readonly gatewayUrl: string;
    readonly baseUrl: string;
    readonly matonApiKey?: string;
    readonly connectionId?: string;
    readonly apiKey?: string;
    readonly revision: string;
    readonly timeoutMs: number;
  };
  /** Path of the optional config file (accounts, sources, webhooks, rules). */
  readonly relayConfigPath?: string;
  /** Bearer keys accepted from backends. In sandbox mode with none set, the documented dev key. */
  readonly apiKeys: readonly string[];
  readonly usingDevKey: boolean;
  /** Token for /ops and the dashboard; in sandbox mode without one, the documented dev token. */
  readonly adminToken?: string;
  readonly ingest: {
    readonly maxBodyBytes: number;
    readonly dedupTtlMs: number;
    /** Local spool for when Redis is unreachable; maxBytes 0 = none (answer 503 instead). */
    readonly spoolDir: string;
    readonly spoolMaxBytes: number;
    /** Backpressure: jobs waiting per queue above which ingest answers 503; 0 = no limit. */
    readonly maxQueuedJobs: number;
    /** Backpressure: bytes of accepted work not yet finished per queue above which ingest answers 503; 0 = no limit. */
    readonly maxQueuedBytes: number;
  };
  readonly jobs: {
    readonly attempts: number;
    readonly retryBaseMs: number;
    readonly retryMaxMs: number;
    readonly keepCompletedS: number;
    /** Dead letters (failed jobs) per queue: kept this long, and at most this many. */
    readonly keepFailedS: number;
    readonly keepFailedCount: number;
  };
  readonly worker: {
    readonly concurrency: number;
    readonly lingerMs: number;
    readonly pauseProbeMs: number;
    /** BullMQ job lock; also how often stalled jobs (a worker that died) are looked for. */
    readonly lockMs: number;
    /** Catalog bulk jobs a lane keeps in progress at Klaviyo at most. */
    readonly catalogMaxJobs: number;
    /** Coupon-code bulk create jobs queued at Klaviyo at once, per account (RELAY_COUPON_JOBS_MAX). */
    readonly couponJobsMax: number;
  };
  /**
   * Against slow clients (slowloris): the whole header block must arrive within headersTimeoutMs,
   * the whole request within requestTimeoutMs; an idle keep-alive connection closes after
   * keepAliveTimeoutMs.
   */
  readonly http: { readonly headersTimeoutMs: number; readonly requestTimeoutMs: number; readonly keepAliveTimeoutMs: number };
  readonly shutdownTimeoutMs: number;
  readonly sandboxPort: number;
  readonly startRedis: boolean;
  /** HTTP API processes (node:cluster, one port); 0 = one per CPU core. */
  readonly apiProcesses: number;
  /**
   * This process's stable name: RELAY_INSTANCE_ID (default the host name and port) and the API
   * process index, so it is the same after a restart and differs between node:cluster siblings and
   * between API processes on one machine. Names the spool file.
   */
  readonly instanceId: string;
  /** Where a process running workers but no API serves /metrics. */
  readonly metricsPort: number;
  /** Its interface: loopback unless RELAY_METRICS_HOST says otherwise. */
  readonly metricsHost: string;
  /** Bearer token /metrics requires (API and worker processes) when set. */
  readonly metricsToken?: string;
  /** Log emails and phone numbers as they are (default: masked). */
  readonly logPii: boolean;
  readonly dashboard: { readonly showPii: boolean; readonly readOnly: boolean };
  readonly privacy: {
    /** Keys for job payloads in Redis, the first one sealing (empty: payloads stored as plain JSON). */
    readonly payloadKeys: readonly PayloadKey[];
    /** The audit stream keeps entries this long (and at most 10,000). */
    readonly auditKeepS: number;
    /** Klaviyo profile ids cached by identifier expire after this long. */
    readonly profileIdCacheTtlS: number;
  };
  /** OpenTelemetry traces (src/tracing/): absent = off, and nothing of it runs. */
  readonly tracing?: TracingSettings;
}

export interface TracingSettings {
  /** Where spans are posted: OTLP over HTTP, JSON. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly serviceName: string;
  /** Fraction of new traces kept (1: all); `parentBased`: a caller's sampled flag wins. */
  readonly ratio: number;
  readonly parentBased: boolean;
}

/** `k1=v1,k2=v2` (values percent-encoded), the OTEL_EXPORTER_OTLP_HEADERS form. */
function otlpHeaders(raw: string | undefined, name: string, problems: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (raw ?? '').split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      problems.push(`${name}: expected key=value pairs separated by commas`);
      continue;
    }
    try {
      out[decodeURIComponent(pair.slice(0, eq).trim())] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      problems.push(`${name}: a value is not percent-encoded correctly`);
    }
  }
  return out;
}

/** Off by default: on with OTEL_TRACES_EXPORTER=otlp, or with an OTLP endpoint and no exporter said. */
function tracingSettings(e: z.infer<typeof EnvSchema>, problems: string[]): TracingSettings | undefined {
  const endpoint = e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (e.OTEL_EXPORTER_OTLP_ENDPOINT ? `${e.OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces` : undefined);
  const on = !e.OTEL_SDK_DISABLED && (e.OTEL_TRACES_EXPORTER === 'otlp' || (e.OTEL_TRACES_EXPORTER === undefined && endpoint !== undefined));
  if (!on) return undefined;
  const sampler = e.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on';
  return Object.freeze({
    url: endpoint ?? 'http://localhost:4318/v1/traces',
    headers: Object.freeze({
      ...otlpHeaders(e.OTEL_EXPORTER_OTLP_HEADERS, 'OTEL_EXPORTER_OTLP_HEADERS', problems),
      ...otlpHeaders(e.OTEL_EXPORTER_OTLP_TRACES_HEADERS, 'OTEL_EXPORTER_OTLP_TRACES_HEADERS', problems),
    }),
    serviceName: e.OTEL_SERVICE_NAME ?? 'klaviyo-relay',
    ratio: sampler.endsWith('traceidratio') ? (e.OTEL_TRACES_SAMPLER_ARG ?? 1) : 1,
    parentBased: sampler.startsWith('parentbased_'),
  });
}

export const MIN_API_KEY_LENGTH = 16;

/** The key the README's curl uses; accepted only in sandbox mode when RELAY_API_KEYS is unset. */
export const SANDBOX_DEV_KEY = 'dev-key';
/** The admin token in sandbox mode when RELAY_ADMIN_TOKEN is unset. */
export const SANDBOX_ADMIN_TOKEN = 'dev-admin';

/** The host name (a container's id) and the port: two API processes on one host never share it. */
function defaultInstanceId(port: number): string {
  return `${
    hostname()
      .replace(/[^A-Za-z0-9_-]/g, '-')
      .slice(0, 48) || 'relay'
  }-${port}`;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * `roles` is what the calling process runs: a process that runs only the API or only the workers
 * never falls into the sandbox for want of credentials (only RELAY_SANDBOX=true puts it there).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, roles: ProcessRoles = API_AND_WORKERS): Config {
  const parsed = EnvSchema.safeParse(env);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = issue.path.join('.') || '(environment)';
      // What was wrong, and the value only when it is no secret (URLs without their password).
      problems.push(`${name}: ${issue.message} (got ${shownValue(name, env[name as string])})`);
    }
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const mode = chooseMode(e, roles, problems);
  if (e.MATON_API_KEY && e.KLAVIYO_API_KEY) {
    problems.push('MATON_API_KEY and KLAVIYO_API_KEY are both set: choose the gateway or direct mode, not both');
  }
  const apiKeys = (e.RELAY_API_KEYS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  // A key is the whole credential: 16 random characters are out of reach of guessing at any rate
  // an API answers; 8 were not.
  for (const k of apiKeys) {
    if (k.length < MIN_API_KEY_LENGTH)
      problems.push(`RELAY_API_KEYS: every key needs at least ${MIN_API_KEY_LENGTH} characters (one has ${k.length}); e.g. openssl rand -hex 24`);
  }
  if (e.RELAY_ADMIN_TOKEN !== undefined && e.RELAY_ADMIN_TOKEN.length < 12) problems.push('RELAY_ADMIN_TOKEN: use at least 12 characters');
  if (e.RELAY_METRICS_TOKEN !== undefined && e.RELAY_METRICS_TOKEN.length < 16) problems.push('RELAY_METRICS_TOKEN: use at least 16 characters');
  if (apiKeys.length === 0 && mode !== 'sandbox' && !e.RELAY_CONFIG) {
    const why = mode === 'none' ? ' (without Klaviyo credentials this API-only process is not the sandbox: there is no dev key)' : '';
    problems.push(`RELAY_API_KEYS: set at least one key backends will send as "Authorization: Bearer <key>" (or define sources in RELAY_CONFIG)${why}`);
  }
  if (e.RELAY_HTTP_REQUEST_TIMEOUT_MS < e.RELAY_HTTP_HEADERS_TIMEOUT_MS) {
    problems.push('RELAY_HTTP_REQUEST_TIMEOUT_MS must be at least RELAY_HTTP_HEADERS_TIMEOUT_MS (the headers are part of the request)');
  }
  if (e.RELAY_RETRY_MAX_MS < e.RELAY_RETRY_BASE_MS) {
    problems.push('RELAY_RETRY_MAX_MS must be at least RELAY_RETRY_BASE_MS');
  }
  const redis = resolveRedisSettings(e);
  problems.push(...redis.problems);
  const tracing = tracingSettings(e, problems);
  const payloadKeys = parsePayloadKeys(e.RELAY_PAYLOAD_KEYS ?? '', problems);
  if (problems.length > 0) throw new ConfigError(problems);

  // The dev key exists only for the sandbox quick start, never next to real credentials.
  const usingDevKey = apiKeys.length === 0 && mode === 'sandbox';
  return Object.freeze({
    port: e.PORT,
    host: e.HOST ?? (mode === 'sandbox' ? '127.0.0.1' : '0.0.0.0'),
    redisUrl: e.REDIS_URL,
    redisClusterNodes: e.REDIS_CLUSTER_NODES,
    redis: Object.freeze(redis.settings!),
    logLevel: e.LOG_LEVEL,
    queuePrefix: e.RELAY_QUEUE_PREFIX,
    klaviyo: Object.freeze({
      mode,
      gatewayUrl: e.MATON_GATEWAY_URL,
      baseUrl: e.KLAVIYO_BASE_URL,
      matonApiKey: e.MATON_API_KEY,
      connectionId: e.MATON_CONNECTION_ID,
      apiKey: e.KLAVIYO_API_KEY,
      revision: e.KLAVIYO_REVISION,
      timeoutMs: e.KLAVIYO_TIMEOUT_MS,
    }),
    relayConfigPath: e.RELAY_CONFIG,
    apiKeys: Object.freeze(usingDevKey ? [SANDBOX_DEV_KEY] : apiKeys),
    adminToken: e.RELAY_ADMIN_TOKEN ?? (mode === 'sandbox' ? SANDBOX_ADMIN_TOKEN : undefined),
    usingDevKey,
    ingest: Object.freeze({
      maxBodyBytes: e.RELAY_MAX_BODY_BYTES,
      dedupTtlMs: e.RELAY_DEDUP_TTL_S * 1000,
      spoolDir: e.RELAY_SPOOL_DIR,
      spoolMaxBytes: e.RELAY_SPOOL_MAX_BYTES,
      maxQueuedJobs: e.RELAY_MAX_QUEUED_JOBS,
      maxQueuedBytes: e.RELAY_MAX_QUEUED_BYTES,
    }),
    jobs: Object.freeze({
      attempts: e.RELAY_JOB_ATTEMPTS,
      retryBaseMs: e.RELAY_RETRY_BASE_MS,
      retryMaxMs: e.RELAY_RETRY_MAX_MS,
      keepCompletedS: e.RELAY_KEEP_COMPLETED_S,
      keepFailedS: e.RELAY_KEEP_FAILED_S,
      keepFailedCount: e.RELAY_KEEP_FAILED_COUNT,
    }),
    worker: Object.freeze({
      concurrency: e.RELAY_WORKER_CONCURRENCY,
      lingerMs: e.RELAY_BATCH_LINGER_MS,
      pauseProbeMs: e.RELAY_PAUSE_PROBE_MS,
      lockMs: e.RELAY_LOCK_MS,
      catalogMaxJobs: e.RELAY_CATALOG_MAX_JOBS_IN_PROGRESS,
      couponJobsMax: e.RELAY_COUPON_JOBS_MAX,
    }),
    http: Object.freeze({
      headersTimeoutMs: e.RELAY_HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.RELAY_HTTP_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: e.RELAY_HTTP_KEEP_ALIVE_TIMEOUT_MS,
    }),
    shutdownTimeoutMs: e.RELAY_SHUTDOWN_TIMEOUT_MS,
    sandboxPort: e.RELAY_SANDBOX_PORT,
    startRedis: e.RELAY_START_REDIS,
    apiProcesses: e.RELAY_API_PROCESSES === 0 ? availableParallelism() : e.RELAY_API_PROCESSES,
    instanceId: `${e.RELAY_INSTANCE_ID ?? defaultInstanceId(e.PORT)}-${e.RELAY_API_PROCESS_INDEX}`,
    metricsPort: e.RELAY_METRICS_PORT,
    metricsHost: e.RELAY_METRICS_HOST ?? '127.0.0.1',
    metricsToken: e.RELAY_METRICS_TOKEN,
    logPii: e.RELAY_LOG_PII,
    dashboard: Object.freeze({ showPii: e.RELAY_DASHBOARD_PII, readOnly: e.RELAY_DASHBOARD_READONLY }),
    tracing,
    privacy: Object.freeze({
      payloadKeys: Object.freeze(payloadKeys),
      auditKeepS: e.RELAY_AUDIT_KEEP_S,
      profileIdCacheTtlS: e.RELAY_PROFILE_ID_CACHE_TTL_S,
    }),
  });
}

const CREDENTIALS = 'set MATON_API_KEY (+ MATON_CONNECTION_ID) or KLAVIYO_API_KEY';

/**
 * Gateway or direct when their key is set. Without one, the sandbox only where a newcomer's
 * `npm start` (API + workers, no NODE_ENV=production) meets it, or when RELAY_SANDBOX=true asks
 * for it: anywhere else it would answer 202 and "deliver" accepted work to an in-memory
 * simulator, i.e. lose it. Problems are added to `problems`; the mode returned then does not matter.
 */
function chooseMode(e: z.infer<typeof EnvSchema>, roles: ProcessRoles, problems: string[]): Mode {
  const production = e.NODE_ENV === 'production';
  if (e.MATON_API_KEY || e.KLAVIYO_API_KEY) {
    if (e.RELAY_SANDBOX === true)
      problems.push(
        `RELAY_SANDBOX: true, but ${e.MATON_API_KEY ? 'MATON_API_KEY' : 'KLAVIYO_API_KEY'} is set too: unset one (the sandbox never calls Klaviyo)`,
      );
    return e.MATON_API_KEY ? 'gateway' : 'direct';
  }
  if (e.RELAY_SANDBOX === true) {
    if (production) problems.push(`RELAY_SANDBOX: true is refused under NODE_ENV=production: ${CREDENTIALS}`);
    return 'sandbox';
  }
  // An API-only process never calls Klaviyo: it may run without credentials, but not as the sandbox.
  if (!roles.workers) return 'none';
  if (production) problems.push(`MATON_API_KEY / KLAVIYO_API_KEY: neither is set: ${CREDENTIALS} (NODE_ENV=production never runs the built-in sandbox)`);
  else if (e.RELAY_SANDBOX === false)
    problems.push(`MATON_API_KEY / KLAVIYO_API_KEY: neither is set: ${CREDENTIALS} (RELAY_SANDBOX=false turns the built-in sandbox off)`);
  else if (!roles.api) problems.push(`MATON_API_KEY / KLAVIYO_API_KEY: neither is set: ${CREDENTIALS}; RELAY_SANDBOX=true for the built-in sandbox`);
  return 'sandbox';
}
