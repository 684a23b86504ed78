/**
 * Item keys, job ids and job references: how each is built, and how it is read back. Everything
 * that builds or parses one goes through here.
 *
 * An item key names one piece of accepted work — an event, a profile operation, a webhook item —
 * for good: SHA-256 over the source, the caller's id and, where one id makes several items, the
 * part of it (an order's line, a list member). The same key is
 *   - the `unique_id` Klaviyo dedupes events on: Klaviyo keeps only the first event per
 *     (profile, metric, unique_id), so a retried or replayed item never counts twice, and two
 *     events in the same second are never merged (create_event's default dedupes on the second);
 *   - the name of the item's dedupe key at ingest (`…:id:<item key>`, src/redis-keys.ts), which
 *     holds the job that carries it;
 *   - what job ids are made of, so that identical requests map to the same job.
 * Keys are stored (in Redis, in jobs, at Klaviyo): building one differently makes every item
 * accepted before the change new again.
 *
 * Find (src/ops/find.ts) asks this module which keys a caller's id can have (`keysForId`), and, for
 * the items whose key also names something the id does not (a list and a member, a rule), which
 * stored items came from it (`madeFromId`).
 *
 * Lua reads two of these formats too: the claim (src/lua/enqueue-claim.lua) reads what an item key
 * holds, the per-profile order (src/lua/profile-turn.lua) reads pending-set members. They follow
 * the formats below.
 *
 * `crypto.hash` (one-shot) rather than createHash: it is on the ingest hot path, ~6x cheaper.
 */
import { hash } from 'node:crypto';
import { MAX_ORDER_ITEMS, ORDER_STATUSES } from './model/order.ts';
import { type JobKind, legacyRef, parseQueueName, type QueueRef, queueName } from './queue-catalog.ts';

/** 22 base64url characters: 132 bits of SHA-256. */
function digest22(text: string): string {
  return (hash('sha256', text, 'base64url') as string).slice(0, 22);
}

function itemKey(sourceId: string, id: string, part?: string): string {
  return digest22(part === undefined ? `${sourceId}\n${id}` : `${sourceId}\n${id}\n${part}`);
}

// ---------------------------------------------------------------------------------------------
// Item keys, per kind of item
// ---------------------------------------------------------------------------------------------

/** An event posted to /v1/events: the source and the event's id. */
export function eventKey(sourceId: string, id: string): string {
  return itemKey(sourceId, id);
}

/** A Klaviyo system webhook item (its `external_id`) or a flow webhook call (its body's id or hash), under the webhook's source. */
export function webhookItemKey(sourceId: string, id: string): string {
  return itemKey(sourceId, id);
}

/** The statuses an order's status event is named by (a placed order has none besides "Placed Order"). */
type OrderStatusPart = Exclude<(typeof ORDER_STATUSES)[number], 'placed'>;

/** Which of an order's events: "Placed Order", one "Ordered Product" per line (`line:<index>`), a status event. */
export type OrderPart = 'placed' | `line:${number}` | OrderStatusPart;

export function orderLinePart(index: number): OrderPart {
  return `line:${index}`;
}

/** One of an order's events (src/model/order-events.ts): two lines with the same product never collide. */
export function orderEventKey(sourceId: string, orderId: string, part: OrderPart): string {
  return itemKey(sourceId, orderId, part);
}

/** The id an order's event is stored under: `<order id>#<part>` (dead letters and find show it). */
export function orderEventId(orderId: string, part: OrderPart): string {
  return `${orderId}#${part}`;
}

/** The upsert of POST /v1/profiles: `id` identifies the update, not the person. */
export function profileUpsertKey(sourceId: string, id: string): string {
  return itemKey(sourceId, id, 'upsert');
}

/** A list add that POST /v1/profiles makes from `lists`, after the upsert of the same id. */
export function profileListAddKey(sourceId: string, id: string, listId: string): string {
  return itemKey(sourceId, id, `list-add:${listId}`);
}

/**
 * One member of POST|DELETE /v1/lists/{listId}/members: the operation, the list of the path (also
 * for an account-wide unsubscribe) and the member's primary identifier, so one request id covers
 * every member and list.
 */
export function listMemberKey(
  sourceId: string,
  id: string,
  op: 'list-add' | 'list-remove' | 'subscribe' | 'unsubscribe',
  listId: string,
  member: { readonly field: string; readonly value: string },
): string {
  return itemKey(sourceId, id, `${op}:${listId}:${member.field}:${member.value}`);
}

/**
 * A back-in-stock subscription: who (every identifier sent), the variant and the channels, not
 * the request id — the same subscription sent again, under any id, is a duplicate.
 */
export function backInStockKey(
  sourceId: string,
  s: { email?: string; phone_number?: string; external_id?: string; variantId: string; channels: readonly string[] },
): string {
  return itemKey(sourceId, s.variantId, `back-in-stock:${s.email ?? ''}:${s.phone_number ?? ''}:${s.external_id ?? ''}:${s.channels.join(',')}`);
}

/** A coupon code: a code exists once per coupon, so the same code sent again, under any request id, is a duplicate. */
export function couponCodeKey(sourceId: string, couponId: string, code: string): string {
  return itemKey(sourceId, couponId, `coupon-code:${code}`);
}

/** A privacy operation of /v1/privacy/deletions or /v1/suppressions: the request id, the operation and the person. */
export function privacyItemKey(sourceId: string, id: string, op: 'erase' | 'suppress' | 'unsuppress', field: string, value: string): string {
  return itemKey(sourceId, id, `${op}:${field}:${value}`);
}

