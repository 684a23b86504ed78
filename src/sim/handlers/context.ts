/** What an endpoint handler receives and returns; handlers are synchronous and pure over state. */
import type { EndpointName } from '../../klaviyo/endpoints.ts';
import type { ResolvedOptions } from '../options.ts';
import type { SimAccount } from '../state.ts';

export interface HandlerContext {
  account: SimAccount;
  endpoint: EndpointName;
  params: Record<string, string>;
  /** Parsed, schema- and rule-checked JSON body (undefined for GET). */
  body: unknown;
  query: URLSearchParams;
  /** Origin for `links` (klaviyoOrigin through the gateway, the request's own origin direct). */
  linkOrigin: string;
  now: number;
  options: ResolvedOptions;
  /** Arranges for an async job (a bulk import, a coupon code job) to be processed at `job.dueAt`. */
  scheduleJob(account: SimAccount, job: ScheduledJob): void;
  /** Something happened in the account: its system webhooks subscribed to the topic get it (webhook-deliveries.ts). */
  notify(account: SimAccount, event: AccountEvent): void;
}

/** An event of an account, as its system webhooks carry it (the Get Event shape, built by webhook-deliveries.ts). */
export interface AccountEvent {
  /** `event:klaviyo.unsubscribed_from_email_marketing`, … */
  readonly topic: string;
  readonly profileId: string;
  readonly properties: Readonly<Record<string, unknown>>;
}

/** What the simulator's timers need of an async job: when it is due, and whether it still waits. */
export interface ScheduledJob {
  readonly dueAt: number;
  readonly pending: unknown[] | null;
}

export interface HandlerResult {
  status: number;
  body?: unknown;
}

export type Handler = (ctx: HandlerContext) => HandlerResult;

export type Obj = Record<string, unknown>;
export const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const strOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);
