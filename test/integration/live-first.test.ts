/**
 * Issue 12: a live event is delivered promptly while a bulk backlog of the same source drains.
 *
 * What made live events wait a minute: the bulk endpoint's steady window (150 calls a minute)
 * is spent in the first seconds of a large import, after which nothing goes out until the window
 * turns — and a live event queued behind the import waited for all of it. Here the window is the
 * real one scaled down (5 calls a minute instead of 150; every other limit is Klaviyo's and the
 * gateway's own, enforced by the simulator too), so that 20,000 backfill events exhaust it as
 * 600,000 would exhaust the real one. Once the window is spent, one live event from the importing
 * source and one from another source are posted: each must reach Klaviyo within 3 s, while most of
 * the backlog still waits.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { CONNECTION, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';

const OTHER_KEY = 'other-shop-key-0000001';
const BULK_LIMIT = { burst: 10, steady: 5 };
const BACKLOG = 20_000;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    name: 'live-first',
    sim: { limits: { endpoints: { bulk_create_events: BULK_LIMIT } } },
    file: parseRelayConfig(
      {
        limits: { endpoints: { bulk_create_events: BULK_LIMIT } },
        sources: [{ name: 'other', keySha256: createHash('sha256').update(OTHER_KEY).digest('hex') }],
      },
      {},
    ),
  });
});
afterAll(async () => {
  await h?.close();
});

it('a live event reaches Klaviyo within 3 s while a 20,000-event backfill of the same source drains', async () => {
  const tag = `lf-${Math.random().toString(36).slice(2, 8)}`;
  const backfilled = () => h.sim.eventsFor(CONNECTION, { metric: 'Historical Order' }).length;
  for (let r = 0; r < BACKLOG / 1000; r += 4) {
    const posts = [];
    for (let j = r; j < Math.min(r + 4, BACKLOG / 1000); j++) {
      const events = Array.from({ length: 1000 }, (_, i) => ({
        id: `${tag}-${j}-${i}`,
        event: 'Historical Order',
        profile: { email: `${tag}-${j * 1000 + i}@example.com` },
        backfill: true,
      }));
      posts.push(h.post('/v1/events', { events }));
    }
    for (const res of await Promise.all(posts)) expect(res.status).toBe(202);
  }
  // The bulk window is spent: 5 requests went out, and the next can go only in a minute.
  await waitUntil(
    'the bulk lane to fill its quota',
    () => h.sim.requests({ endpoint: 'bulk_create_events' }).filter((r) => r.status === 202).length >= BULK_LIMIT.steady,
    { timeoutMs: 20_000, intervalMs: 50 },
  );

  const sent = Date.now();
  const [same, other] = [`${tag}-live-same@example.com`, `${tag}-live-other@example.com`];
  expect((await h.post('/v1/events', { id: `${tag}-live-same`, event: 'Placed Order', profile: { email: same } })).status).toBe(202);
  const res = await fetch(`${h.service.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${OTHER_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: `${tag}-live-other`, event: 'Placed Order', profile: { email: other } }),
  });
  expect(res.status).toBe(202);
  const latency = await Promise.all(
    [same, other].map(async (email) => {
      const [ev] = await waitUntil(
        'the live event in Klaviyo',
        () => {
          const got = h.sim.eventsFor(CONNECTION, { email });
          return got.length > 0 && got;
        },
        { timeoutMs: 10_000, intervalMs: 20 },
      );
      return ev!.receivedAt - sent;
    }),
  );
  const delivered = backfilled();
  console.log(`[live-first] live latency same source ${latency[0]} ms, other source ${latency[1]} ms; backfill delivered so far ${delivered} of ${BACKLOG}`);
  for (const ms of latency) expect(ms).toBeLessThanOrEqual(3000);
  // Most of the backlog is still waiting: the live events did not wait for it.
  expect(delivered).toBeLessThan(BACKLOG / 2);
  // Live went as single create_event calls; the backlog only through the bulk endpoint.
  expect(h.sim.eventsFor(CONNECTION, { email: same })[0]!.via).toBe('create_event');
  expect(h.sim.stats().throttled).toMatchObject({ gateway: 0, klaviyo: 0 });
}, 90_000);
