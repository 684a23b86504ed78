/**
 * Segment / RudderStack tracking messages → the work /v1/events, /v1/orders and /v1/profiles make
 * (README "Coming from Segment or RudderStack" has the table). Pure: no I/O; the id of a message
 * without a messageId comes from `newId`.
 *
 * A message becomes exactly the items the equivalent /v1 call would queue, keyed by its messageId
 * scoped by source (src/model/ids.ts), so an SDK retry of a batch is delivered once:
 *   track            → an event (metric = event, renamed per source)       = POST /v1/events {id: messageId}
 *   track "Order Completed" with products[]
 *                    → Placed Order + one Ordered Product per product     = POST /v1/orders, keyed by messageId
 *   page / screen    → "Viewed Page" / "Viewed Screen" (unless the source turns them off)
 *   identify         → a profile upsert                                   = POST /v1/profiles {id: messageId}
 *   group            → list membership or consent, when the source maps groups to lists
 *   alias            → acknowledged (Klaviyo merges profiles that share an identifier)
 */
import { hash } from 'node:crypto';
import { z } from 'zod';
import { KLAVIYO_ID } from '../klaviyo/endpoints.ts';
import { EventSchema, type EventInput } from '../model/event.ts';
import { isPlainValidEvent } from '../model/event-fast-path.ts';
import { eventKey, listMemberKey, orderEventId, orderEventKey, profileUpsertKey } from '../item-keys.ts';
import { MAX_JSON_DEPTH } from '../model/json-limits.ts';
import { OrderSchema } from '../model/order.ts';
import { orderEvents } from '../model/order-events.ts';
import { primaryIdentifier, type Channel, type ProfileOp, type ProfileRef } from '../model/profile-operation.ts';
import { ProfileUpsertSchema } from '../model/profile-requests.ts';
import { PHONE_E164 } from '../model/profile-fields.ts';
import {
  BatchEnvelopeSchema,
  isPlainEnvelope,
  isPlainMessage,
  type BatchEnvelope,
  MAX_MESSAGE_BYTES,
  MESSAGE_TYPES,
  SegmentMessageSchema,
  type MessageType,
  type SegmentMessage,
} from '../model/segment-message.ts';
import type { EventItem, ProfileItem } from '../job-data.ts';
import type { TrackingSettings } from '../relay-config.ts';
import { fieldPath } from '../http/errors.ts';

export const DEFAULT_TRACKING: TrackingSettings = { rename: {}, pages: true, groups: 'ignore' };

export interface MapContext {
  readonly sourceId: string;
  readonly settings: TrackingSettings;
  /** When the request arrived (ms): the clock-skew correction's reference, and the time of a message without one. */
  readonly receivedAt: number;
  /** The batch's `sentAt`, for messages without their own. */
  readonly batchSentAt?: string | null;
  /** The batch's `context`, merged under each message's. */
  readonly batchContext?: Readonly<Record<string, unknown>> | null;
  readonly newId: () => string;
  /** Parsed times of this request (mapRequest makes it). */
  readonly times?: Map<string, number>;
}

export interface MessageIssue {
  /** Relative to the message: `event`, `context.traits.email`, `(message)`. */
  readonly field: string;
  readonly message: string;
}

export type Mapped =
  | { readonly outcome: 'accepted'; readonly type: MessageType; readonly id: string; readonly events: EventItem[]; readonly ops: ProfileItem[] }
  | { readonly outcome: 'ignored'; readonly type: MessageType; readonly reason: string }
  | { readonly outcome: 'rejected'; readonly type: MessageType | 'unknown'; readonly issues: MessageIssue[] };

