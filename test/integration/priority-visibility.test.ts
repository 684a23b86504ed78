/**
 * Issue 12 §7: the classes are visible where operators look. A backfill import drains while live
 * events arrive from two sources; /ops/status, `relay status`, /metrics and the dashboard show the
 * backlog per lane × kind × class (and per source), the oldest waiting age, what each class
 * delivered, and the share of calls each class got — a share that moves when live starts to flow.
 *
 * The bulk endpoint's steady window is scaled down (5 calls a minute, as in live-first.test.ts;
 * the simulator enforces it too) so that the import is a backlog within seconds.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderStatus } from '../../src/cli/status.ts';
import { Metrics } from '../../src/metrics.ts';
import { queueRef } from '../../src/queue-catalog.ts';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { CONNECTION, RELAY_KEY, RELAY_SOURCE, startHarness, type Harness } from '../support/harness.ts';
import { parseExposition, sum, type Sample } from '../support/prom-format.ts';
import { waitUntil } from '../support/wait.ts';

const ADMIN = 'priority-visibility-admin';
const OTHER_KEY = 'other-shop-key-visibility-1';
const OTHER = 'src-other';
const BULK_LIMIT = { burst: 10, steady: 5 };
const BACKLOG_JOBS = 20;
const LIVE_PER_SOURCE = 10;

let h: Harness;
const tag = `vis-${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  h = await startHarness({
    name: 'visibility',
    metrics: new Metrics({ defaultMetrics: false }),
    env: { RELAY_ADMIN_TOKEN: ADMIN },
    sim: { limits: { endpoints: { bulk_create_events: BULK_LIMIT } } },
    file: parseRelayConfig(
      {
        limits: { endpoints: { bulk_create_events: BULK_LIMIT } },
        sources: [{ name: 'other', keySha256: createHash('sha256').update(OTHER_KEY).digest('hex') }],
      },
      {},
    ),
  });
}, 30_000);
afterAll(async () => {
  await h?.close();
});

const admin = { authorization: `Bearer ${ADMIN}` };
const status = async () => {
  const res = await fetch(`${h.service.url}/ops/status`, { headers: admin });
  expect(res.status).toBe(200);
  return (await res.json()) as any;
};
const scrape = async (): Promise<Sample[]> => parseExposition(await (await fetch(`${h.service.url}/metrics`)).text());
const cls = (s: any, kind: string, c: string) => s.classes.find((x: any) => x.lane === 'default' && x.kind === kind && x.class === c);
const postAs = (key: string, body: unknown) =>
  fetch(`${h.service.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('while a backfill drains and live events arrive', () => {
  let during: any;
  let after: any;

  it('status shows the bulk backlog in its own class, and a call share all bulk before live flows', async () => {
    for (let j = 0; j < BACKLOG_JOBS; j += 4) {
      const posts = [];
      for (let k = j; k < j + 4; k++) {
        const events = Array.from({ length: 1000 }, (_, i) => ({
          id: `${tag}-${k}-${i}`,
          event: 'Historical Order',
          profile: { email: `${tag}-${k * 1000 + i}@example.com` },
          backfill: true,
        }));
        posts.push(postAs(RELAY_KEY, { events }));
      }
      for (const res of await Promise.all(posts)) expect(res.status).toBe(202);
    }
    // The bulk window is spent: what is left waits for it, in the bulk class.
    await waitUntil(
      'the bulk lane to fill its quota',
      () => h.sim.requests({ endpoint: 'bulk_create_events' }).filter((r) => r.status === 202).length >= BULK_LIMIT.steady,
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    let last: any;
    during = await waitUntil(
      'bulk events delivered and still waiting, as /ops/status shows them',
      async () => {
        last = await status();
        const s = last;
        const bulk = cls(s, 'events', 'bulk');
        return bulk.deliveredLastMinute > 0 && bulk.waiting > 0 && bulk.oldestWaitingSeconds >= 1 && s;
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    ).catch((err) => {
      console.log(JSON.stringify(last?.classes, null, 1));
      throw err;
    });
    const bulk = cls(during, 'events', 'bulk');
    expect(bulk.sources.map((x: any) => x.source)).toEqual([RELAY_SOURCE, OTHER]);
    const mine = bulk.sources.find((x: any) => x.source === RELAY_SOURCE);
    expect(mine).toMatchObject({
      name: 'api-key-1',
      queue: `events.default.bulk.${RELAY_SOURCE}`,
      waiting: bulk.waiting,
      deliveredLastMinute: bulk.deliveredLastMinute,
    });
    // Five bulk calls of at most 1,000 events went out; the rest waits (a job counts once all its items are in).
    expect(bulk.deliveredLastMinute).toBeLessThanOrEqual(BULK_LIMIT.steady * 1000);
    expect(bulk.waiting + bulk.active).toBeGreaterThan(0);
    expect(cls(during, 'events', 'live')).toMatchObject({ waiting: 0, deliveredLastMinute: 0 });
    const lane = during.lanes[0];
    expect(lane.share.calls.bulk).toBeGreaterThanOrEqual(BULK_LIMIT.steady);
    expect(lane.share.calls.live).toBe(0);
    expect(lane.share.items).toEqual({ live: 0, bulk: bulk.deliveredLastMinute });
    expect(lane.share.bulkMinShare).toBe(0.2);
    // Bulk has the account to itself: nobody holds it at its minimum.
    expect(lane.share.bulkAtMinimum).toBe(false);
    // The per-queue rows are still there for tools.
    expect(during.queues.find((q: any) => q.queue === `events.default.bulk.${RELAY_SOURCE}`)).toMatchObject({ class: 'bulk', source: RELAY_SOURCE });
  }, 60_000);

  it('live events from two sources: delivered counts per class and per source, and the call share moves to live', async () => {
    const sent = [];
    for (let i = 0; i < LIVE_PER_SOURCE; i++) {
      for (const key of [RELAY_KEY, OTHER_KEY])
        sent.push(
          postAs(key, { id: `${tag}-live-${key.length}-${i}`, event: 'Placed Order', profile: { email: `${tag}-live-${key.length}-${i}@example.com` } }),
        );
    }
    for (const res of await Promise.all(sent)) expect(res.status).toBe(202);
    await waitUntil('the live events delivered', () => h.sim.eventsFor(CONNECTION, { metric: 'Placed Order' }).length >= 2 * LIVE_PER_SOURCE, {
      timeoutMs: 15_000,
      intervalMs: 50,
    });
    after = await waitUntil(
      "the live class's deliveries in /ops/status",
      async () => {
        const s = await status();
        return cls(s, 'events', 'live').deliveredLastMinute >= 2 * LIVE_PER_SOURCE && s;
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    const live = cls(after, 'events', 'live');
    const bySource = Object.fromEntries(live.sources.map((x: any) => [x.source, x.deliveredLastMinute]));
    expect(bySource).toMatchObject({ legacy: 0, [RELAY_SOURCE]: LIVE_PER_SOURCE, [OTHER]: LIVE_PER_SOURCE });
    expect(live.waiting).toBe(0);
    // The backlog is still there, older now.
    const bulk = cls(after, 'events', 'bulk');
    expect(bulk.waiting).toBeGreaterThan(0);
    expect(bulk.oldestWaitingSeconds).toBeGreaterThanOrEqual(cls(during, 'events', 'bulk').oldestWaitingSeconds);

    const share = after.lanes[0].share;
    expect(share.calls.live).toBeGreaterThan(0);
    expect(share.calls.bulk).toBeGreaterThanOrEqual(BULK_LIMIT.steady);
    expect(share.calls.live / (share.calls.live + share.calls.bulk)).toBeGreaterThan(0);
    expect(share.items.live).toBe(live.deliveredLastMinute);
    expect(share.items.bulk).toBe(bulk.deliveredLastMinute);
  }, 60_000);

  it('relay status prints it: a row per class, a row per source under live, and the share per lane', () => {
    const text = renderStatus(after);
    expect(text).toMatch(new RegExp(`^default\\s+events\\s+bulk\\s+api-key-1 \\(${RELAY_SOURCE}\\)\\s+\\d+\\s+\\d+\\s+\\d+s\\s+[\\d,]+\\s+\\S+ %$`, 'm'));
    expect(text).toMatch(/^default\s+events\s+live\s+all\s+0\s+\d+\s+—\s+\d+\s+\S+ %$/m);
    expect(text).toMatch(new RegExp(`^default\\s+events\\s+live\\s+api-key-1 \\(${RELAY_SOURCE}\\)\\s+0\\s+\\d+\\s+—\\s+${LIVE_PER_SOURCE}\\s+50 %$`, 'm'));
    expect(text).toMatch(new RegExp(`^default\\s+events\\s+live\\s+${OTHER}\\s+0\\s+\\d+\\s+—\\s+${LIVE_PER_SOURCE}\\s+50 %$`, 'm'));
    const { calls } = after.lanes[0].share;
    expect(text).toMatch(new RegExp(`^default\\s+${calls.live} \\(\\d+ %\\)\\s+${calls.bulk} \\(\\d+ %\\)\\s+`, 'm'));
  });

  it('metrics: backlog per class and source, oldest per class, items and latency per class, the class share', async () => {
    const m = await scrape();
    // Waiting and delayed jobs (how many are active instead moves with the workers' concurrency).
    expect(sum(m, 'relay_backlog', { lane: 'default', kind: 'events', class: 'bulk', source: RELAY_SOURCE })).toBeGreaterThan(0);
    expect(sum(m, 'relay_backlog', { lane: 'default', kind: 'events', class: 'live', source: OTHER })).toBe(0);
    expect(m.some((s) => s.name === 'relay_backlog' && s.labels.source === 'legacy' && s.labels.kind === 'events')).toBe(true);
    expect(sum(m, 'relay_oldest_waiting_seconds', { lane: 'default', kind: 'events', class: 'bulk' })).toBeGreaterThanOrEqual(1);
    expect(sum(m, 'relay_oldest_waiting_seconds', { lane: 'default', kind: 'events', class: 'live' })).toBe(0);
    expect(sum(m, 'relay_items_total', { kind: 'events', class: 'live', outcome: 'delivered' })).toBe(2 * LIVE_PER_SOURCE);
    expect(sum(m, 'relay_items_total', { kind: 'events', class: 'bulk', outcome: 'delivered' })).toBeGreaterThanOrEqual(
      cls(after, 'events', 'bulk').deliveredLastMinute,
    );
    expect(cls(after, 'events', 'bulk').deliveredLastMinute).toBeGreaterThan(0);
    expect(sum(m, 'relay_delivery_latency_seconds_count', { kind: 'events', class: 'live' })).toBe(2 * LIVE_PER_SOURCE);
    const live = sum(m, 'relay_class_share', { lane: 'default', class: 'live' });
    const bulk = sum(m, 'relay_class_share', { lane: 'default', class: 'bulk' });
    expect(live).toBeGreaterThan(0);
    expect(bulk).toBeGreaterThan(0);
    expect(live + bulk).toBeCloseTo(1, 6);
    // Sources come from the registry, which only authenticated ingest writes: a request with an
    // unknown key adds no label value.
    expect((await postAs('not-a-key', { id: `${tag}-x`, event: 'Placed Order', profile: { email: `${tag}-x@example.com` } })).status).toBe(401);
    const sources = new Set((await scrape()).filter((s) => s.name === 'relay_backlog').map((s) => s.labels.source));
    expect([...sources].sort()).toEqual(['all', 'legacy', RELAY_SOURCE, OTHER].sort());
  });
});

describe('the dashboard', () => {
  const boardQueues = async () => {
    const res = await fetch(`${h.service.url}/ops/queues/api/queues`, { headers: admin });
    expect(res.status).toBe(200);
    return ((await res.json()) as { queues: { name: string; description?: string }[] }).queues;
  };

  it('describes each queue in words (class, source name) and lists a queue registered later', async () => {
    const first = await boardQueues();
    expect(first.find((q) => q.name === `events.default.bulk.${RELAY_SOURCE}`)?.description).toBe(
      `events, class bulk, from source api-key-1 (${RELAY_SOURCE}), for lane default`,
    );
    expect(first.find((q) => q.name === `profiles.default.live.${OTHER}`)?.description).toBe(`profiles, class live, from source ${OTHER}, for lane default`);
    expect(first.find((q) => q.name === 'events.default')?.description).toMatch(/^events queued by an older version for lane default/);
    expect(first.find((q) => q.name === 'webhooks.default')?.description).toMatch(/^Klaviyo webhook and flow webhook deliveries for lane default/);
    // Another API process registers a queue for a source this one has not seen work from.
    const late = queueRef('events', 'default', 'bulk', 'src-late');
    await h.service.queues.catalog.register(late);
    const listed = await waitUntil(
      "the new source's bulk queue on the dashboard",
      async () => (await boardQueues()).find((q) => q.name === 'events.default.bulk.src-late'),
      { timeoutMs: 12_000, intervalMs: 500 },
    );
    expect(listed.description).toBe('events, class bulk, from source src-late, for lane default');
  }, 30_000);
});
