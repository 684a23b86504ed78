/**
 * Job data: what a job holds in Redis (and a spool record on disk), and the names the code uses
 * for it. The one place the stored field names are spelled out, and the one place they turn into
 * descriptive ones.
 *
 * Stored, in every job of every kind (versioned by `v`):
 *   v    1                             items  the items not yet delivered
 *   src  the source that sent them      dead   items Klaviyo rejected for good, with its error
 *   lane the lane they go to            waits  (profiles) times put back behind an earlier operation
 *   at   accepted at (ms since epoch)   b      bytes counted in its queue's counter (queued-bytes)
 *                                       bs     1: counted in its source's ledger too
 *                                       tp     W3C traceparent of the enqueue (only while tracing is on)
 *                                       d      its place in the dedupe memory (src/dedupe-memory.ts)
 * and per item:
 *   k    item key (src/item-keys.ts; an event's unique_id)   id   the caller's id (or one made from it)
 *   e    (event) the event                                  o    (profile) the operation
 *   w    (webhook) the webhook item or flow call            pk   (profile) its per-profile order key
 *   seq  (profile) its place in the lane's arrival order    m    (profile) its pending-set member
 *   s    (back in stock) the subscription                  c    (coupon code) the code, its coupon and expiry
 *   n    (coupon code) how many codes its request had (the results route reports against it)
 * and, in a coupon-code job while its Klaviyo job runs (workers/coupons/processor.ts):
 *   kj   the Klaviyo job id (a re-run polls it instead of creating the codes again)
 *   ks   its place among the lane's queued Klaviyo jobs (src/coupon-job-slots.ts)
 *
 * Who sees which: the modules that write or read jobs as stored — ingest's enqueuer (dedupes on
 * `k`, sets `b`/`bs`), the spool, the per-profile order (`pk`, `seq`, `m`: it reads job hashes in
 * Lua), settle (writes what is left back), queued-bytes, dead letters, find — use the Stored*
 * types. Everything that works with what an item means — routes, webhook rules, the ingest API,
 * the senders and dispatchers, the webhook processor — uses EventItem, ProfileItem, WebhookItem;
 * the encoders and decoders below convert, at ingest and in the workers' processors.
 *
 * Why the stored names stay short. Measured on the local Redis 7 with BullMQ (a script that adds
 * 5,000 jobs of each shape and reads INFO used_memory; three runs each):
 *   - a typical single-event job (POST /v1/events, one "Placed Order" with an email, three
 *     properties, value, currency and time): `data` is 399 B with these names, 426 B (+27 B, +7%)
 *     with version/source/acceptedAt/key/event/bytes. Redis holds about 1,290 B per queued job
 *     either way: both strings fall in the same allocator size class, the difference is in the noise.
 *   - a single profile operation (a list add): 384 B against 435 B (+51 B, +13%); about 1,290 B
 *     against 1,330 B per queued job in Redis (+3%, noisy).
 *   - a job of 100 such events (a 1,000-event request is ten): 31,788 B against 32,409 B (+2%);
 *     34 KB against 41 KB per job in Redis — the longer one's arguments crossed Redis's 32 KB
 *     big-argument threshold, which allocates by another rule. Size classes make the cost of a
 *     few bytes jump near such edges.
 * A few per cent, more near edges. What decides it is that these names are stored already: jobs,
 * dead letters kept for days and spool files written by the running version all use them, so
 * renaming them would need every reader to accept both for as long as any of those may exist.
 */
import type { EventInput } from './model/event.ts';
import type { ProfileOp } from './model/profile-operation.ts';
import type { CatalogInput, CatalogType } from './model/catalog.ts';
import type { BackInStockSubscription } from './model/back-in-stock.ts';
import type { CouponCode } from './model/coupon-codes.ts';
import { openPayload, sealPayload } from './payload-cipher.ts';

// ---------------------------------------------------------------------------------------------
// As stored
// ---------------------------------------------------------------------------------------------

export interface StoredEventItem {
  readonly k: string;
  readonly id: string;
  readonly e: EventInput;
}

/** A profile operation as the spool keeps it (before it has a place in the per-profile order). */
export interface StoredProfileOp {
  readonly k: string;
  readonly id: string;
  readonly o: ProfileOp;
}

/** A profile operation as its job keeps it, with its place in the per-profile order (src/profile-order.ts). */
export interface StoredProfileItem extends StoredProfileOp {
  readonly pk: string;
  /** Set when it enters the order, just before its job is added. */
  seq: number;
  /** Set with `seq`: the member of the profile's pending set that stands for this item. */
  m?: string;
}

export interface StoredWebhookItem {
  readonly k: string;
  readonly id: string;
  readonly w: WebhookCall;
}

