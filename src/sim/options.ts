/**
 * Simulator options and their defaults. The simulator never reads the environment; only
 * `main.ts` does.
 */
import { ENDPOINTS, GATEWAY_REQUESTS_PER_SECOND, MAX_QUEUED_COUPON_JOBS, type EndpointName } from '../klaviyo/endpoints.ts';

/** UNCONFIRMED (docs/klaviyo-and-maton.md §5: a third-party quote): the simulator refuses the 11th webhook. */
const MAX_WEBHOOKS_PER_ACCOUNT = 10;
/** OAS bulk_create_catalog_items: "The maximum number of jobs in progress at one time is 500." */
export const CATALOG_MAX_JOBS_IN_PROGRESS = 500;

export interface EndpointLimit {
  burst: number;
  steady: number;
}

export interface SimulatorOptions {
  /** Maton API keys the fake gateway accepts; undefined → any non-empty bearer token. */
  gatewayKeys?: string[];
  /** Klaviyo private keys accepted in direct mode; undefined → any key starting "pk_". */
  apiKeys?: string[];
  /** Known Maton connection ids; undefined → any id is accepted (an account is created on first use). */
  connections?: string[];
  /** Enforce gateway and Klaviyo rate limits (429). Default true. Windows are counted either way. */
  enforceLimits?: boolean;
  limits?: {
    gatewayPerSecond?: number;
    endpoints?: Partial<Record<EndpointName, EndpointLimit>>;
  };
  /** Origin Klaviyo puts in `links` (default https://a.klaviyo.com); the gateway does not rewrite links. */
  klaviyoOrigin?: string;
  /** Default true; false keeps only what dedupe and counting need (million-event benchmarks). */
  retainEventBodies?: boolean;
  /** Clock, default Date.now. Rate windows, event receive times and job/connection timers use it. */
  now?: () => number;
  /** Delay before a connection created through `POST /connections` becomes ACTIVE. Default 1000 ms. */
  connectionActivateMs?: number;
  /** Delay before a bulk profile import job is processed. Default 0 (processed at once, reported `queued` in the 202). */
  bulkImportDelayMs?: number;
  /**
   * A coupon code bulk create job stays `queued` this long, then `processing` as long again, then
   * completes. Default 0 (done at once, reported `queued` in the 202).
   */
  couponJobDelayMs?: number;
  /** Coupon code jobs an account may have queued (not complete) at once (OAS: 100). */
  maxQueuedCouponJobs?: number;
  /** Random source in [0,1) for fault `rate`. Default Math.random. */
  random?: () => number;
  /** How many requests `requests()` keeps (oldest dropped first). Default 10,000. */
  maxRecordedRequests?: number;
  /**
   * Accounts (connection ids, or private keys in direct mode) without system-webhook access: the
   * Webhooks API answers them 403 `permission_denied`, as Klaviyo does an account without Advanced
   * KDP. Also switchable at run time (`setWebhookAccess`, `POST /__sim/accounts/:id/webhook-access`).
   */
  noWebhookAccess?: string[];
  /** How long a webhook's events are gathered into one (batched) delivery. Default 200 ms. */
  webhookBatchMs?: number;
  /**
   * After a PATCH of a webhook's `secret_key`, how long deliveries are still signed with the old
   * one (Klaviyo's propagation delay is not documented). Default 0.
   */
  webhookSecretSwitchMs?: number;
  /** Further attempts of a delivery not answered 2xx (Klaviyo's policy is not documented). Default 2, 500 ms apart, doubling. */
  webhookRetries?: number;
  webhookRetryDelayMs?: number;
  /** Timeout of one delivery. Default 5000 ms. */
  webhookTimeoutMs?: number;
  /** Webhooks an account may have (Klaviyo's cap is UNCONFIRMED: 10, a third-party quote). Default 10. */
  maxWebhooks?: number;
  /** How long a catalog bulk job takes: `processing` from half of it, `complete` (applied) at the end. Default 0. */
  catalogJobMs?: number;
  /** Catalog bulk jobs in progress at one time per account (Klaviyo: 500); past it a POST answers 429. */
  catalogMaxJobsInProgress?: number;
}

