/**
 * The Klaviyo + Maton gateway simulator: one Hono app that answers
 *   /klaviyo/api/…   as the Maton gateway in front of Klaviyo (Bearer Maton key, Maton-Connection)
 *   /api/…           as Klaviyo directly (Klaviyo-API-Key pk_…)
 *   /connections…    as Maton's connection API
 *   /__sim/…         its own control API (state, requests, stats, faults, webhooks, reset)
 * keeping every account's state in memory. See api-pipeline.ts for the order of checks.
 */
import { Hono, type Context, type Next } from 'hono';
import type { EndpointName } from '../klaviyo/endpoints.ts';
import { handleApiRequest, type SimCore } from './api-pipeline.ts';
import { ConnectionRegistry, connectionRoutes, type ConnectionControl } from './connections.ts';
import { controlRoutes } from './control-routes.ts';
import { Faults, type FaultControl } from './faults.ts';
import { processJob } from './handlers/bulk-import.ts';
import { settleCouponJobs } from './handlers/coupons.ts';
import { klaviyoError, JSON_API_TYPE } from './json-api.ts';
import { resolveOptions, type ResolvedOptions, type SimulatorOptions } from './options.ts';
import { findBy, upsertLenient } from './profile-store.ts';
import { RateLimits, type PeakStats } from './rate-limits.ts';
import { RequestCounters, RequestLog, type RecordedRequest, type StatsSnapshot } from './request-log.ts';
import { accountView, maskSecret, type SnapshotOptions } from './snapshot.ts';
import {
  createAccount,
  type SimAccount,
  type SimEvent,
  type SimProfile,
  type SimState,
  type SimWebhook,
  type SubscriptionOp,
  type PrivacyOp,
} from './state.ts';
import type { AccountEvent, ScheduledJob } from './handlers/context.ts';
import { deliveryItem, WebhookDeliveries, type DeliveryAttempt } from './webhook-deliveries.ts';

export interface EventFilter {
  metric?: string;
  /** Profile email (case-insensitive). */
  email?: string;
  profileId?: string;
  uniqueId?: string;
}

export interface RequestFilter {
  endpoint?: EndpointName;
  account?: string;
  status?: number;
  mode?: RecordedRequest['mode'];
}

/** An event to deliver: its profile is `profileId`, or the profile of `deliver`'s `email` (created if new). */
export interface DeliverEvent {
  readonly topic: string;
  readonly profileId?: string;
  readonly properties?: Readonly<Record<string, unknown>>;
}

export interface SimStats extends StatsSnapshot {
  /** Peak windows: Klaviyo per account × endpoint (1 s and 60 s), gateway per Maton key (1 s). */
  peaks: PeakStats;
  /** Per account: events recorded, duplicates dropped. */
  events: Record<string, { accepted: number; duplicates: number; byMetric: Record<string, number> }>;
}

export interface Simulator {
  readonly app: Hono;
  readonly options: ResolvedOptions;
  readonly state: SimState;
  readonly faults: FaultControl;
  readonly connections: ConnectionControl;
  /** Forgets all state, recorded requests, stats, limiter windows and fault rules; reseeds connections. */
  reset(): void;
  /** The account reached as `id` (connection id in gateway mode, API key in direct mode). */
  account(id: string): SimAccount | undefined;
  /** Recorded events of an account (requires `retainEventBodies`). */
  eventsFor(accountId: string, filter?: EventFilter): SimEvent[];
  profileByEmail(accountId: string, email: string): SimProfile | undefined;
  /** Subscribe/unsubscribe outcomes, per profile, of one account or of all. */
  subscriptionOps(accountId?: string): SubscriptionOp[];
  /** Deletions and (un)suppressions asked for, in order. */
  privacyOps(accountId?: string): PrivacyOp[];
  /** Recorded requests, oldest first (at most `maxRecordedRequests`). */
  requests(filter?: RequestFilter): RecordedRequest[];
  /** The account's system webhooks (secrets included: for tests). */
  webhooks(accountId: string): SimWebhook[];
  /** Gives or takes an account's system-webhook access (without it: 403 permission_denied). */
  setWebhookAccess(accountId: string, allowed: boolean): void;
  /**
   * Delivers events to webhook `webhookId` now, signed as Klaviyo signs (no batching, no retries),
   * whatever its topics: for tests and the sandbox. Undefined when no account has that webhook.
   */
  deliver(webhookId: string, events: readonly DeliverEvent[], opts?: { email?: string }): Promise<DeliveryAttempt | undefined>;
  /** Every delivery attempt to a system webhook, oldest first (the last 1,000). */
  webhookDeliveries(): DeliveryAttempt[];
  stats(opts?: { maskSecrets?: boolean }): SimStats;
  snapshot(opts?: SnapshotOptions): Record<string, unknown>;
  /** Polls `predicate` every `intervalMs` until it returns a truthy value, which it resolves with. */
  waitFor<T>(predicate: () => T | false | null | undefined | 0 | '', timeoutMs?: number, intervalMs?: number): Promise<T>;
  /** Ends hung (and latency-delayed) requests; used by close. */
  releaseHung(): void;
  /** Stops timers and releases hung requests. The app still answers afterwards. */
  dispose(): void;
}

