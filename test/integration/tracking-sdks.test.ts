/**
 * Issue 14's must-show: the real `@segment/analytics-node` and `@rudderstack/rudder-sdk-node`,
 * configured with nothing but the relay's address (`host` / `dataPlaneUrl`) and a relay key as the
 * writeKey, against a real relay (Redis, workers) and the simulator over real sockets: identify,
 * track, an Order Completed with two products, a batch the SDK retries after losing the answer
 * (delivered once), and RudderStack's gzip batches.
 */
import { Analytics as SegmentAnalytics } from '@segment/analytics-node';
import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventKey } from '../../src/item-keys.ts';
import { startDroppingProxy, type DroppingProxy } from '../support/dropping-proxy.ts';
import { CONNECTION, RELAY_KEY, RELAY_SOURCE, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';

let h: Harness;
let proxy: DroppingProxy;
beforeAll(async () => {
  h = await startHarness({ name: 'tracking-sdks' });
  proxy = await startDroppingProxy(h.service.url!);
});
afterAll(async () => {
  await proxy?.close();
  await h?.close();
});

const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 10)}`;
const settle = () => new Promise((r) => setTimeout(r, 600));
const order = (orderId: string) => ({
  order_id: orderId,
  total: 57,
  currency: 'USD',
  products: [
    { product_id: 'P1', sku: 'SKU-1', name: 'Mug', price: 12, quantity: 2 },
    { product_id: 'P2', name: 'Tea', price: 33, quantity: 1 },
  ],
});

/** The messages the SDK sent, by type (from the request bodies it emitted). */
function messagesOf(bodies: string[]): { type: string; messageId: string; event?: string }[] {
  return bodies.flatMap((b) => (JSON.parse(b) as { batch: { type: string; messageId: string; event?: string }[] }).batch);
}

async function orderArrives(email: string, orderId: string) {
  const events = await waitUntil(
    'the events in the simulator',
    () => {
      const e = h.sim.eventsFor(CONNECTION, { email });
      return e.length >= 3 && e;
    },
    { timeoutMs: 15_000 },
  );
  await settle();
  const all = h.sim.eventsFor(CONNECTION, { email });
  expect(all.map((e) => e.metric).sort()).toEqual(['Ordered Product', 'Ordered Product', 'Placed Order']);
  const placed = events.find((e) => e.metric === 'Placed Order')!;
  expect(placed).toMatchObject({ value: 57, valueCurrency: 'USD', properties: { OrderId: orderId, ItemNames: ['Mug', 'Tea'] } });
  expect(
    all
      .filter((e) => e.metric === 'Ordered Product')
      .map((e) => [e.properties.ProductID, e.value])
      .sort(),
  ).toEqual([
    ['P1', 24],
    ['P2', 33],
  ]);
}

describe('@segment/analytics-node with only host and writeKey', () => {
  it('identify and track: a profile upsert and an event keyed by the messageId', async () => {
    const userId = uniq('seg-user');
    const email = `${userId}@example.com`;
    const analytics = new SegmentAnalytics({ writeKey: RELAY_KEY, host: h.service.url! });
    const bodies: string[] = [];
    const statuses: number[] = [];
    analytics.on('http_request', (r) => bodies.push(r.body as string));
    analytics.on('http_response', (r) => statuses.push(r.status));
    analytics.identify({ userId, traits: { email, firstName: 'Ada', lastName: 'Lovelace', plan: 'pro' } });
    analytics.track({ userId, event: 'Product Viewed', properties: { product_id: 'P1', price: 12 }, context: { traits: { email } } });
    await analytics.closeAndFlush();
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200)).toBe(true);

    const profile = await waitUntil(
      'the profile in the simulator',
      () => {
        const p = h.sim.profileByEmail(CONNECTION, email);
        return p?.attributes.first_name === 'Ada' && p;
      },
      { timeoutMs: 15_000 },
    );
    expect(profile).toMatchObject({ external_id: userId, attributes: { first_name: 'Ada', last_name: 'Lovelace' }, properties: { plan: 'pro' } });
    const events = await waitUntil(
      'the events in the simulator',
      () => {
        const e = h.sim.eventsFor(CONNECTION, { email });
        return e.length > 0 && e;
      },
      { timeoutMs: 15_000 },
    );
    const sent = messagesOf(bodies).find((m) => m.type === 'track')!;
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ metric: 'Product Viewed', uniqueId: eventKey(RELAY_SOURCE, sent.messageId), properties: { product_id: 'P1' } });
  });

  it('a batch whose answer was lost is retried by the SDK and delivered once', async () => {
    const userId = uniq('seg-retry');
    const email = `${userId}@example.com`;
    const analytics = new SegmentAnalytics({ writeKey: RELAY_KEY, host: proxy.url });
    const before = proxy.requests.length;
    proxy.dropNext(1);
    analytics.track({ userId, event: 'Checkout Started', properties: { cart: 3 }, context: { traits: { email } } });
    await analytics.closeAndFlush();

    const mine = proxy.requests.slice(before);
    expect(mine.map((r) => [r.path, r.status, r.dropped])).toEqual([
      ['/v1/batch', 200, true],
      ['/v1/batch', 200, false],
    ]);
    expect(JSON.parse(mine[1]!.answer)).toMatchObject({ success: true, accepted: 1, duplicates: 1 });
    await waitUntil('the events delivered', () => h.sim.eventsFor(CONNECTION, { email }).length > 0, { timeoutMs: 15_000 });
    await settle();
    expect(h.sim.eventsFor(CONNECTION, { email })).toHaveLength(1);
  });

  it('Order Completed with two products → Placed Order + 2 Ordered Product, as /v1/orders', async () => {
    const userId = uniq('seg-order');
    const email = `${userId}@example.com`;
    const orderId = uniq('ORD');
    const analytics = new SegmentAnalytics({ writeKey: RELAY_KEY, host: h.service.url! });
    analytics.track({ userId, event: 'Order Completed', properties: order(orderId), context: { traits: { email } } });
    await analytics.closeAndFlush();
    await orderArrives(email, orderId);
  });
});

describe('@rudderstack/rudder-sdk-node with only dataPlaneUrl and writeKey', () => {
  it('identify, track and Order Completed in gzip batches', async () => {
    const userId = uniq('rs-user');
    const email = `${userId}@example.com`;
    const orderId = uniq('ORD');
    const before = proxy.requests.length;
    const client = new RudderAnalytics(RELAY_KEY, { dataPlaneUrl: proxy.url, logLevel: 'error' });
    client.identify({ userId, traits: { email, firstName: 'Grace', company: { name: 'Navy' } } });
    client.track({ userId, event: 'Product Added', properties: { product_id: 'P9' }, context: { traits: { email } } });
    client.track({ userId, event: 'Order Completed', properties: order(orderId), context: { traits: { email } } });
    await client.flush();

    const mine = proxy.requests.slice(before);
    expect(mine.length).toBeGreaterThan(0);
    for (const r of mine) {
      expect(r.path).toBe('/v1/batch');
      expect(r.headers['content-encoding']).toBe('gzip');
      expect(r.status).toBe(200);
    }
    const profile = await waitUntil(
      'the profile in the simulator',
      () => {
        const p = h.sim.profileByEmail(CONNECTION, email);
        return p?.attributes.first_name === 'Grace' && p;
      },
      { timeoutMs: 15_000 },
    );
    expect(profile).toMatchObject({ external_id: userId, attributes: { organization: 'Navy' } });
    await waitUntil('the events delivered', () => h.sim.eventsFor(CONNECTION, { email, metric: 'Product Added' }).length > 0, { timeoutMs: 15_000 });
    const all = await waitUntil(
      'the events in the simulator',
      () => {
        const e = h.sim.eventsFor(CONNECTION, { email });
        return e.length >= 4 && e;
      },
      { timeoutMs: 15_000 },
    );
    await settle();
    expect(h.sim.eventsFor(CONNECTION, { email })).toHaveLength(4);
    expect(all.map((e) => e.metric).sort()).toEqual(['Ordered Product', 'Ordered Product', 'Placed Order', 'Product Added']);
  });

  it('a gzip batch whose answer was lost is retried and delivered once', async () => {
    const userId = uniq('rs-retry');
    const email = `${userId}@example.com`;
    const before = proxy.requests.length;
    const client = new RudderAnalytics(RELAY_KEY, { dataPlaneUrl: proxy.url, logLevel: 'error' });
    proxy.dropNext(1);
    client.track({ userId, event: 'Checkout Started', properties: { cart: 1 }, context: { traits: { email } } });
    await client.flush();

    const mine = proxy.requests.slice(before);
    expect(mine.map((r) => [r.status, r.dropped, r.headers['content-encoding']])).toEqual([
      [200, true, 'gzip'],
      [200, false, 'gzip'],
    ]);
    expect(JSON.parse(mine[1]!.answer)).toMatchObject({ success: true, accepted: 1, duplicates: 1 });
    await waitUntil('the events delivered', () => h.sim.eventsFor(CONNECTION, { email }).length > 0, { timeoutMs: 15_000 });
    await settle();
    expect(h.sim.eventsFor(CONNECTION, { email })).toHaveLength(1);
  });
});
