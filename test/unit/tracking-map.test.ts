/**
 * The Segment/RudderStack message mapping (src/tracking/map.ts): each message type, the clock-skew
 * correction, the per-source settings, and the equivalence with /v1/events, /v1/orders and
 * /v1/profiles (same items, keyed by the messageId).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventKey, listMemberKey, orderEventId, orderEventKey, profileUpsertKey } from '../../src/item-keys.ts';
import { OrderSchema } from '../../src/model/order.ts';
import { orderEvents } from '../../src/model/order-events.ts';
import { parseRelayConfig, RelayConfigError, type TrackingSettings } from '../../src/relay-config.ts';
import { BatchEnvelopeSchema, isPlainEnvelope, isPlainMessage, SegmentMessageSchema } from '../../src/model/segment-message.ts';
import { DEFAULT_TRACKING, mapMessage, mapRequest, messageItemId, messageTime, type MapContext, type Mapped } from '../../src/tracking/map.ts';

const NOW = Date.parse('2026-11-27T10:00:00.000Z');
const ctx = (settings: Partial<TrackingSettings> = {}, extra: Partial<MapContext> = {}): MapContext => ({
  sourceId: 'src-shop',
  settings: { ...DEFAULT_TRACKING, ...settings },
  receivedAt: NOW,
  newId: () => 'generated-id',
  ...extra,
});

function accepted(m: Mapped) {
  if (m.outcome !== 'accepted') throw new Error(`expected accepted, got ${JSON.stringify(m)}`);
  return m;
}

describe('track', () => {
  it('→ an event keyed by the messageId scoped by source, as POST /v1/events {id} would queue it', () => {
    const m = accepted(
      mapMessage(
        {
          type: 'track',
          messageId: 'msg-1',
          event: 'Product Viewed',
          userId: 'u-42',
          anonymousId: 'anon-1',
          properties: { product_id: 'P1', revenue: 12.5, currency: 'eur' },
          context: { traits: { email: 'ada@example.com', phone: '+15005550006' } },
          timestamp: '2026-11-27T09:59:00.000Z',
        },
        ctx(),
      ),
    );
    expect(m.events).toEqual([
      {
        key: eventKey('src-shop', 'msg-1'),
        id: 'msg-1',
        event: {
          event: 'Product Viewed',
          profile: { email: 'ada@example.com', phone_number: '+15005550006', external_id: 'u-42', anonymous_id: 'anon-1' },
          properties: { product_id: 'P1', revenue: 12.5, currency: 'eur' },
          value: 12.5,
          value_currency: 'EUR',
          time: '2026-11-27T09:59:00.000Z',
        },
      },
    ]);
    expect(m.ops).toEqual([]);
  });

  it('value from revenue, else value, else total; email from the properties when context.traits has none', () => {
    const value = (properties: Record<string, unknown>) => accepted(mapMessage({ type: 'track', event: 'X', userId: 'u', properties }, ctx())).events[0]!.event;
    expect(value({ value: 3, total: 4 }).value).toBe(3);
    expect(value({ total: 4 }).value).toBe(4);
    expect(value({ revenue: 'twelve' }).value).toBeUndefined();
    expect(value({ email: 'p@example.com' }).profile).toEqual({ email: 'p@example.com', external_id: 'u' });
  });

  it('an email or phone Klaviyo would refuse is left out of the profile, not the event', () => {
    const m = accepted(mapMessage({ type: 'track', event: 'X', userId: 'u', context: { traits: { email: 'not-an-email', phone: '555-1234' } } }, ctx()));
    expect(m.events[0]!.event.profile).toEqual({ external_id: 'u' });
  });

  it('numeric ids are made strings (both SDKs accepted them)', () => {
    const m = accepted(mapMessage({ type: 'track', event: 'X', userId: 42, messageId: 7 }, ctx()));
    expect(m.events[0]).toMatchObject({ id: '7', event: { profile: { external_id: '42' } } });
  });

  it('renames per source (case-insensitive), and names nobody renamed stay', () => {
    const c = ctx({ rename: { 'Product Added': 'Added to Cart' } });
    expect(accepted(mapMessage({ type: 'track', event: 'product added', userId: 'u' }, c)).events[0]!.event.event).toBe('Added to Cart');
    expect(accepted(mapMessage({ type: 'track', event: 'Checkout Started', userId: 'u' }, c)).events[0]!.event.event).toBe('Checkout Started');
  });

  it('a name that is also an Object.prototype key is not renamed by it', () => {
    const c = ctx({ rename: { Signup: 'Signed Up' } });
    expect(accepted(mapMessage({ type: 'track', event: 'constructor', userId: 'u' }, c)).events[0]!.event.event).toBe('constructor');
    expect(accepted(mapMessage({ type: 'track', event: 'toString', userId: 'u' }, ctx())).events[0]!.event.event).toBe('toString');
  });

  it('rejects what can never be delivered, naming the field', () => {
    expect(mapMessage({ type: 'track', userId: 'u' }, ctx())).toMatchObject({ outcome: 'rejected', issues: [{ field: 'event' }] });
    expect(mapMessage({ type: 'track', event: 'X' }, ctx())).toMatchObject({ outcome: 'rejected', issues: [{ field: 'userId' }] });
    expect(mapMessage({ type: 'track', event: 'x'.repeat(128), userId: 'u' }, ctx())).toMatchObject({ outcome: 'rejected', issues: [{ field: 'event' }] });
    expect(mapMessage({ type: 'track', event: 'X', userId: 'u', timestamp: 'yesterday' }, ctx())).toMatchObject({
      outcome: 'rejected',
      issues: [{ field: 'timestamp' }],
    });
    expect(mapMessage({ type: 'track', event: 'X', userId: 'u', properties: { deep: nest(40) } }, ctx())).toMatchObject({
      outcome: 'rejected',
      issues: [{ field: expect.stringMatching(/^properties\.deep/) }],
    });
    expect(mapMessage({ type: 'launch', userId: 'u' }, ctx())).toMatchObject({ outcome: 'rejected', type: 'unknown', issues: [{ field: 'type' }] });
    expect(mapMessage('track', ctx())).toMatchObject({ outcome: 'rejected', type: 'unknown' });
  });

  it('a message over 32 KB is rejected', () => {
    expect(mapMessage({ type: 'track', event: 'X', userId: 'u' }, ctx(), 32 * 1024 + 1)).toMatchObject({
      outcome: 'rejected',
      issues: [{ field: '(message)', message: expect.stringContaining('32 KB') }],
    });
  });
});

const nest = (n: number): unknown => (n === 0 ? 1 : { a: nest(n - 1) });

describe('track "Order Completed"', () => {
  const message = {
    type: 'track',
    messageId: 'msg-order-1',
    event: 'Order Completed',
    userId: 'u-1',
    context: { traits: { email: 'buyer@example.com' } },
    timestamp: '2026-11-27T09:00:00Z',
    properties: {
      order_id: 'ORD-1001',
      total: 57,
      currency: 'usd',
      coupon: 'BF10',
      discount: 5,
      products: [
        { product_id: 'P1', sku: 'SKU-1', name: 'Mug', price: 12, quantity: 2, category: 'Kitchen', brand: 'Acme', url: 'https://shop.example.com/p/1' },
        { product_id: 'P2', name: 'Tea', price: 33 },
      ],
    },
  };

  it('→ exactly the events of POST /v1/orders for the same order, keyed by the messageId', () => {
    const m = accepted(mapMessage(message, ctx()));
    const order = OrderSchema.parse({
      id: 'ORD-1001',
      profile: { email: 'buyer@example.com', external_id: 'u-1' },
      value: 57,
      currency: 'USD',
      items: [
        { product_id: 'P1', sku: 'SKU-1', name: 'Mug', quantity: 2, price: 12, url: 'https://shop.example.com/p/1', categories: ['Kitchen'], brand: 'Acme' },
        { product_id: 'P2', name: 'Tea', quantity: 1, price: 33 },
      ],
      discount_codes: ['BF10'],
      discount_value: 5,
      time: '2026-11-27T09:00:00.000Z',
    });
    const expected = orderEvents(order).map(({ part, event }) => ({
      key: orderEventKey('src-shop', 'msg-order-1', part),
      id: orderEventId('msg-order-1', part),
      event,
    }));
    expect(m.events).toEqual(expected);
    expect(m.events.map((e) => e.event.event)).toEqual(['Placed Order', 'Ordered Product', 'Ordered Product']);
    expect(m.events[0]!.event.properties).toMatchObject({ OrderId: 'ORD-1001', ItemNames: ['Mug', 'Tea'] });
  });

  it('is matched whatever the case (RudderStack lower-cases), and without products stays a plain event', () => {
    expect(accepted(mapMessage({ ...message, event: 'order completed' }, ctx())).events).toHaveLength(3);
    const plain = accepted(mapMessage({ ...message, properties: { order_id: 'X', total: 3 } }, ctx()));
    expect(plain.events).toHaveLength(1);
    expect(plain.events[0]!.event).toMatchObject({ event: 'Order Completed', value: 3 });
  });

  it('an order /v1/orders would refuse is rejected with the product field named', () => {
    const bad = { ...message, properties: { ...message.properties, products: [{ product_id: 'P1', price: -1 }] } };
    expect(mapMessage(bad, ctx())).toMatchObject({ outcome: 'rejected', issues: [{ field: 'properties.products[0].price' }] });
  });
});

describe('identify', () => {
  it('→ a profile upsert as POST /v1/profiles {id: messageId} would queue it', () => {
    const m = accepted(
      mapMessage(
        {
          type: 'identify',
          messageId: 'msg-id-1',
          userId: 'u-7',
          traits: {
            email: 'grace@example.com',
            phone: '+15005550006',
            firstName: 'Grace',
            last_name: 'Hopper',
            title: 'Rear Admiral',
            company: { name: 'US Navy', id: 'n1' },
            address: { street: '1 Main St', city: 'Arlington', state: 'VA', postalCode: '22201', country: 'US' },
            avatar: 'https://example.com/grace.png',
            plan: 'pro',
            logins: 5,
          },
        },
        ctx(),
      ),
    );
    expect(m.events).toEqual([]);
    expect(m.ops).toEqual([
      {
        key: profileUpsertKey('src-shop', 'msg-id-1'),
        id: 'msg-id-1',
        operation: {
          op: 'upsert',
          profile: {
            email: 'grace@example.com',
            phone_number: '+15005550006',
            external_id: 'u-7',
            first_name: 'Grace',
            last_name: 'Hopper',
            title: 'Rear Admiral',
            organization: 'US Navy',
            image: 'https://example.com/grace.png',
            location: { address1: '1 Main St', city: 'Arlington', region: 'VA', zip: '22201', country: 'US' },
            properties: { plan: 'pro', logins: 5 },
          },
        },
      },
    ]);
  });

  it("takes RudderStack's context.traits, and needs an identifier Klaviyo imports by", () => {
    const m = accepted(mapMessage({ type: 'identify', anonymousId: 'a', context: { traits: { email: 'r@example.com' } } }, ctx()));
    expect(m.ops[0]!.operation).toEqual({ op: 'upsert', profile: { email: 'r@example.com' } });
    expect(mapMessage({ type: 'identify', anonymousId: 'a', traits: { plan: 'x' } }, ctx())).toMatchObject({
      outcome: 'rejected',
      issues: [{ field: 'userId' }],
    });
  });
});

describe('page, screen, group, alias', () => {
  it('page and screen → Viewed Page / Viewed Screen, unless the source turns them off', () => {
    const page = accepted(mapMessage({ type: 'page', userId: 'u', name: 'Pricing', properties: { url: 'https://x.co/pricing' } }, ctx()));
    expect(page.events[0]!.event).toMatchObject({ event: 'Viewed Page', properties: { url: 'https://x.co/pricing', name: 'Pricing' } });
    expect(accepted(mapMessage({ type: 'screen', userId: 'u', name: 'Home' }, ctx())).events[0]!.event.event).toBe('Viewed Screen');
    expect(mapMessage({ type: 'page', userId: 'u' }, ctx({ pages: false }))).toMatchObject({ outcome: 'ignored', type: 'page' });
  });

  it('group → list membership when the source maps groups and the id is a list id; consent when traits say so', () => {
    const lists = ctx({ groups: 'lists' });
    const base = { type: 'group', messageId: 'g1', userId: 'u', groupId: 'ListA1', context: { traits: { email: 'g@example.com', phone: '+15005550006' } } };
    const add = accepted(mapMessage(base, lists));
    expect(add.ops).toEqual([
      {
        key: listMemberKey('src-shop', 'g1', 'list-add', 'ListA1', { field: 'email', value: 'g@example.com' }),
        id: 'g1',
        operation: { op: 'list-add', listId: 'ListA1', member: { email: 'g@example.com', phone_number: '+15005550006', external_id: 'u' } },
      },
    ]);
    expect(accepted(mapMessage({ ...base, traits: { consent: ['email'] } }, lists)).ops[0]!.operation).toMatchObject({ op: 'subscribe', channels: ['email'] });
    expect(accepted(mapMessage({ ...base, traits: { subscribe: true, list_id: 'ListB2' } }, lists)).ops[0]!.operation).toMatchObject({
      op: 'subscribe',
      listId: 'ListB2',
      channels: ['email', 'sms'],
    });
    expect(accepted(mapMessage({ ...base, traits: { subscribe: false } }, lists)).ops[0]!.operation).toMatchObject({ op: 'unsubscribe', listId: 'ListA1' });
    expect(mapMessage({ ...base, groupId: 'acme inc' }, lists)).toMatchObject({ outcome: 'ignored' });
    expect(mapMessage(base, ctx())).toMatchObject({ outcome: 'ignored', reason: expect.stringContaining('tracking.groups') });
    expect(mapMessage({ ...base, context: {}, userId: undefined, traits: { consent: ['sms'] } }, lists)).toMatchObject({ outcome: 'rejected' });
  });

  it('alias is acknowledged, not sent', () => {
    expect(mapMessage({ type: 'alias', userId: 'u', previousId: 'a' }, ctx())).toMatchObject({ outcome: 'ignored', type: 'alias' });
  });
});

describe('time and ids', () => {
  it('corrects the timestamp by receivedAt − sentAt (the sender clock is 10 minutes fast)', () => {
    const t = messageTime({ timestamp: '2026-11-27T10:09:00.000Z', sentAt: '2026-11-27T10:10:00.000Z' }, { receivedAt: NOW });
    expect(t).toEqual({ ok: true, time: '2026-11-27T09:59:00.000Z' });
    // RudderStack's originalTimestamp, and the batch's sentAt when the message has none.
    expect(messageTime({ originalTimestamp: '2026-11-27T09:50:00.000Z' }, { receivedAt: NOW, batchSentAt: '2026-11-27T09:55:00.000Z' })).toEqual({
      ok: true,
      time: '2026-11-27T09:55:00.000Z',
    });
    // Without sentAt, as given; without a time, when it was received.
    expect(messageTime({ timestamp: '2026-11-27T09:00:00Z' }, { receivedAt: NOW })).toEqual({ ok: true, time: '2026-11-27T09:00:00.000Z' });
    expect(messageTime({}, { receivedAt: NOW })).toEqual({ ok: true, time: '2026-11-27T10:00:00.000Z' });
    expect(messageTime({ timestamp: '1989-12-31T00:00:00Z' }, { receivedAt: NOW })).toMatchObject({ ok: false, issue: { field: 'timestamp' } });
  });

  it('a messageId that is not a valid id is digested (still stable); none gets a new one', () => {
    expect(messageItemId('abc-1', () => 'n')).toBe('abc-1');
    const odd = messageItemId('has space ü', () => 'n');
    expect(odd).toMatch(/^m-[\w-]{22}$/);
    expect(messageItemId('has space ü', () => 'n')).toBe(odd);
    expect(messageItemId(undefined, () => 'n')).toBe('n');
  });
});

describe('mapRequest', () => {
  it("a batch: each message on its own, with the batch's sentAt and context", () => {
    const r = mapRequest(
      'batch',
      {
        batch: [{ type: 'track', event: 'A', anonymousId: 'x', timestamp: '2026-11-27T09:59:00.000Z' }, { type: 'nope' }, { type: 'alias', userId: 'u' }],
        sentAt: '2026-11-27T10:00:30.000Z',
        context: { traits: { email: 'batch@example.com' } },
      },
      ctx(),
      100,
    );
    if (!r.ok) throw new Error('expected ok');
    expect(r.messages.map((m) => m.outcome)).toEqual(['accepted', 'rejected', 'ignored']);
    expect(accepted(r.messages[0]!).events[0]!.event).toMatchObject({ time: '2026-11-27T09:58:30.000Z', profile: { email: 'batch@example.com' } });
  });

  it('the envelope: an object with a non-empty batch array; a single call takes its type from the route', () => {
    expect(mapRequest('batch', { batch: [] }, ctx(), 10)).toMatchObject({ ok: false, issues: [{ field: 'batch' }] });
    expect(mapRequest('batch', [], ctx(), 10)).toMatchObject({ ok: false, issues: [{ field: '(body)' }] });
    const single = mapRequest('track', { type: 'identify', event: 'E', userId: 'u' }, ctx(), 10);
    expect(single.ok && single.messages[0]).toMatchObject({ outcome: 'accepted', type: 'track' });
  });

  it('measures messages only when the request could hold one over 32 KB', () => {
    const big = { type: 'track', event: 'A', userId: 'u', properties: { pad: 'x'.repeat(33 * 1024) } };
    const r = mapRequest('batch', { batch: [big, { type: 'track', event: 'B', userId: 'u' }] }, ctx(), 34 * 1024);
    expect(r.ok && r.messages.map((m) => m.outcome)).toEqual(['rejected', 'accepted']);
  });
});

describe('RELAY_CONFIG sources[].tracking', () => {
  const key = 'a'.repeat(64);
  it('defaults, and validates', () => {
    const file = parseRelayConfig({ sources: [{ name: 'shop', keySha256: key, tracking: {} }] }, {});
    expect(file.sources[0]!.tracking).toEqual({ rename: {}, pages: true, groups: 'ignore' });
    expect(() => parseRelayConfig({ sources: [{ name: 'shop', keySha256: key, tracking: { groups: 'yes' } }] }, {})).toThrow(RelayConfigError);
    expect(() => parseRelayConfig({ sources: [{ name: 'shop', keySha256: key, tracking: { rename: { 'Order Completed': 'Bought' } } }] }, {})).toThrow(
      /cannot be renamed/,
    );
    expect(() => parseRelayConfig({ sources: [{ name: 'shop', keySha256: key, tracking: { rename: { A: '' } } }] }, {})).toThrow(/tracking\.rename\.A/);
  });
});

describe('isPlainMessage: a shortcut through SegmentMessageSchema', () => {
  const value = fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
    fc.array(fc.integer(), { maxLength: 2 }),
  );
  const message = fc.record(
    {
      type: fc.oneof(fc.constantFrom('track', 'identify', 'page', 'screen', 'group', 'alias'), value),
      messageId: value,
      userId: value,
      anonymousId: value,
      event: value,
      timestamp: value,
      sentAt: value,
      properties: value,
      traits: value,
      context: value,
      groupId: value,
      other: value,
    },
    { requiredKeys: [] },
  );
  it('says yes only to what the schema accepts unchanged', () => {
    fc.assert(
      fc.property(fc.oneof(message, fc.anything()), (m) => {
        if (!isPlainMessage(m)) return;
        const parsed = SegmentMessageSchema.safeParse(m);
        expect(parsed.success).toBe(true);
        expect(parsed.data).toEqual(m);
      }),
      { numRuns: 5000 },
    );
    expect(isPlainMessage({ type: 'track', event: 'E', userId: 'u', properties: {}, context: null })).toBe(true);
    expect(isPlainMessage({ type: 'track', userId: 42 })).toBe(false);
  });
});

describe('isPlainEnvelope: a shortcut through BatchEnvelopeSchema', () => {
  it('says yes only to what the schema accepts unchanged', () => {
    const part = fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.string({ maxLength: 4 }),
      fc.integer(),
      fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
      fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
    );
    fc.assert(
      fc.property(fc.oneof(fc.record({ batch: part, sentAt: part, context: part, writeKey: part }, { requiredKeys: [] }), fc.anything()), (b) => {
        if (!isPlainEnvelope(b)) return;
        const parsed = BatchEnvelopeSchema.safeParse(b);
        expect(parsed.success).toBe(true);
        expect(parsed.data).toEqual(b);
      }),
      { numRuns: 5000 },
    );
    expect(isPlainEnvelope({ batch: [{}], sentAt: 'x', writeKey: 'k' })).toBe(true);
    expect(isPlainEnvelope({ batch: [] })).toBe(false);
  });
});