class SimulatorImpl implements Simulator, SimCore {
  readonly app: Hono;
  readonly options: ResolvedOptions;
  readonly state: SimState = { accounts: new Map() };
  readonly faults: Faults;
  readonly limits: RateLimits;
  readonly counters = new RequestCounters();
  readonly log: RequestLog;
  readonly connections: ConnectionRegistry;
  readonly deliveries: WebhookDeliveries;
  private hang = new AbortController();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(opts: SimulatorOptions) {
    this.options = resolveOptions(opts);
    this.faults = new Faults(this.options.random);
    this.limits = new RateLimits(this.options);
    this.log = new RequestLog(this.options.maxRecordedRequests);
    this.connections = new ConnectionRegistry(this.options);
    this.deliveries = new WebhookDeliveries(this.options);
    this.app = this.buildApp();
  }

  private buildApp(): Hono {
    const app = new Hono();
    app.all('/klaviyo/*', (c) => handleApiRequest(this, c.req.raw, 'gateway'));
    app.all('/api/*', (c) => handleApiRequest(this, c.req.raw, 'direct'));
    // Connection API calls are recorded too (mode 'connections'), but use no gateway quota:
    // Maton documents the 10 req/s limit for the gateway only.
    const recordConnections = async (c: Context, next: Next): Promise<void> => {
      const at = this.options.now();
      await next();
      const url = new URL(c.req.url);
      this.log.add({
        at,
        method: c.req.method,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: Object.fromEntries(c.req.raw.headers),
        mode: 'connections',
        status: c.res.status,
        durationMs: this.options.now() - at,
      });
      this.counters.note('connections', c.res.status);
    };
    app.use('/connections/*', recordConnections);
    app.route(
      '/connections',
      connectionRoutes(this.connections, (h) => this.authorizeGateway(h)),
    );
    app.route('/__sim', controlRoutes(this));
    app.get('/', (c) =>
      c.json({
        name: 'klaviyo-relay simulator (Klaviyo + Maton gateway)',
        gateway: '/klaviyo/api/… with Authorization: Bearer <maton key> and Maton-Connection: <id>',
        direct: '/api/… with Authorization: Klaviyo-API-Key pk_…',
        connections: '/connections',
        control: ['/__sim/state', '/__sim/stats', '/__sim/requests', '/__sim/faults', '/__sim/webhooks', '/__sim/reset'],
      }),
    );
    app.notFound((c) => c.json({ error: `Not found: ${c.req.method} ${c.req.path}` }, 404));
    app.onError((err) => {
      console.error('[sim] unhandled error', err);
      const body = { errors: [klaviyoError(500, `Simulator error: ${err.message}`)] };
      return new Response(JSON.stringify(body), { status: 500, headers: { 'content-type': JSON_API_TYPE } });
    });
    return app;
  }

  private authorizeGateway(header: string | undefined): boolean {
    const key = /^Bearer\s+(\S.*)$/i.exec(header ?? '')?.[1]?.trim();
    return key !== undefined && this.acceptsGatewayKey(key);
  }

  // --- SimCore ---

  acceptsGatewayKey(key: string): boolean {
    return this.options.gatewayKeys ? this.options.gatewayKeys.has(key) : key.length > 0;
  }

  acceptsApiKey(key: string): boolean {
    return this.options.apiKeys ? this.options.apiKeys.has(key) : key.startsWith('pk_');
  }

  findAccount(id: string): SimAccount | undefined {
    return this.state.accounts.get(id);
  }

  accountFor(id: string, mode: 'gateway' | 'direct'): SimAccount {
    let account = this.state.accounts.get(id);
    if (!account) {
      account = createAccount(id, mode, this.options.now(), !this.options.noWebhookAccess.has(id));
      this.state.accounts.set(id, account);
    }
    return account;
  }

  settleJobs(account: SimAccount): void {
    const now = this.options.now();
    for (const job of account.bulkImportJobs.values()) {
      if (job.pending !== null && job.dueAt <= now) processJob(account, job, now);
    }
    settleCouponJobs(account, now);
  }