export interface ResolvedOptions {
  readonly gatewayKeys: ReadonlySet<string> | null;
  readonly apiKeys: ReadonlySet<string> | null;
  readonly connections: readonly string[] | null;
  readonly enforceLimits: boolean;
  readonly gatewayPerSecond: number;
  readonly endpointLimits: Readonly<Record<EndpointName, EndpointLimit>>;
  readonly klaviyoOrigin: string;
  readonly retainEventBodies: boolean;
  readonly now: () => number;
  readonly connectionActivateMs: number;
  readonly bulkImportDelayMs: number;
  readonly couponJobDelayMs: number;
  readonly maxQueuedCouponJobs: number;
  readonly random: () => number;
  readonly maxRecordedRequests: number;
  readonly noWebhookAccess: ReadonlySet<string>;
  readonly webhookBatchMs: number;
  readonly webhookSecretSwitchMs: number;
  readonly webhookRetries: number;
  readonly webhookRetryDelayMs: number;
  readonly webhookTimeoutMs: number;
  readonly maxWebhooks: number;
  readonly catalogJobMs: number;
  readonly catalogMaxJobsInProgress: number;
}

export function resolveOptions(opts: SimulatorOptions = {}): ResolvedOptions {
  const endpointLimits = {} as Record<EndpointName, EndpointLimit>;
  for (const [name, spec] of Object.entries(ENDPOINTS) as [EndpointName, (typeof ENDPOINTS)[EndpointName]][]) {
    const override = opts.limits?.endpoints?.[name];
    endpointLimits[name] = { burst: override?.burst ?? spec.burst, steady: override?.steady ?? spec.steady };
  }
  return {
    gatewayKeys: opts.gatewayKeys ? new Set(opts.gatewayKeys) : null,
    apiKeys: opts.apiKeys ? new Set(opts.apiKeys) : null,
    connections: opts.connections ? [...opts.connections] : null,
    enforceLimits: opts.enforceLimits ?? true,
    gatewayPerSecond: opts.limits?.gatewayPerSecond ?? GATEWAY_REQUESTS_PER_SECOND,
    endpointLimits,
    klaviyoOrigin: (opts.klaviyoOrigin ?? 'https://a.klaviyo.com').replace(/\/+$/, ''),
    retainEventBodies: opts.retainEventBodies ?? true,
    now: opts.now ?? Date.now,
    connectionActivateMs: opts.connectionActivateMs ?? 1000,
    bulkImportDelayMs: opts.bulkImportDelayMs ?? 0,
    couponJobDelayMs: opts.couponJobDelayMs ?? 0,
    maxQueuedCouponJobs: opts.maxQueuedCouponJobs ?? MAX_QUEUED_COUPON_JOBS,
    random: opts.random ?? Math.random,
    maxRecordedRequests: opts.maxRecordedRequests ?? 10_000,
    noWebhookAccess: new Set(opts.noWebhookAccess ?? []),
    webhookBatchMs: opts.webhookBatchMs ?? 200,
    webhookSecretSwitchMs: opts.webhookSecretSwitchMs ?? 0,
    webhookRetries: opts.webhookRetries ?? 2,
    webhookRetryDelayMs: opts.webhookRetryDelayMs ?? 500,
    webhookTimeoutMs: opts.webhookTimeoutMs ?? 5000,
    maxWebhooks: opts.maxWebhooks ?? MAX_WEBHOOKS_PER_ACCOUNT,
    catalogJobMs: opts.catalogJobMs ?? 0,
    catalogMaxJobsInProgress: opts.catalogMaxJobsInProgress ?? CATALOG_MAX_JOBS_IN_PROGRESS,
  };
}
