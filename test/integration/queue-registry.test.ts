/**
 * Issue 12: queues are per source, and the workers find them in the registry ingest writes. A
 * source configured only on the API side — the workers run with an older configuration that does
 * not know it — is still served, within a few seconds, without restarting the workers; so is a
 * queue that appears while a lane is paused, once the lane is resumed (and not before).
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { startService, type Service } from '../../src/runtime/service.ts';
import { pauseLane, resumeLane } from '../../src/ops/lane-state.ts';
import { queueRef } from '../../src/queue-catalog.ts';
import { CONNECTION, startHarness, type Harness } from '../support/harness.ts';
import { testRedis } from '../support/redis.ts';
import { waitUntil } from '../support/wait.ts';

const NEW_KEY = 'brand-new-shop-key-0001';
const LATE_KEY = 'paused-lane-shop-key-01';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

let workers: Harness;
let api: Service;
beforeAll(async () => {
  // Workers: RELAY_API_KEYS only. API: also two configured sources the workers never heard of.
  workers = await startHarness({ name: 'registry', api: false });
  api = await startService({
    config: workers.config,
    log: createLogger('silent'),
    api: true,
    workers: false,
    file: parseRelayConfig(
      {
        sources: [
          { name: 'newshop', keySha256: sha(NEW_KEY) },
          { name: 'late', keySha256: sha(LATE_KEY), priority: 'bulk' },
        ],
      },
      {},
    ),
  });
  await waitUntil('the API to be ready', async () => (await fetch(`${api.url}/readyz`)).status === 200);
});
afterAll(async () => {
  await api?.close();
  await workers?.close();
});

const post = (key: string, id: string) =>
  fetch(`${api.url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, event: 'Placed Order', profile: { email: `${id}@example.com` } }),
  });

it('a source the workers were not configured with is served from the registry', async () => {
  const id = `reg-${Math.random().toString(36).slice(2, 8)}`;
  expect((await post(NEW_KEY, id)).status).toBe(202);
  const names = (await workers.service.queues.catalog.list('events', 'default')).map((r) => r.source);
  expect(names).toContain('src-newshop');
  // The workers look at the registry every 5 s.
  await waitUntil('the event delivered', () => workers.sim.eventsFor(CONNECTION, { email: `${id}@example.com` }).length === 1, {
    timeoutMs: 12_000,
    intervalMs: 50,
  });
  expect(workers.service.workers!.workers.map((w) => w.name)).toContain('events.default.live.src-newshop');
}, 20_000);

it('a queue that appears while its lane is paused waits for the resume', async () => {
  const redis = testRedis();
  try {
    await pauseLane(redis as never, workers.service.queues, 'default', { since: Date.now(), status: 0, origin: 'relay', detail: 'test', by: 'test' });
    const id = `late-${Math.random().toString(36).slice(2, 8)}`;
    expect((await post(LATE_KEY, id)).status).toBe(202);
    // Registered, but not served while paused (two looks of the workers at the registry).
    await new Promise((r) => setTimeout(r, 11_000));
    expect(workers.sim.eventsFor(CONNECTION, { email: `${id}@example.com` })).toHaveLength(0);
    expect(await workers.service.queues.get(queueRef('events', 'default', 'bulk', 'src-late')).getWaitingCount()).toBe(1);
    await resumeLane(redis as never, workers.service.queues, 'default');
    await waitUntil(
      'the event delivered after the registry was deleted',
      () => workers.sim.eventsFor(CONNECTION, { email: `${id}@example.com` }).length === 1,
      { timeoutMs: 12_000, intervalMs: 50 },
    );
  } finally {
    redis.disconnect();
  }
}, 40_000);