  scheduleJob(account: SimAccount, job: ScheduledJob): void {
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        this.settleJobs(account);
        // A timer may fire a little early against the clock (or a fake clock may lag): try again
        // after the remaining delay. Requests and state reads also settle due jobs.
        if (job.pending !== null) this.scheduleJob(account, job);
      },
      Math.max(1, job.dueAt - this.options.now()),
    );
    timer.unref();
    this.timers.add(timer);
  }

  notify(account: SimAccount, event: AccountEvent): void {
    this.deliveries.notify(account, event);
  }

  hangSignal(): AbortSignal {
    return this.hang.signal;
  }

  // --- Simulator ---

  reset(): void {
    this.state.accounts.clear();
    this.log.clear();
    this.counters.reset();
    this.limits.reset();
    this.faults.clear();
    this.connections.reset();
    this.deliveries.reset();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  account(id: string): SimAccount | undefined {
    const account = this.state.accounts.get(id);
    if (account) this.settleJobs(account);
    return account;
  }

  eventsFor(accountId: string, filter: EventFilter = {}): SimEvent[] {
    const account = this.account(accountId);
    if (!account) return [];
    let profileId = filter.profileId;
    if (filter.email !== undefined) {
      const p = findBy(account, 'email', filter.email);
      if (!p || (profileId !== undefined && profileId !== p.id)) return [];
      profileId = p.id;
    }
    return account.events.filter(
      (e) =>
        (filter.metric === undefined || e.metric === filter.metric) &&
        (profileId === undefined || e.profileId === profileId) &&
        (filter.uniqueId === undefined || e.uniqueId === filter.uniqueId),
    );
  }

  profileByEmail(accountId: string, email: string): SimProfile | undefined {
    const account = this.account(accountId);
    return account ? findBy(account, 'email', email) : undefined;
  }

  subscriptionOps(accountId?: string): SubscriptionOp[] {
    if (accountId !== undefined) return [...(this.state.accounts.get(accountId)?.subscriptionOps ?? [])];
    return [...this.state.accounts.values()].flatMap((a) => a.subscriptionOps);
  }

  privacyOps(accountId?: string): PrivacyOp[] {
    if (accountId !== undefined) return [...(this.state.accounts.get(accountId)?.privacyOps ?? [])];
    return [...this.state.accounts.values()].flatMap((a) => a.privacyOps);
  }

  requests(filter: RequestFilter = {}): RecordedRequest[] {
    return this.log
      .all()
      .filter(
        (r) =>
          (filter.endpoint === undefined || r.endpoint === filter.endpoint) &&
          (filter.account === undefined || r.account === filter.account) &&
          (filter.status === undefined || r.status === filter.status) &&
          (filter.mode === undefined || r.mode === filter.mode),
      );
  }

  webhooks(accountId: string): SimWebhook[] {
    return [...(this.state.accounts.get(accountId)?.webhooks.values() ?? [])];
  }

  setWebhookAccess(accountId: string, allowed: boolean): void {
    // An account not seen yet is created, so that its first call already gets the answer set here.
    this.accountFor(accountId, accountId.startsWith('pk_') ? 'direct' : 'gateway').webhookAccess = allowed;
  }

  async deliver(webhookId: string, events: readonly DeliverEvent[], opts: { email?: string } = {}): Promise<DeliveryAttempt | undefined> {
    const account = [...this.state.accounts.values()].find((a) => a.webhooks.has(webhookId));
    if (!account) return undefined;
    const now = this.options.now();
    const profileId = opts.email === undefined ? undefined : upsertLenient(account, { attributes: { email: opts.email } }, now).id;
    const items = events.map((e) => deliveryItem({ topic: e.topic, profileId: e.profileId ?? profileId ?? 'unknown', properties: e.properties ?? {} }, now));
    return this.deliveries.deliverNow(account, account.webhooks.get(webhookId)!, items);
  }

  webhookDeliveries(): DeliveryAttempt[] {
    return this.deliveries.log();
  }

  stats(opts: { maskSecrets?: boolean } = {}): SimStats {
    const peaks = this.limits.peaks();
    const events: SimStats['events'] = {};
    for (const a of this.state.accounts.values()) {
      const id = opts.maskSecrets && a.mode === 'direct' ? maskSecret(a.id) : a.id;
      events[id] = { accepted: a.eventCount, duplicates: a.duplicateEvents, byMetric: Object.fromEntries(a.eventCountsByMetric) };
    }
    if (opts.maskSecrets) {
      peaks.gateway = Object.fromEntries(Object.entries(peaks.gateway).map(([k, v]) => [maskSecret(k), v]));
      peaks.klaviyo = Object.fromEntries(
        Object.entries(peaks.klaviyo).map(([k, v]) => [this.state.accounts.get(k)?.mode === 'direct' || k.startsWith('pk_') ? maskSecret(k) : k, v]),
      );
    }
    return { ...this.counters.snapshot(), peaks, events };
  }

  snapshot(opts: SnapshotOptions = {}): Record<string, unknown> {
    for (const a of this.state.accounts.values()) this.settleJobs(a);
    return {
      accounts: [...this.state.accounts.values()].map((a) => accountView(a, opts)),
      connections: this.connections.list(),
      faults: this.faults.list(),
      stats: this.stats({ maskSecrets: opts.maskSecrets ?? false }),
    };
  }

  async waitFor<T>(predicate: () => T | false | null | undefined | 0 | '', timeoutMs = 5000, intervalMs = 10): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = predicate();
      if (value) return value;
      if (Date.now() >= deadline) throw new Error(`sim.waitFor: condition not met within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }

  releaseHung(): void {
    this.hang.abort();
    this.hang = new AbortController();
  }

  dispose(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.deliveries.reset();
    this.releaseHung();
  }
}

export function createSimulator(opts: SimulatorOptions = {}): Simulator {
  return new SimulatorImpl(opts);
}
