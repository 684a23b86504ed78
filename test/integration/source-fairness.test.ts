/**
 * Issue 12: within a class, sources on one account are served by weight. Two sources with a
 * backlog each (weights 3:1) share the bulk endpoint 75% / 25% (±5%) while both have work, against
 * the simulator with a small bulk limit (2 requests a second) so that it runs in seconds.
 *
 * Both backlogs are queued before the workers start (an API-only service, then a worker-only one
 * on the same Redis prefix), so neither source is ahead by arriving first; the shares are read from
 * the first delivery of the source whose Worker got going second.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { startService, type Service } from '../../src/runtime/service.ts';
import { CONNECTION, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';

const KEYS = { a: 'fair-source-a-key-0001', b: 'fair-source-b-key-0001' };
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const BULK_LIMIT = { burst: 2, steady: 1000 };
const PER_SOURCE = 10_000;
const file = parseRelayConfig(
  {
    limits: { endpoints: { bulk_create_events: BULK_LIMIT } },
    sources: [
      { name: 'a', keySha256: sha(KEYS.a), weight: 3 },
      { name: 'b', keySha256: sha(KEYS.b), weight: 1 },
    ],
  },
  {},
);

let h: Harness;
let workers: Service | undefined;
beforeAll(async () => {
  h = await startHarness({ name: 'fair', workers: false, file, sim: { limits: { endpoints: { bulk_create_events: BULK_LIMIT } } } });
  await waitUntil('the API to be ready', async () => (await fetch(`${h.service.url}/readyz`)).status === 200);
});
afterAll(async () => {
  await workers?.close();
  await h?.close();
});

it('two saturated sources with weights 3:1 each get their weighted share (±5%)', async () => {
  const tag = `fair-${Math.random().toString(36).slice(2, 8)}`;
  for (const [name, key] of Object.entries(KEYS)) {
    for (let r = 0; r < PER_SOURCE / 1000; r++) {
      const events = Array.from({ length: 1000 }, (_, i) => ({
        id: `${tag}-${name}-${r}-${i}`,
        event: 'Fair Share',
        profile: { email: `${tag}-${name}-${r * 1000 + i}@example.com` },
        properties: { source: name },
        backfill: true,
      }));
      const res = await h.post('/v1/events', { events }, { headers: { authorization: `Bearer ${key}` } });
      expect(res.status).toBe(202);
    }
  }
  workers = await startService({ config: h.config, log: createLogger('silent'), api: false, workers: true, file });

  // While both have work: from the first delivery of the source that started second (a Worker
  // may get its first jobs a moment before the other) until source a would run out (~13,000).
  const WINDOW = 8000;
  const firstOf = (evs: { properties: Record<string, unknown> }[], src: string) => evs.findIndex((e) => e.properties['source'] === src);
  const received = await waitUntil(
    "both sources' events past the window",
    () => {
      const evs = h.sim.eventsFor(CONNECTION, { metric: 'Fair Share' });
      const [a, b] = [firstOf(evs, 'a'), firstOf(evs, 'b')];
      return a >= 0 && b >= 0 && evs.length >= Math.max(a, b) + WINDOW && evs;
    },
    { timeoutMs: 30_000, intervalMs: 50 },
  );
  const from = Math.max(firstOf(received, 'a'), firstOf(received, 'b'));
  expect(from, 'the second source started within the first few requests').toBeLessThan(4000);
  const window = received.slice(from, from + WINDOW);
  const share = (src: string) => window.filter((e) => e.properties['source'] === src).length / WINDOW;
  console.log(`[fairness] weights 3:1 → a ${(share('a') * 100).toFixed(1)}%, b ${(share('b') * 100).toFixed(1)}% of deliveries ${from}–${from + WINDOW}`);
  expect(share('a')).toBeGreaterThanOrEqual(0.75 * 0.95);
  expect(share('a')).toBeLessThanOrEqual(0.75 * 1.05);
  expect(share('b')).toBeGreaterThanOrEqual(0.25 * 0.95);
  expect(share('b')).toBeLessThanOrEqual(0.25 * 1.05);
  expect(h.sim.stats().throttled).toMatchObject({ gateway: 0, klaviyo: 0 });
}, 60_000);
