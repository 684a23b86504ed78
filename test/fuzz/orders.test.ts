/**
 * Fuzzing POST /v1/orders: bad input always gets a 4xx JSON error (never a 5xx, never a job), and
 * valid-but-unusual input is accepted. See test/fuzz/support/fuzz.ts for the properties checked.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Harness } from '../support/harness.ts';
import { assertStillServing, fuzzRoute, fuzzSeed, RUNS, startFuzzHarness } from './support/fuzz.ts';
import { anyText, BAD, currency, eventProfile, isoTime, NON_FINITE, printableId, profileFieldSpecs, REMOVE, type FieldSpec } from './support/gen.ts';
import { ordersRoute, v1Bodies, v1Cases } from './support/v1.ts';

const seed = fuzzSeed('orders.test.ts');

let h: Harness;
beforeAll(async () => {
  h = await startFuzzHarness('orders');
});
afterAll(async () => {
  await h?.close();
});

const url = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('https://shop.example.com/p/1', 'http://x.co/a?b=c#d', 'https://例え.jp/商品', 'https://example.com/%E2%82%AC') },
  { weight: 1, arbitrary: fc.webUrl() },
);
const money = fc.oneof(fc.double({ min: 0, max: 1e9, noNaN: true }), fc.integer({ min: 0, max: 10_000 }), fc.constant(0));
const item = fc.record(
  {
    product_id: anyText(1, 40),
    sku: anyText(0, 40),
    name: anyText(1, 60),
    quantity: fc.oneof(fc.integer({ min: 1, max: 1_000 }), fc.constant(Number.MAX_SAFE_INTEGER)),
    price: money,
    url,
    image_url: url,
    categories: fc.array(anyText(0, 20), { maxLength: 4 }),
    brand: anyText(0, 30),
  },
  { requiredKeys: ['product_id', 'name', 'quantity', 'price'] },
);
const order = fc.record(
  {
    id: printableId,
    profile: eventProfile,
    value: money,
    currency,
    items: fc.array(item, { minLength: 1, maxLength: 3 }),
    discount_codes: fc.array(anyText(1, 20), { maxLength: 3 }),
    discount_value: money,
    time: isoTime,
    status: fc.constantFrom('placed', 'fulfilled', 'cancelled', 'refunded'),
    status_time: isoTime,
  },
  { requiredKeys: ['id', 'profile', 'value', 'currency', 'items'] },
);

const minimalItem = { product_id: 'P', name: 'N', quantity: 1, price: 1 };
const long = (n: number) => 'x'.repeat(n);
const fields: FieldSpec[] = [
  { path: ['id'], bad: [...BAD.id, REMOVE] },
  { path: ['profile'], bad: [...BAD.profile, REMOVE] },
  ...profileFieldSpecs(['profile'], { anonymous: true }),
  { path: ['value'], bad: [...BAD.money, REMOVE], raw: NON_FINITE },
  { path: ['currency'], bad: [...BAD.currency, REMOVE] },
  { path: ['items'], bad: [...BAD.array, REMOVE, [], Array.from({ length: 501 }, () => minimalItem), [null], ['x'], [[]]] },
  { path: ['items', 0, 'product_id'], bad: ['', long(256), REMOVE, 1, null, true, {}] },
  { path: ['items', 0, 'sku'], bad: [long(256), 1, null, true, {}] },
  { path: ['items', 0, 'name'], bad: ['', long(1025), REMOVE, 1, null, [], {}] },
  { path: ['items', 0, 'quantity'], bad: [...BAD.quantity, REMOVE] },
  { path: ['items', 0, 'price'], bad: [...BAD.money, REMOVE], raw: NON_FINITE },
  { path: ['items', 0, 'url'], bad: BAD.url },
  { path: ['items', 0, 'image_url'], bad: BAD.url },
  // Categories may be empty strings (no minimum), unlike discount codes.
  { path: ['items', 0, 'categories'], bad: [...BAD.array, [1], [null], [{}], [long(256)], Array.from({ length: 51 }, () => 'c')] },
  { path: ['items', 0, 'brand'], bad: [long(256), 1, null, true, {}] },
  { path: ['items', 0, 'colour'], bad: ['red'] },
  { path: ['discount_codes'], bad: [...BAD.stringList, Array.from({ length: 21 }, () => 'c')] },
  { path: ['discount_value'], bad: BAD.money, raw: NON_FINITE },
  { path: ['time'], bad: BAD.time },
  { path: ['status'], bad: BAD.status },
  { path: ['status_time'], bad: BAD.time },
];

const body = v1Bodies({
  valid: order,
  fields,
  batch: { plural: 'orders', max: 100 },
  unknownAt: [[], ['profile'], ['items', 0]],
  hugeAt: [['items', 0, 'name'], ['items', 0, 'product_id'], ['id'], ['profile', 'properties', 'blob'], ['discount_codes', 0]],
  deepAt: [['items'], ['items', 0], ['items', 0, 'categories'], ['profile', 'properties', 'nested'], ['value']],
});

const path = fc.oneof(
  { weight: 30, arbitrary: fc.constant({ path: '/v1/orders', defects: [] }) },
  { weight: 1, arbitrary: fc.constantFrom('/v1/orders?x=1', '/v1/orders?orders=1').map((p) => ({ path: p, defects: [] })) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('/v1/orders/', '/v1/order', '/v1/ORDERS', '/v1/orders/1001', '/v1/orders/..', '/v1/orders%2F', '/v1/orders/%2e%2e/events')
      .map((p) => ({ path: p, defects: ['path' as const] })),
  },
  { weight: 1, arbitrary: fc.constantFrom('/v1/orders\\', '/v1/\u00f6rders').map((p) => ({ path: p, defects: [], transport: true })) },
);

describe(`fuzz POST /v1/orders (FUZZ_SEED=${seed})`, () => {
  it(`${RUNS} random requests: never 5xx; errors are JSON; a rejected request creates no job`, async () => {
    await fuzzRoute(h, ordersRoute, v1Cases({ methods: ['POST'], path, body }), seed);
  }, 180_000);

  it('is still healthy afterwards and delivers a valid event', async () => {
    await assertStillServing(h);
  });
});
