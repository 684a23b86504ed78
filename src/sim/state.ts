/**
 * The simulator's in-memory model of Klaviyo accounts. Plain data plus Maps/Sets for O(1)
 * lookups; `snapshot.ts` turns it into JSON.
 *
 * Accounts are keyed by how a caller reaches them: in gateway mode by the Maton connection id
 * (`Maton-Connection`, "default" when absent), in direct mode by the private API key itself.
 */
import type { BackInStockSubscription } from './handlers/back-in-stock.ts';
import { createSimCoupons, type SimCoupons } from './handlers/coupons.ts';

export type Channel = 'email' | 'sms';

export type IdentifierField = 'email' | 'phone_number' | 'external_id' | 'anonymous_id';
export const IDENTIFIER_FIELDS: readonly IdentifierField[] = ['email', 'phone_number', 'external_id', 'anonymous_id'];

export type TextAttribute = 'first_name' | 'last_name' | 'organization' | 'locale' | 'title' | 'image';
export const TEXT_ATTRIBUTES: readonly TextAttribute[] = ['first_name', 'last_name', 'organization', 'locale', 'title', 'image'];

export interface ConsentRecord {
  status: 'SUBSCRIBED' | 'UNSUBSCRIBED';
  /** `custom_source` of the subscription job, or null. */
  source: string | null;
  /** ISO time of the change (`consented_at` when given on a historical import). */
  at: string;
  /** The list named by the request that changed it, if any. */
  listId: string | null;
}

export interface ListSuppression {
  listId: string;
  channel: Channel;
  at: string;
}

export interface SimProfile {
  id: string;
  email: string | null;
  phone_number: string | null;
  external_id: string | null;
  anonymous_id: string | null;
  attributes: Partial<Record<TextAttribute, string | null>>;
  location: Record<string, unknown> | null;
  properties: Record<string, unknown>;
  /** Ids of the lists the profile is a member of (kept in step with `SimAccount.lists`). */
  lists: Set<string>;
  /** Account-wide marketing consent per channel. */
  consent: Partial<Record<Channel, ConsentRecord>>;
  /** List-level unsubscribes (an unsubscribe job naming a list the profile was in). */
  listSuppressions: ListSuppression[];
  /** Suppressed from marketing email (profile-suppression-bulk-create-jobs), ISO time; null when not. */
  suppressedAt: string | null;
  created: number;
  updated: number;
  lastEventDate: number | null;
}

export interface SimEvent {
  profileId: string;
  metric: string;
  uniqueId: string | null;
  /** ISO 8601 time of the event (as sent, or the receive time when absent). */
  time: string;
  value: number | null;
  valueCurrency: string | null;
  properties: Record<string, unknown>;
  backfill: boolean;
  via: 'create_event' | 'bulk_create_events';
  receivedAt: number;
}

export interface SubscriptionOp {
  at: number;
  kind: 'subscribe' | 'unsubscribe';
  /** The list named in `relationships.list`, or null. */
  listId: string | null;
  /**
   * True when the profile's consent changed account-wide: for an unsubscribe, no list was named
   * or the profile was not in it ("Profiles not in the specified list will be globally
   * unsubscribed", OAS bulk_unsubscribe_profiles); for a subscribe, no list was named.
   */
  global: boolean;
  profileId: string;
  email: string | null;
  phone_number: string | null;
  channels: Channel[];
  source: string | null;
}

/** A deletion or (un)suppression Klaviyo was asked for (handlers/privacy.ts). */
export interface PrivacyOp {
  at: number;
  kind: 'deletion' | 'suppress' | 'unsuppress';
  email: string | null;
  phone_number: string | null;
  profileId: string | null;
  /** Whether a profile matched (a suppression always finds or creates one). */
  found: boolean;
}

export interface ImportError {
  id: string;
  index: number;
  code: string;
  title: string;
  detail: string;
  pointer: string;
  originalPayload: unknown;
}

export interface BulkImportJob {
  id: string;
  createdAt: number;
  /** When the job is (or was) processed. */
  dueAt: number;
  startedAt: number | null;
  completedAt: number | null;
  totalCount: number;
  completedCount: number;
  failedCount: number;
  listIds: string[];
  profileIds: string[];
  errors: ImportError[];
  /** The submitted profile resource objects, dropped once processed. */
  pending: unknown[] | null;
}

/** A secret a webhook signs with from `from` on (a PATCH's new secret takes over after a delay). */
export interface WebhookSecret {
  key: string;
  from: number;
}

/** A system webhook (POST /api/webhooks): where Klaviyo sends the topics' events, signed. */
export interface SimWebhook {
  id: string;
  name: string;
  description: string | null;
  /** As given; answers show it truncated (webhooks.ts). */
  endpointUrl: string;
  enabled: boolean;
  topics: string[];
  /** Oldest first; the newest whose `from` has come signs. */
  secrets: WebhookSecret[];
  createdAt: number;
  updatedAt: number;
}

export interface SimAccount {
  id: string;
  mode: 'gateway' | 'direct';
  createdAt: number;
  profiles: Map<string, SimProfile>;
  /** identifier field → normalized value → profile id */
  index: Record<IdentifierField, Map<string, string>>;
  /** Every accepted (non-duplicate) event, when `retainEventBodies`; else empty. */
  events: SimEvent[];
  eventCount: number;
  eventCountsByMetric: Map<string, number>;
  /** Events dropped as duplicates of (profile, metric, unique_id | time-to-the-second). */
  duplicateEvents: number;
  dedupeKeys: Set<string | number>;
  /** list id → member profile ids */
  lists: Map<string, Set<string>>;
  subscriptionOps: SubscriptionOp[];
  privacyOps: PrivacyOp[];
  bulkImportJobs: Map<string, BulkImportJob>;
  /** System webhooks by id. */
  webhooks: Map<string, SimWebhook>;
  /** Whether the account may use the Webhooks API (Advanced KDP); false → 403 permission_denied. */
  webhookAccess: boolean;
  /** Back-in-stock subscriptions by `<profile id>\n<variant id>` (handlers/back-in-stock.ts). */
  backInStock: Map<string, BackInStockSubscription>;
  /** Coupon codes and their bulk create jobs (handlers/coupons.ts). */
  coupons: SimCoupons;
}

export interface SimState {
  accounts: Map<string, SimAccount>;
}

export function createAccount(id: string, mode: 'gateway' | 'direct', now: number, webhookAccess = true): SimAccount {
  return {
    id,
    mode,
    createdAt: now,
    profiles: new Map(),
    index: { email: new Map(), phone_number: new Map(), external_id: new Map(), anonymous_id: new Map() },
    events: [],
    eventCount: 0,
    eventCountsByMetric: new Map(),
    duplicateEvents: 0,
    dedupeKeys: new Set(),
    lists: new Map(),
    subscriptionOps: [],
    privacyOps: [],
    bulkImportJobs: new Map(),
    webhooks: new Map(),
    webhookAccess,
    backInStock: new Map(),
    coupons: createSimCoupons(),
  };
}