/**
 * A catalog operation (issue 15): `c` holds its type (`t`), action (`a`: `u` upsert, `d` delete),
 * its place in the lane's arrival order of catalog operations (`q`, src/catalog/accept.ts), and for
 * an upsert the content (`d`) and its hash (`h`, what a sync compares). `id` is the caller's id.
 */
export interface StoredCatalogItem {
  readonly k: string;
  readonly id: string;
  readonly c: {
    readonly t: CatalogType;
    readonly a: 'u' | 'd';
    readonly q: number;
    readonly h?: string;
    readonly d?: CatalogInput;
  };
}

export type StoredItem = StoredEventItem | StoredProfileOp | StoredWebhookItem | StoredCatalogItem | StoredBackInStockItem | StoredCouponCodeItem;

/** Where an item's failure came from, kept on the job so dead letters say why. */
export interface ItemError {
  readonly status: number;
  readonly origin: 'gateway' | 'klaviyo' | 'network' | 'timeout' | 'relay';
  readonly code?: string;
  readonly detail?: string;
  readonly pointer?: string;
  readonly endpoint?: string;
  readonly at: number;
}

export interface DeadItem<I> {
  readonly item: I;
  readonly error: ItemError;
}

export interface StoredJob<I> {
  readonly v: 1;
  readonly src: string;
  readonly lane: string;
  readonly at: number;
  readonly items: I[];
  readonly dead?: DeadItem<I>[];
  /** Profiles: how many times items were put back to wait for an earlier operation on the same profile. */
  readonly waits?: number;
  readonly b?: number;
  readonly bs?: 1;
  /** The trace the job continues (src/tracing/): the W3C traceparent of the enqueue that added it. */
  readonly tp?: string;
  /** Its place in the dedupe memory, `<generation>:<number>` (src/dedupe-memory.ts); none when dedupe is off or for jobs queued before issue 18. */
  readonly d?: string;
}

export type EventsJobData = StoredJob<StoredEventItem>;
export type ProfilesJobData = StoredJob<StoredProfileItem>;
export type WebhooksJobData = StoredJob<StoredWebhookItem>;
export type CatalogJobData = StoredJob<StoredCatalogItem>;

// ---------------------------------------------------------------------------------------------
// In the code
// ---------------------------------------------------------------------------------------------

/** An event to deliver. */
export interface EventItem {
  /** Its item key (src/item-keys.ts): the `unique_id` Klaviyo dedupes it on. */
  readonly key: string;
  /** The caller's id (or the generated one, or `<order id>#<part>`). */
  readonly id: string;
  readonly event: EventInput;
}

/** A profile operation to carry out. */
export interface ProfileItem {
  readonly key: string;
  readonly id: string;
  readonly operation: ProfileOp;
}

/** One item of a Klaviyo system webhook delivery, or one flow webhook call; rules decide what it becomes. */
export type WebhookCall = { readonly topic: string; readonly payload: unknown } | { readonly flow: string; readonly body: unknown };

export interface WebhookItem {
  readonly key: string;
  /** Klaviyo's `external_id`, or the flow body's id (or hash). */
  readonly id: string;
  readonly webhook: WebhookCall;
}

/** What every job says about where its items came from. */
export interface JobOrigin {
  readonly source: string;
  readonly lane: string;
  /** When the relay accepted them (ms since epoch), for end-to-end latency. */
  readonly acceptedAt: number;
}

// ---------------------------------------------------------------------------------------------
// Encoding and decoding
// ---------------------------------------------------------------------------------------------

// Payloads (`e`, `o`, `w`) are sealed here when encryption at rest is on (src/payload-cipher.ts):
// every writer and reader of stored items goes through these.
export const encodeEventItem = (it: EventItem): StoredEventItem => ({ k: it.key, id: it.id, e: sealPayload(it.event) });
export const decodeEventItem = (s: StoredEventItem): EventItem => ({ key: s.k, id: s.id, event: openPayload(s.e) });

export const encodeProfileOp = (it: ProfileItem): StoredProfileOp => ({ k: it.key, id: it.id, o: sealPayload(it.operation) });
/** `profileKey`: its per-profile order key; its place in that order is set when it enters it. */
export const encodeProfileItem = (it: ProfileItem, profileKey: string): StoredProfileItem => ({
  k: it.key,
  id: it.id,
  pk: profileKey,
  seq: 0,
  o: sealPayload(it.operation),
});
export const decodeProfileItem = (s: StoredProfileOp): ProfileItem => ({ key: s.k, id: s.id, operation: openPayload(s.o) });

export const encodeWebhookItem = (it: WebhookItem): StoredWebhookItem => ({ k: it.key, id: it.id, w: sealPayload(it.webhook) });
export const decodeWebhookItem = (s: StoredWebhookItem): WebhookItem => ({ key: s.k, id: s.id, webhook: openPayload(s.w) });