const ORDER_COMPLETED = 'order completed';
const EARLIEST_EVENT_TIME = Date.UTC(1990, 0, 1);
const YEAR_MS = 365 * 24 * 3600 * 1000;
const PRINTABLE_ID = /^[\x21-\x7e]{1,255}$/;
const EMAIL = z.regexes.email;
const CURRENCY = /^[A-Z]{3}$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const obj = (v: unknown): Obj | undefined => (isObj(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const idText = (v: unknown): string | undefined => (typeof v === 'number' && Number.isFinite(v) ? String(v) : str(v));

const rejected = (type: MessageType | 'unknown', field: string, message: string): Mapped => ({ outcome: 'rejected', type, issues: [{ field, message }] });

export type RequestKind = 'batch' | MessageType;

export type MappedRequest =
  | { readonly ok: true; readonly messages: readonly Mapped[] }
  | { readonly ok: false; readonly issues: readonly { readonly field: string; readonly message: string }[] };

/**
 * A request's body: `{"batch": [...]}` for /v1/batch, else one message whose type is the route's.
 * `bodyBytes` (decompressed) decides whether a message can be over 32 KB at all: only then is
 * each one measured.
 */
export function mapRequest(kind: RequestKind, body: unknown, ctx: Omit<MapContext, 'batchSentAt' | 'batchContext'>, bodyBytes: number): MappedRequest {
  if (!isObj(body)) return { ok: false, issues: [{ field: '(body)', message: 'must be a JSON object' }] };
  if (kind !== 'batch') {
    return { ok: true, messages: [mapMessage({ ...body, type: kind }, ctx, bodyBytes > MAX_MESSAGE_BYTES ? bodyBytes : undefined)] };
  }
  let envelope: BatchEnvelope;
  if (isPlainEnvelope(body)) envelope = body;
  else {
    const parsed = BatchEnvelopeSchema.safeParse(body);
    if (!parsed.success) return { ok: false, issues: parsed.error.issues.map((i) => ({ field: fieldPath(i.path) || '(body)', message: i.message })) };
    envelope = parsed.data;
  }
  const { batch, sentAt, context } = envelope;
  const batchCtx: MapContext = { ...ctx, batchSentAt: sentAt, batchContext: context, times: new Map() };
  if (bodyBytes <= MAX_MESSAGE_BYTES) return { ok: true, messages: batch.map((m) => mapMessage(m, batchCtx)) };
  return {
    ok: true,
    messages: batch.map((m) => {
      const bound = sizeBound(m, MAX_MESSAGE_DEPTH);
      // JSON.stringify overflows the stack on a hostile nesting (JSON.parse takes any depth), and
      // nothing that deep can be delivered anyway (json-limits.ts).
      if (bound === 'deep') return rejected(typeOf(m), '(message)', `is nested deeper than ${MAX_MESSAGE_DEPTH} levels`);
      // Only a message that might be over 32 KB is serialized to be measured.
      return mapMessage(m, batchCtx, bound <= MAX_MESSAGE_BYTES ? undefined : Buffer.byteLength(JSON.stringify(m) ?? ''));
    }),
  };
}

/** A message's properties may nest 32 levels (json-limits.ts) below the message and its field. */
const MAX_MESSAGE_DEPTH = MAX_JSON_DEPTH + 8;

/**
 * An upper bound of a value's JSON size in bytes (a string counts 6 bytes per UTF-16 unit, its
 * worst case as `\uXXXX`), without reading its strings; 'deep' past `depth` levels.
 */
function sizeBound(v: unknown, depth: number): number | 'deep' {
  if (typeof v === 'string') return 6 * v.length + 2;
  if (v === null || typeof v !== 'object') return 24;
  if (depth <= 0) return 'deep';
  let n = 2;
  if (Array.isArray(v)) {
    for (const x of v) {
      const b = sizeBound(x, depth - 1);
      if (b === 'deep') return b;
      n += b + 1;
    }
    return n;
  }
  for (const k in v) {
    const b = sizeBound((v as Obj)[k], depth - 1);
    if (b === 'deep') return b;
    n += 6 * k.length + 4 + b;
  }
  return n;
}

const typeOf = (raw: unknown): MessageType | 'unknown' =>
  isObj(raw) && (MESSAGE_TYPES as readonly unknown[]).includes(raw.type) ? (raw.type as MessageType) : 'unknown';

/**
 * One message of a request. `bytes` is its serialized size when the request was large enough for
 * one message to pass 32 KB (undefined: it cannot).
 */
export function mapMessage(raw: unknown, ctx: MapContext, bytes?: number): Mapped {
  const type = typeOf(raw);
  if (bytes !== undefined && bytes > MAX_MESSAGE_BYTES)
    return rejected(type, '(message)', `is ${bytes} bytes; a message may have at most ${MAX_MESSAGE_BYTES} (32 KB)`);
  let m: SegmentMessage;
  if (isPlainMessage(raw)) m = raw;
  else {
    const parsed = SegmentMessageSchema.safeParse(raw);
    if (!parsed.success) {
      return { outcome: 'rejected', type, issues: parsed.error.issues.map((i) => ({ field: fieldPath(i.path) || '(message)', message: i.message })) };
    }
    m = parsed.data;
  }
  const id = messageItemId(m.messageId, ctx.newId);
  switch (m.type) {
    case 'track':
      return mapTrack(m, id, ctx);
    case 'page':
    case 'screen':
      if (!ctx.settings.pages) return { outcome: 'ignored', type: m.type, reason: `${m.type} calls are turned off for this source (tracking.pages)` };
      return mapEvent(m, id, ctx, m.type === 'page' ? 'Viewed Page' : 'Viewed Screen', pageProperties(m));
    case 'identify':
      return mapIdentify(m, id, ctx);
    case 'group':
      return mapGroup(m, id, ctx);
    case 'alias':
      return { outcome: 'ignored', type: 'alias', reason: 'Klaviyo merges profiles that share an identifier; alias is acknowledged and not sent' };
  }
}

/**
 * The id a message's items are keyed by: its messageId when that is a valid /v1 id, a digest of it
 * when not (still stable across retries), a new one when it has none (nothing to dedupe on).
 */
export function messageItemId(messageId: string | null | undefined, newId: () => string): string {
  if (messageId === undefined || messageId === null || messageId === '') return newId();
  if (PRINTABLE_ID.test(messageId)) return messageId;
  return `m-${(hash('sha256', messageId, 'base64url') as string).slice(0, 22)}`;
}

/**
 * `timestamp` (Segment) or `originalTimestamp` (RudderStack), corrected for the sender's clock like
 * Segment does: + (receivedAt − sentAt) when the message (or its batch) says when it was sent.
 */
/**
 * Date.parse, remembering the last few strings of the request: an SDK's batch repeats its sentAt
 * in every message, and messages made in the same millisecond share their timestamp.
 */
function parseTime(s: string, ctx: Pick<MapContext, 'times'>): number {
  const memo = ctx.times;
  if (!memo) return Date.parse(s);
  let t = memo.get(s);
  if (t === undefined) {
    t = Date.parse(s);
    if (memo.size < 64) memo.set(s, t);
  }
  return t;
}

export function messageTime(
  m: Pick<SegmentMessage, 'timestamp' | 'originalTimestamp' | 'sentAt'>,
  ctx: Pick<MapContext, 'receivedAt' | 'batchSentAt' | 'times'>,
) {
  const field = m.timestamp ? 'timestamp' : 'originalTimestamp';
  const given = m.timestamp || m.originalTimestamp;
  let t = ctx.receivedAt;
  if (given) {
    t = parseTime(given, ctx);
    if (Number.isNaN(t)) return { ok: false as const, issue: { field, message: 'must be an ISO-8601 date-time' } };
    const sentAt = parseTime((m.sentAt || ctx.batchSentAt) ?? '', ctx);
    if (!Number.isNaN(sentAt)) t += ctx.receivedAt - sentAt;
  }
  if (t <= EARLIEST_EVENT_TIME) return { ok: false as const, issue: { field, message: 'must be after 1990 (Klaviyo rejects older events)' } };
  if (t > ctx.receivedAt + YEAR_MS) return { ok: false as const, issue: { field, message: 'must be at most one year in the future' } };
  return { ok: true as const, time: new Date(t).toISOString() };
}

const validEmail = (v: unknown): string | undefined => {
  const s = str(v);
  // EmailSchema's rules (trimmed, at most 254, zod's email pattern) without its copies: this runs per message.
  return s !== undefined && s.length <= 254 && EMAIL.test(s) ? s : undefined;
};
const validPhone = (v: unknown): string | undefined => {
  const s = str(v);
  return s !== undefined && PHONE_E164.test(s) ? s : undefined;
};

/** The message's context, over the batch's. */
function contextOf(m: SegmentMessage, ctx: MapContext): Obj {
  return ctx.batchContext ? { ...ctx.batchContext, ...(m.context ?? {}) } : (m.context ?? {});
}

/**
 * Who an event is about: userId → external_id, anonymousId → anonymous_id, email and phone from
 * context.traits (or the properties). An email or phone Klaviyo would refuse is left out rather
 * than failing the event: tracking data often carries local phone formats.
 */
function eventProfile(m: SegmentMessage, ctx: MapContext): { profile: Obj } | { issue: MessageIssue } {
  const traits = obj(contextOf(m, ctx).traits) ?? {};
  const props = m.properties ?? {};
  const profile: Obj = {};
  const email = validEmail(traits.email) ?? validEmail(props.email);
  const phone = validPhone(traits.phone) ?? validPhone(props.phone);
  const userId = idText(m.userId);
  const anonymousId = idText(m.anonymousId);
  if (email) profile.email = email;
  if (phone) profile.phone_number = phone;
  if (userId) {
    if (userId.length > 255) return { issue: { field: 'userId', message: 'must be at most 255 characters' } };
    profile.external_id = userId;
  }
  if (anonymousId) {
    if (anonymousId.length > 255) return { issue: { field: 'anonymousId', message: 'must be at most 255 characters' } };
    profile.anonymous_id = anonymousId;
  }
  if (Object.keys(profile).length === 0)
    return { issue: { field: 'userId', message: 'needs a userId, an anonymousId, or an email or phone in context.traits' } };
  return { profile };
}

/** Lower-cased rename maps, built once per settings object (the renames are matched case-insensitively). */
const lowerRenames = new WeakMap<TrackingSettings, Map<string, string>>();

function renamed(settings: TrackingSettings, name: string): string {
  // Own keys only: a name like "constructor" must not find Object.prototype's.
  if (Object.hasOwn(settings.rename, name)) return settings.rename[name]!;
  let lower = lowerRenames.get(settings);
  if (!lower) {
    lower = new Map(Object.entries(settings.rename).map(([from, to]) => [from.toLowerCase(), to]));
    lowerRenames.set(settings, lower);
  }
  return lower.size === 0 ? name : (lower.get(name.toLowerCase()) ?? name);
}

function mapTrack(m: SegmentMessage, id: string, ctx: MapContext): Mapped {
  const name = str(m.event);
  if (!name) return rejected('track', 'event', 'is required: the name of the event, e.g. "Order Completed"');
  const props = m.properties ?? {};
  if (name.toLowerCase() === ORDER_COMPLETED && Array.isArray(props.products) && props.products.length > 0) return mapOrder(m, id, ctx, props);
  const value = num(props.revenue) ?? num(props.value) ?? num(props.total);
  return mapEvent(m, id, ctx, name, props, value);
}

function pageProperties(m: SegmentMessage): Obj {
  const props: Obj = { ...(m.properties ?? {}) };
  if (m.name) props.name ??= m.name;
  if (m.category) props.category ??= m.category;
  return props;
}

/** An event as POST /v1/events {id: messageId} would queue it. */
function mapEvent(m: SegmentMessage, id: string, ctx: MapContext, name: string, props: Obj, value?: number): Mapped {
  const type = m.type;
  const who = eventProfile(m, ctx);
  if ('issue' in who) return { outcome: 'rejected', type, issues: [who.issue] };
  const time = messageTime(m, ctx);
  if (!time.ok) return { outcome: 'rejected', type, issues: [time.issue] };
  const e: Obj = { event: renamed(ctx.settings, name), profile: who.profile };
  if (Object.keys(props).length > 0) e.properties = props;
  if (value !== undefined) {
    e.value = value;
    const currency = typeof props.currency === 'string' ? props.currency.toUpperCase() : undefined;
    if (currency && CURRENCY.test(currency)) e.value_currency = currency;
  }
  // The time is ours (a valid ISO string in range), so the fast path may judge the rest.
  let event: EventInput;
  if (isPlainValidEvent(e)) {
    e.time = time.time;
    event = e as EventInput;
  } else {
    const parsed = EventSchema.safeParse({ ...e, time: time.time });
    if (!parsed.success) return { outcome: 'rejected', type, issues: eventIssues(parsed.error.issues) };
    event = parsed.data;
  }
  return { outcome: 'accepted', type, id, events: [{ key: eventKey(ctx.sourceId, id), id, event }], ops: [] };
}

/** zod's paths are the Klaviyo shape's; say which message field they came from. */
function eventIssues(issues: readonly { path: PropertyKey[]; message: string }[]): MessageIssue[] {
  const where: Record<string, string> = { event: 'event', profile: 'userId', properties: 'properties', value: 'properties.value' };
  return issues.map((i) => {
    const [head, ...rest] = i.path;
    const base = where[String(head)] ?? String(head ?? '(message)');
    const field = base === 'properties' ? fieldPath(['properties', ...rest]) : base;
    return { field, message: i.message };
  });
}

/** Order Completed (Segment's e-commerce spec v2) → the order POST /v1/orders would take. */
function mapOrder(m: SegmentMessage, id: string, ctx: MapContext, props: Obj): Mapped {
  const who = eventProfile(m, ctx);
  if ('issue' in who) return { outcome: 'rejected', type: 'track', issues: [who.issue] };
  const time = messageTime(m, ctx);
  if (!time.ok) return { outcome: 'rejected', type: 'track', issues: [time.issue] };
  const items = (props.products as unknown[]).map((raw) => {
    const p = obj(raw) ?? {};
    const productId = idText(p.product_id) ?? idText(p.sku) ?? idText(p.id);
    const item: Obj = {
      product_id: productId,
      name: str(p.name) ?? productId,
      quantity: typeof p.quantity === 'number' && Number.isInteger(p.quantity) && p.quantity > 0 ? p.quantity : 1,
      price: num(p.price) ?? 0,
    };
    if (str(p.sku)) item.sku = str(p.sku);
    if (str(p.url)) item.url = str(p.url);
    if (str(p.image_url)) item.image_url = str(p.image_url);
    if (str(p.category)) item.categories = [str(p.category)];
    if (str(p.brand)) item.brand = str(p.brand);
    return item;
  });
  const sum = items.reduce((n, i) => n + (i.price as number) * (i.quantity as number), 0);
  const currency = typeof props.currency === 'string' ? props.currency.toUpperCase() : 'USD';
  const order: Obj = {
    id: idText(props.order_id) ?? id,
    profile: who.profile,
    value: num(props.total) ?? num(props.revenue) ?? num(props.value) ?? Math.round(sum * 100) / 100,
    currency,
    items,
    time: time.time,
  };
  if (str(props.coupon)) order.discount_codes = [str(props.coupon)];
  if (num(props.discount) !== undefined) order.discount_value = num(props.discount);
  const parsed = OrderSchema.safeParse(order);
  if (!parsed.success)
    return { outcome: 'rejected', type: 'track', issues: parsed.error.issues.map((i) => ({ field: orderField(i.path), message: i.message })) };
  // The events of /v1/orders for this order; keyed by the messageId, so an SDK retry is one order.
  const events = orderEvents(parsed.data).map(({ part, event }) => ({ key: orderEventKey(ctx.sourceId, id, part), id: orderEventId(id, part), event }));
  return { outcome: 'accepted', type: 'track', id, events, ops: [] };
}

function orderField(path: readonly PropertyKey[]): string {
  const [head, index, leaf] = path;
  if (head === 'items') return fieldPath(['properties', 'products', ...(index === undefined ? [] : [index]), ...(leaf === undefined ? [] : [leaf])]);
  const where: Record<string, string> = { id: 'properties.order_id', profile: 'userId', value: 'properties.total', currency: 'properties.currency' };
  return where[String(head)] ?? fieldPath(['properties', ...path]);
}

/** identify's traits Klaviyo has a place for; every other trait becomes a custom property. */
const MAPPED_TRAITS = new Set(['email', 'phone', 'firstName', 'first_name', 'lastName', 'last_name', 'title', 'company', 'address', 'avatar']);

function mapIdentify(m: SegmentMessage, id: string, ctx: MapContext): Mapped {
  const traits: Obj = { ...(obj(contextOf(m, ctx).traits) ?? {}), ...(m.traits ?? {}) };
  const profile: Obj = {};
  const email = validEmail(traits.email);
  const phone = validPhone(traits.phone);
  const userId = idText(m.userId);
  if (email) profile.email = email;
  if (phone) profile.phone_number = phone;
  if (userId) profile.external_id = userId;
  if (!email && !phone && !userId) {
    return rejected('identify', 'userId', 'needs a userId, or an email or E.164 phone in traits (Klaviyo does not import profiles by anonymousId)');
  }
  const firstName = str(traits.firstName) ?? str(traits.first_name);
  const lastName = str(traits.lastName) ?? str(traits.last_name);
  const company = obj(traits.company);
  const organization = str(company?.name) ?? str(traits.company);
  if (firstName) profile.first_name = firstName;
  if (lastName) profile.last_name = lastName;
  if (str(traits.title)) profile.title = str(traits.title);
  if (organization) profile.organization = organization;
  if (str(traits.avatar)) profile.image = str(traits.avatar);
  const address = obj(traits.address);
  if (address) {
    const location: Obj = {};
    const put = (to: string, ...from: string[]) => {
      for (const f of from) {
        const v = str(address[f]);
        if (v !== undefined) {
          location[to] = v;
          return;
        }
      }
    };
    put('address1', 'street', 'address1', 'line1');
    put('address2', 'address2', 'line2');
    put('city', 'city');
    put('region', 'state', 'region');
    put('zip', 'postalCode', 'postal_code', 'zip');
    put('country', 'country');
    if (Object.keys(location).length > 0) profile.location = location;
  }
  const properties: Obj = {};
  for (const [k, v] of Object.entries(traits)) if (!MAPPED_TRAITS.has(k) && v !== undefined) properties[k] = v;
  if (Object.keys(properties).length > 0) profile.properties = properties;
  const parsed = ProfileUpsertSchema.safeParse(profile);
  if (!parsed.success)
    return { outcome: 'rejected', type: 'identify', issues: parsed.error.issues.map((i) => ({ field: traitField(i.path), message: i.message })) };
  const { id: _none, lists: _lists, ...upsert } = parsed.data;
  return {
    outcome: 'accepted',
    type: 'identify',
    id,
    events: [],
    ops: [{ key: profileUpsertKey(ctx.sourceId, id), id, operation: { op: 'upsert', profile: upsert } }],
  };
}

function traitField(path: readonly PropertyKey[]): string {
  const where: Record<string, string> = {
    email: 'traits.email',
    phone_number: 'traits.phone',
    external_id: 'userId',
    first_name: 'traits.firstName',
    last_name: 'traits.lastName',
    title: 'traits.title',
    organization: 'traits.company.name',
    image: 'traits.avatar',
    location: 'traits.address',
  };
  const [head, ...rest] = path;
  if (head === 'properties') return fieldPath(['traits', ...rest]);
  return where[String(head)] ?? fieldPath(['traits', ...path]);
}

/**
 * group → a list operation when the source maps groups to lists and the group id (or
 * traits.list_id) is a Klaviyo list id: membership, or consent when traits.consent names channels
 * (["email", "sms"]) or traits.subscribe is true (subscribe) or false (unsubscribe from that list).
 */
function mapGroup(m: SegmentMessage, id: string, ctx: MapContext): Mapped {
  if (ctx.settings.groups !== 'lists') return { outcome: 'ignored', type: 'group', reason: 'group calls are not mapped for this source (tracking.groups)' };
  const traits = m.traits ?? {};
  const listId = idText(traits.list_id) ?? idText(m.groupId);
  if (!listId || !KLAVIYO_ID.test(listId)) return { outcome: 'ignored', type: 'group', reason: 'the groupId (or traits.list_id) is not a Klaviyo list id' };
  const userTraits = obj(contextOf(m, ctx).traits) ?? {};
  const member: { email?: string; phone_number?: string; external_id?: string } = {};
  const email = validEmail(userTraits.email) ?? validEmail(traits.email);
  const phone = validPhone(userTraits.phone) ?? validPhone(traits.phone);
  const userId = idText(m.userId);
  if (email) member.email = email;
  if (phone) member.phone_number = phone;
  if (userId && userId.length <= 255) member.external_id = userId;
  const who = primaryIdentifier(member as ProfileRef);
  if (!who) return rejected('group', 'userId', 'a list member needs a userId, or an email or E.164 phone in context.traits');

  let channels: Channel[] = [];
  const consent = Array.isArray(traits.consent) ? traits.consent : typeof traits.consent === 'string' ? [traits.consent] : undefined;
  if (consent) channels = (['email', 'sms'] as const).filter((ch) => consent.some((c) => typeof c === 'string' && c.toLowerCase() === ch));
  else if (typeof traits.subscribe === 'boolean') channels = [...(email ? (['email'] as const) : []), ...(phone ? (['sms'] as const) : [])];
  if (channels.includes('email') && !email) return rejected('group', 'context.traits.email', 'is required to change email consent');
  if (channels.includes('sms') && !phone) return rejected('group', 'context.traits.phone', 'is required to change SMS consent (E.164)');

  const source = str(traits.source)?.slice(0, 255);
  const o: ProfileOp =
    channels.length === 0
      ? { op: 'list-add', listId, member }
      : traits.subscribe === false
        ? { op: 'unsubscribe', listId, member, channels, ...(source ? { source } : {}) }
        : { op: 'subscribe', listId, member, channels, ...(source ? { source } : {}) };
  // The key POST /v1/lists/{listId}/members {id: messageId} gives the same operation.
  return { outcome: 'accepted', type: 'group', id, events: [], ops: [{ key: listMemberKey(ctx.sourceId, id, o.op, listId, who), id, operation: o }] };
}
