/**
 * Issue #4's tests: the shared quota governor across two worker processes, bulk isolation of
 * bad items, and a lone event not waiting for a batch. The benchmark (npm run bench) measures speed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { CONNECTION, MATON_KEY, RELAY_KEY, startHarness, type Harness } from '../support/harness.ts';
import { REDIS_URL } from '../support/redis.ts';
import { legacyRef } from '../../src/queue-catalog.ts';
import { waitUntil } from '../support/wait.ts';

let h: Harness | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null) {
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    }
  }
  await h?.close();
  h = undefined;
});

const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 10)}`;

describe('quota governor', () => {
  it('two worker processes together never let the simulator see more than the limits', async () => {
    // Small limits so the test is short; the same numbers for the simulator and the governor.
    const limits = { gatewayPerSecond: 5, endpoints: { create_event: { burst: 3, steady: 40 }, bulk_create_events: { burst: 2, steady: 12 } } };
    const rawFile = { limits };
    h = await startHarness({ name: 'gov2', workers: false, file: parseRelayConfig(rawFile, {}), sim: { limits } });
    const dir = mkdtempSync(join(tmpdir(), 'relay-gov-'));
    writeFileSync(join(dir, 'relay.json'), JSON.stringify(rawFile));
    const env = {
      ...process.env,
      REDIS_URL,
      RELAY_QUEUE_PREFIX: h.prefix,
      MATON_API_KEY: MATON_KEY,
      MATON_GATEWAY_URL: h.simUrl,
      MATON_CONNECTION_ID: CONNECTION,
      RELAY_CONFIG: join(dir, 'relay.json'),
      RELAY_BATCH_LINGER_MS: '20',
      // The workers know the source, so they serve its queues from the start.
      RELAY_API_KEYS: RELAY_KEY,
      LOG_LEVEL: 'warn',
    };
    for (let i = 0; i < 2; i++) children.push(spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], { env, stdio: 'ignore' }));
    // Both processes are up once the legacy queue (every worker serves it) has their Workers.
    const q = h.service.queues.get(legacyRef('events', 'default'));
    // Two tsx start-ups: slow on a loaded machine, so the wait is generous (the test's own budget is 120 s).
    await waitUntil('two workers', async () => (await q.getWorkersCount()) >= 2, { timeoutMs: 45_000, intervalMs: 100 });

    // Lone events (create_event) and batches (bulk), spaced so that each goes out as its own call,
    // several seconds' worth of calls for these limits: the governor must spread them out.
    const emails: string[] = [];
    const lone = (async () => {
      for (let i = 0; i < 12; i++) {
        const email = `${uniq('lone')}@example.com`;
        emails.push(email);
        await h!.post('/v1/events', { id: uniq('e'), event: 'Viewed Product', profile: { email } });
        await new Promise((r) => setTimeout(r, 60));
      }
    })();
    // Each batch starts 60 ms after the one before, whatever the answers take: posted one after
    // another, on a loaded machine eight posts took over a second and never exceeded the burst.
    const batches = Promise.all(
      Array.from({ length: 8 }, async (_, b) => {
        await new Promise((r) => setTimeout(r, b * 60));
        const batch = Array.from({ length: 50 }, () => {
          const email = `${uniq('bulk')}@example.com`;
          emails.push(email);
          return { id: uniq('e'), event: 'Viewed Product', profile: { email } };
        });
        // Bulk: the bulk batcher sends every batch it has as one bulk request (live would send
        // singles while the bulk burst is spent).
        await h!.post('/v1/events', { events: batch }, { headers: { 'X-Relay-Priority': 'bulk' } });
      }),
    );
    await Promise.all([lone, batches]);
    await waitUntil('every event delivered', () => h!.sim.account(CONNECTION)?.eventCount === emails.length, { timeoutMs: 45_000, intervalMs: 200 });

    const stats = h.sim.stats();
    expect(stats.throttled).toEqual({ gateway: 0, klaviyo: 0 });
    const peaks = stats.peaks.klaviyo[CONNECTION]!;
    expect(peaks.create_event?.sentPerSecond ?? 0).toBeLessThanOrEqual(3);
    expect(peaks.bulk_create_events?.sentPerSecond ?? 0).toBeLessThanOrEqual(2);
    expect(peaks.bulk_create_events?.sentPerMinute ?? 0).toBeLessThanOrEqual(12);
    expect(Object.values(stats.peaks.gateway).every((g) => g.sentPerSecond <= 5)).toBe(true);
    // Demand exceeded the bulk burst (eight batches within half a second), so calls waited for tokens:
    // the burst's two calls went within a second of each other. Counted at any alignment — the
    // simulator's fixed seconds split that pair (sent 60–170 ms apart) about one run in ten, and
    // every later call waits for a token of its own, so the fixed-second peak was then 1.
    const bulkAt = h.sim
      .requests({ endpoint: 'bulk_create_events', account: CONNECTION })
      .map((r) => r.at)
      .sort((x, y) => x - y);
    expect(
      bulkAt.some((t, i) => i > 0 && t - bulkAt[i - 1]! < 1000),
      `bulk calls at ${bulkAt.map((t) => t - bulkAt[0]!).join(', ')} ms`,
    ).toBe(true);
  }, 120_000);
});

describe('bulk isolation', () => {
  it.each([true, false])(
    "2 invalid events out of 1,000 (pointers: %s): 998 delivered, exactly the 2 dead-lettered with Klaviyo's detail",
    async (withPointers) => {
      h = await startHarness({ name: 'isolate' });
      const events = Array.from({ length: 1000 }, (_, i) => ({ id: uniq(`b${i}`), event: 'Placed Order', profile: { email: `${uniq(`b${i}`)}@example.com` } }));
      const bad = [events[137]!.profile.email, events[802]!.profile.email];
      h.sim.faults.add({ match: { endpoint: 'bulk_create_events' }, rejectItems: { emails: bad, detail: 'Simulated rejection', withPointers } });
      h.sim.faults.add({ match: { endpoint: 'create_event' }, rejectItems: { emails: bad, detail: 'Simulated rejection', withPointers } });
      expect((await h.post('/v1/events', { events })).status).toBe(202);
      const q = h.queue('events');
      await waitUntil(
        'the queue drained',
        async () => {
          const c = await q.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
          return (c.waiting ?? 0) + (c.active ?? 0) + (c.delayed ?? 0) === 0 && (c.completed ?? 0) + (c.failed ?? 0) > 0;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      expect(h.sim.account(CONNECTION)!.eventCount).toBe(998);
      const failed = await q.getJobs(['failed']);
      const dead = failed.flatMap((j) => j.data.dead ?? []);
      expect(dead.map((d) => d.item.e.profile.email).sort()).toEqual([...bad].sort());
      for (const d of dead) expect(d.error).toMatchObject({ status: 400, origin: 'klaviyo', detail: expect.stringContaining('Simulated rejection') });
      expect(failed.every((j) => j.data.items.length === 0)).toBe(true);
      expect(h.sim.stats().throttled).toEqual({ gateway: 0, klaviyo: 0 });
    },
    60_000,
  );
});

describe('low load', () => {
  it('a lone event is not held for a batch', async () => {
    h = await startHarness({ name: 'lone', env: { RELAY_BATCH_LINGER_MS: '200' } });
    const email = `${uniq('lone')}@example.com`;
    const t0 = Date.now();
    expect((await h.post('/v1/events', { id: uniq('e'), event: 'Viewed Product', profile: { email } })).status).toBe(202);
    const ev = await waitUntil('the event delivered', () => h!.sim.eventsFor(CONNECTION, { email })[0], { timeoutMs: 5000, intervalMs: 10 });
    expect(ev.receivedAt - t0).toBeLessThan(1000);
    expect(ev.via).toBe('create_event');
  });
});