/** What a webhook rule's action makes from a webhook item: keyed by the item, the rule and the action's positions. */
export function ruleActionKey(sourceId: string, itemId: string, rule: number, action: number): string {
  return itemKey(sourceId, itemId, `rule:${rule}:action:${action}`);
}

/** The id a rule's action is stored under: `<webhook item id>#r<rule>a<action>`. */
export function ruleActionId(itemId: string, rule: number, action: number): string {
  return `${itemId}#r${rule}a${action}`;
}

// ---------------------------------------------------------------------------------------------
// From a caller's id back to its items (find)
// ---------------------------------------------------------------------------------------------

const ORDER_STATUS_PARTS = ORDER_STATUSES.filter((s): s is OrderStatusPart => s !== 'placed');
const ORDER_PART = /^(?:placed|fulfilled|cancelled|refunded|line:(0|[1-9]\d{0,8}))$/;

function isOrderPart(s: string): s is OrderPart {
  const m = ORDER_PART.exec(s);
  return m !== null && (m[1] === undefined || Number(m[1]) < MAX_ORDER_ITEMS);
}

/**
 * Every key an item of this kind can have when the caller's id (or an item id shown for it, such
 * as `<order id>#line:119`) is `id`: an event's; an order's every event (each line an order may
 * have); a profile upsert's; a webhook item's. Items whose key also names a list and a member, or
 * a rule, are not among them: see madeFromId.
 */
export function keysForId(kind: JobKind, sourceId: string, id: string): string[] {
  switch (kind) {
    case 'events': {
      const keys = [eventKey(sourceId, id), orderEventKey(sourceId, id, 'placed')];
      for (const status of ORDER_STATUS_PARTS) keys.push(orderEventKey(sourceId, id, status));
      for (let line = 0; line < MAX_ORDER_ITEMS; line++) keys.push(orderEventKey(sourceId, id, orderLinePart(line)));
      // An order event's own id, `<order id>#<part>`, names that one event.
      const sep = id.lastIndexOf('#');
      const part = id.slice(sep + 1);
      if (sep > 0 && isOrderPart(part)) keys.push(orderEventKey(sourceId, id.slice(0, sep), part));
      return keys;
    }
    case 'profiles':
      return [profileUpsertKey(sourceId, id)];
    case 'webhooks':
      return [webhookItemKey(sourceId, id)];
    // Catalog operations are not deduplicated (a later copy of an earlier content must apply again): no key names them.
    case 'catalog':
    // Back-in-stock and coupon codes are keyed by what they are, not by the request id: found by the id stored on them.
    case 'back-in-stock':
    case 'coupon-codes':
      return [];
  }
}

/**
 * The kinds with items keysForId cannot name (list members, a profile's list adds, rules'
 * operations, back-in-stock subscriptions and coupon codes): find scans them for madeFromId.
 */
export const KINDS_FOUND_BY_STORED_ID: readonly JobKind[] = ['profiles', 'back-in-stock', 'coupon-codes'];

/** Whether an item stored under `itemId` was made from the caller's `id`: the id itself, an order's event or a rule's action. */
export function madeFromId(itemId: string, id: string): boolean {
  return itemId === id || (itemId.length > id.length + 1 && itemId.startsWith(id) && itemId[id.length] === '#');
}

// ---------------------------------------------------------------------------------------------
// Job ids and job references
// ---------------------------------------------------------------------------------------------

/** A job id for a set of items: identical requests map to the same job, so BullMQ adds it once. */
export function jobIdForItems(kind: JobKind, keys: readonly string[]): string {
  if (keys.length === 1) return `${kind}-${keys[0]}`;
  return `${kind}-b${digest22(keys.join('\n'))}`;
}

/** The id a replayed dead letter takes in another queue when its own id is taken there by a finished job. */
export function replayJobId(jobId: string, attempt: number): string {
  return `${jobId}-r${attempt}`;
}

/**
 * A job anywhere in a lane's queues: `<queue>/<jobId>`. Dead-letter refs, find's answers, what an
 * item key holds and pending-set members use it. (Job ids never contain `/`.)
 */
export function jobRef(queue: QueueRef | string, jobId: string): string {
  return `${typeof queue === 'string' ? queue : queueName(queue)}/${jobId}`;
}

export function parseJobRef(s: string): { ref: QueueRef; jobId: string } | undefined {
  const slash = s.indexOf('/');
  if (slash <= 0 || slash === s.length - 1) return undefined;
  const ref = parseQueueName(s.slice(0, slash));
  return ref ? { ref, jobId: s.slice(slash + 1) } : undefined;
}

/** What an item key holds once its job completed. (The claim's Lua declares the same literal; its loader checks that it does.) */
export const DONE = 'done';

/**
 * What an item key holds: `done`, or the job that carries the item — `<queue>/<jobId>`, or, written
 * before issue 12, a bare job id of the kind and lane's legacy queue.
 */
export function readItemKeyValue(value: string, kind: JobKind, lane: string): { done: true } | { done: false; ref: QueueRef; jobId: string } {
  if (value === DONE) return { done: true };
  const at = parseJobRef(value);
  return at ? { done: false, ...at } : { done: false, ref: legacyRef(kind, lane), jobId: value };
}

/**
 * A member of a profile's pending set (src/profile-order.ts): `<job ref>|<item key>|<ms>`. Members
 * written before issue 12 name a job of the legacy queue as `<jobId>|<item key>|<ms>`.
 */
export function pendingMember(queue: QueueRef, jobId: string, itemKey: string, at: number): string {
  return `${jobRef(queue, jobId)}|${itemKey}|${at}`;
}

export function itemKeyOfPendingMember(member: string): string {
  return member.split('|')[1]!;
}