/** A stored item with its payload opened (ops output, erasure matching); other fields as stored. */
export function openStoredItem<I extends StoredItem>(s: I): I {
  if ('e' in s) return { ...s, e: openPayload(s.e) };
  if ('o' in s) return { ...s, o: openPayload(s.o) };
  if ('w' in s) return { ...s, w: openPayload(s.w) };
  return s;
}

/** A job's data with every item's payload opened (live and dead items), for ops output and matching. */
export function openJobData<I extends StoredItem>(data: StoredJob<I>): StoredJob<I> {
  return {
    ...data,
    items: data.items.map(openStoredItem),
    ...(data.dead ? { dead: data.dead.map((d) => ({ ...d, item: openStoredItem(d.item) })) } : {}),
  };
}

/** Any stored item's key. */
export const itemKeyOf = (s: Pick<StoredItem, 'k'>): string => s.k;

/** A new job's data for these (stored) items. */
export function newJobData<I>(origin: JobOrigin, items: I[]): StoredJob<I> {
  return { v: 1, src: origin.source, lane: origin.lane, at: origin.acceptedAt, items };
}

export function jobOrigin(data: Pick<StoredJob<unknown>, 'src' | 'lane' | 'at'>): JobOrigin {
  return { source: data.src, lane: data.lane, acceptedAt: data.at };
}

/** What a job counts for queued-bytes limits (src/ingest/queued-bytes.ts). */
export interface JobBytes {
  /** Counted in its queue's counter; none for a job queued by an older version (never counted). */
  readonly bytes?: number;
  /** The source whose ledger counts it too (a source with `limits.queuedBytes`), if one does. */
  readonly ledgerSource?: string;
}

export function jobBytes(data: Pick<StoredJob<unknown>, 'src' | 'b' | 'bs'>): JobBytes {
  return { bytes: data.b, ledgerSource: data.bs === 1 ? data.src : undefined };
}

/** Records a new job's size in its data, before it is added; `inSourceLedger`: its source's ledger counts it too. */
export function setJobBytes(data: { b?: number; bs?: 1 }, bytes: number, inSourceLedger: boolean): void {
  data.b = bytes;
  if (inSourceLedger) data.bs = 1;
}

// ---------------------------------------------------------------------------------------------
// Commerce (issue 15): back-in-stock subscriptions and coupon codes
// ---------------------------------------------------------------------------------------------

export interface StoredBackInStockItem {
  readonly k: string;
  readonly id: string;
  readonly s: BackInStockSubscription;
}

export interface StoredCouponCodeItem {
  readonly k: string;
  readonly id: string;
  readonly c: CouponCode;
  readonly n: number;
}

export type BackInStockJobData = StoredJob<StoredBackInStockItem>;
/** `kj`, `ks`: set while the job's Klaviyo job runs (see the top of this file). */
export type CouponCodesJobData = StoredJob<StoredCouponCodeItem> & { readonly kj?: string; readonly ks?: string };

/** A back-in-stock subscription to make. */
export interface BackInStockItem {
  readonly key: string;
  /** The caller's request id (or the generated one). */
  readonly id: string;
  readonly subscription: BackInStockSubscription;
}

/** A coupon code to create. */
export interface CouponCodeItem {
  readonly key: string;
  /** The caller's request id (or the generated one): results are kept under it. */
  readonly id: string;
  readonly code: CouponCode;
  /** How many codes the request had. */
  readonly requestSize: number;
}

export const encodeBackInStockItem = (it: BackInStockItem): StoredBackInStockItem => ({ k: it.key, id: it.id, s: it.subscription });
export const decodeBackInStockItem = (s: StoredBackInStockItem): BackInStockItem => ({ key: s.k, id: s.id, subscription: s.s });
export const encodeCouponCodeItem = (it: CouponCodeItem): StoredCouponCodeItem => ({ k: it.key, id: it.id, c: it.code, n: it.requestSize });
export const decodeCouponCodeItem = (s: StoredCouponCodeItem): CouponCodeItem => ({ key: s.k, id: s.id, code: s.c, requestSize: s.n });
export function setMemoryPlace(data: { d?: string }, place: string): void {
  data.d = place;
}

/**
 * What a completed job keeps (issue 18): when it was accepted (find shows it) and how many items
 * it delivered, no payload — its items are `done` in the dedupe memory, which is what find by id
 * reads; its queue names its source and lane. Under 64 bytes, so the job's hash stays a listpack
 * (src/lua/dedupe-done.lua). Find by email, phone or external id (a scan of job data) no longer
 * sees completed jobs.
 */
export function completedJobData(data: StoredJob<unknown>): { at: number; n: number; items: never[] } {
  return { at: data.at, n: data.items.length, items: [] };
}
