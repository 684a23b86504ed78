/**
 * Issue 12: a large backlog in the live class — what a new user's import becomes when they do not
 * mark it bulk, and everything when `priorities.enabled: false` — must still drain through the bulk
 * endpoint at its rate, not dribble out as single calls.
 *
 * Found by `npm run bench -- --only=priority`: with priorities off the backlog drained at 35% of
 * the ceiling (it was 98.5% before classes existed). The live batcher sent single create_event
 * calls whenever the bulk endpoint had no call left that instant (between bursts, and for the whole
 * rest of a spent minute), its in-flight slots filled with singles waiting for gateway tokens while
 * bulk calls could have gone, and the live class held only 2,000 items in flight — too few to fill
 * a burst of bulk calls.
 *
 * Here the bulk endpoint's minute window is the real one scaled down (5 calls a minute; every
 * other limit is Klaviyo's and the gateway's own): 12,000 live events spend it with five bulk
 * calls, and then nothing should be sent as single calls while the rest waits for the window.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { CONNECTION, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';

const BULK_LIMIT = { burst: 10, steady: 5 };
const BACKLOG = 12_000;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    name: 'live-backlog',
    sim: { limits: { endpoints: { bulk_create_events: BULK_LIMIT } } },
    file: parseRelayConfig({ limits: { endpoints: { bulk_create_events: BULK_LIMIT } }, priorities: { enabled: false } }, {}),
  });
});
afterAll(async () => {
  await h?.close();
});

it('a live backlog goes out in full bulk calls, not as single calls while the bulk window is spent', async () => {
  const tag = `lb-${Math.random().toString(36).slice(2, 8)}`;
  const posts = [];
  for (let j = 0; j < BACKLOG / 1000; j++) {
    const events = Array.from({ length: 1000 }, (_, i) => ({
      id: `${tag}-${j}-${i}`,
      event: 'Imported Order',
      profile: { email: `${tag}-${j * 1000 + i}@example.com` },
    }));
    posts.push(h.post('/v1/events', { events }));
  }
  for (const res of await Promise.all(posts)) expect(res.status).toBe(202);

  const bulkCalls = () => h.sim.requests({ endpoint: 'bulk_create_events' }).filter((r) => r.status === 202);
  await waitUntil('the bulk calls to fill their quota', () => bulkCalls().length >= BULK_LIMIT.steady, { timeoutMs: 20_000, intervalMs: 50 });
  // The window is spent for the next minute. Give the batcher 5 s to misbehave.
  await new Promise((r) => setTimeout(r, 5000));
  const singles = h.sim.requests({ endpoint: 'create_event' }).length;
  const delivered = h.sim.eventsFor(CONNECTION, { metric: 'Imported Order' }).length;
  console.log(`[live-backlog] bulk calls ${bulkCalls().length}, single calls ${singles}, delivered ${delivered} of ${BACKLOG}`);
  // At most a handful of singles (before: 40 in these 5 s, the gateway's rate, each carrying one
  // event). The first calls of a drain leave before their batches are full (the burst window is
  // free while jobs are still being fetched), so only a floor on what the bulk calls carried; the
  // in-flight budget's effect on a long drain is measured by the benchmark.
  expect(singles).toBeLessThanOrEqual(5);
  expect(delivered).toBeGreaterThanOrEqual(3000);
  expect(h.sim.stats().throttled).toMatchObject({ gateway: 0, klaviyo: 0 });
}, 90_000);
