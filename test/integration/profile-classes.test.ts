/**
 * Issue 12, profiles: a bulk profile import does not delay live profile operations, and the
 * per-profile order still holds across the classes — a live operation on a profile whose import
 * operation is still queued promotes that operation (applies it first, through the live path)
 * instead of waiting for the whole import, and the import does not apply it a second time.
 *
 * The import is the real shape scaled down: profile-bulk-import-jobs calls that Klaviyo
 * processes asynchronously (here 3.5 s each, polled), a worker holding 8 jobs of 100 profiles at
 * a time (RELAY_WORKER_CONCURRENCY=8 in place of the bulk class's 8,000 items), so that 4,000
 * profiles take ~20 s to drain and the end of the import waits in the queue meanwhile. A second
 * harness spends the import's own quota instead (see there).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from 'bullmq';
import { jobRef } from '../../src/item-keys.ts';
import type { ProfilesJobData } from '../../src/job-data.ts';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { CONNECTION, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';

const ADMIN = 'test-admin-token-classes';
const IMPORT = 4000;
const BULK = { 'X-Relay-Priority': 'bulk' };

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    name: 'profile-classes',
    env: { RELAY_WORKER_CONCURRENCY: '8', RELAY_ADMIN_TOKEN: ADMIN, RELAY_DASHBOARD_PII: 'true' },
    sim: { bulkImportDelayMs: 3500 },
  });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.sim.faults.clear());

const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 8)}`;
const profile = (email: string) => h.sim.profileByEmail(CONNECTION, email);
/** Requests Klaviyo received whose body carries `marker` (every endpoint, bulk imports included). */
const carrying = (marker: string) =>
  h.sim.requests({ account: CONNECTION }).filter((r) => r.status !== null && r.status < 300 && JSON.stringify(r.body ?? '').includes(marker));

/** Queues a bulk import of IMPORT profiles (4 requests of 1,000 at a time); `last` replaces the last one. */
async function queueImport(tag: string, last?: Record<string, unknown>): Promise<string[]> {
  const emails = Array.from({ length: IMPORT }, (_, i) => `${tag}-${i}@import.example.com`);
  const posts = [];
  for (let c = 0; c < IMPORT / 1000; c++) {
    const profiles: Record<string, unknown>[] = emails.slice(c * 1000, (c + 1) * 1000).map((email) => ({ email, first_name: 'Imported' }));
    if (last && c === IMPORT / 1000 - 1) profiles[profiles.length - 1] = last;
    posts.push(h.post('/v1/profiles', { profiles }, { headers: BULK }));
  }
  for (const res of await Promise.all(posts)) expect(res.status).toBe(202);
  return emails;
}
const imported = (emails: readonly string[]) => emails.reduce((n, e) => n + (profile(e) ? 1 : 0), 0);
async function drained(emails: readonly string[]): Promise<void> {
  await waitUntil('every bulk profile imported', () => imported(emails) === emails.length, { timeoutMs: 60_000, intervalMs: 200 });
  await waitUntil(
    'the bulk queue to be empty',
    async () => {
      const c = await h.queue('profiles', 'bulk').getJobCounts('active', 'waiting', 'delayed', 'prioritized');
      return Object.values(c).every((n) => n === 0);
    },
    { timeoutMs: 15_000, intervalMs: 100 },
  );
}

describe('a bulk profile import', () => {
  it('does not hold back a live update of a profile it updates earlier: that update is promoted, the live value wins, the import does not apply it again', async () => {
    const tag = uniq('promo');
    const p = `${tag}-p@example.com`;
    const emails = await queueImport(tag, { email: p, first_name: `Bulk-${tag}`, properties: { source: 'import' } });
    emails[emails.length - 1] = p;
    await waitUntil('the first bulk profile imported', () => imported(emails) > 0, { timeoutMs: 20_000, intervalMs: 50 }); // the import is draining

    const sent = Date.now();
    expect((await h.post('/v1/profiles', { email: p, first_name: `Live-${tag}` })).status).toBe(202);
    await waitUntil('the live upsert applied', () => profile(p)?.attributes.first_name === `Live-${tag}`, { timeoutMs: 30_000, intervalMs: 20 });
    const latency = Date.now() - sent;
    const soFar = imported(emails);
    console.log(`[profile-classes] live update of a profile with a pending import update: ${latency} ms; imported so far ${soFar} of ${IMPORT}`);
    expect(latency).toBeLessThanOrEqual(3000);
    expect(soFar).toBeLessThan(IMPORT / 2);
    // Order held: the import's update of that profile reached Klaviyo first (its property is there).
    expect(profile(p)!.properties).toMatchObject({ source: 'import' });

    await drained(emails);
    // Applied once: the promoted update was not sent again by its bulk job, which would have undone the live one.
    expect(carrying(`Bulk-${tag}`)).toHaveLength(1);
    expect(profile(p)!.attributes.first_name).toBe(`Live-${tag}`);
    expect((await h.queue('profiles', 'bulk').getJobCounts('failed')).failed).toBe(0);
  }, 90_000);
});

/**
 * The import's own quota spent: profile-bulk-import-jobs scaled down to 2 calls a minute (as an
 * import 75 times larger would spend the real 150), so the import's next profiles wait in the bulk
 * buffer for the window to turn. A live upsert must not join them: it goes as profile-import (its
 * own 750/min window) at once, and live consent changes stay prompt beside it.
 */
describe('a bulk profile import whose quota is spent', () => {
  const BULK_IMPORT_LIMIT = { burst: 1, steady: 2 };
  let q: Harness;
  beforeAll(async () => {
    q = await startHarness({
      name: 'profile-classes-quota',
      env: { RELAY_WORKER_CONCURRENCY: '8' },
      sim: { bulkImportDelayMs: 500, limits: { endpoints: { bulk_import_profiles: BULK_IMPORT_LIMIT } } },
      file: parseRelayConfig({ limits: { endpoints: { bulk_import_profiles: BULK_IMPORT_LIMIT } } }, {}),
    });
  });
  afterAll(async () => {
    await q?.close();
  });

  it('does not delay a live upsert, subscribe or unsubscribe of other profiles', async () => {
    const tag = uniq('other');
    const emails = Array.from({ length: IMPORT }, (_, i) => `${tag}-${i}@import.example.com`);
    for (let c = 0; c < IMPORT / 1000; c++) {
      expect(
        (
          await q.post(
            '/v1/profiles',
            { profiles: emails.slice(c * 1000, (c + 1) * 1000).map((email) => ({ email, first_name: 'Imported' })) },
            { headers: BULK },
          )
        ).status,
      ).toBe(202);
    }
    const imported = () => emails.reduce((n, e) => n + (q.sim.profileByEmail(CONNECTION, e) ? 1 : 0), 0);
    const okImports = () => q.sim.requests({ endpoint: 'bulk_import_profiles' }).filter((r) => r.status === 202);
    // The window is spent and what those calls carried is in: the next jobs' profiles now wait in
    // the bulk buffer for the window to turn.
    await waitUntil('the bulk import calls to fill their quota', () => okImports().length >= BULK_IMPORT_LIMIT.steady, { timeoutMs: 20_000, intervalMs: 50 });
    const carried = okImports().reduce(
      (n, r) => n + (r.body as { data: { attributes: { profiles: { data: unknown[] } } } }).data.attributes.profiles.data.length,
      0,
    );
    await waitUntil('the profiles carried so far imported', () => imported() >= carried, { timeoutMs: 20_000, intervalMs: 50 });
    await waitUntil('a bulk job active', async () => ((await q.queue('profiles', 'bulk').getJobCounts('active')).active ?? 0) > 0, { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 300));

    const [sub, unsub, up] = [`${tag}-sub@example.com`, `${tag}-unsub@example.com`, `${tag}-up@example.com`];
    const sent = Date.now();
    const posts = await Promise.all([
      q.post('/v1/profiles', { email: up, first_name: 'Upserted' }),
      q.post('/v1/lists/LiveNews1/members', { profiles: [{ email: sub }], consent: { email: true } }),
      q.post('/v1/lists/LiveNews1/members', { profiles: [{ email: unsub }], consent: { email: true } }, { method: 'DELETE' }),
    ]);
    for (const res of posts) expect(res.status).toBe(202);
    const ops = () => q.sim.subscriptionOps(CONNECTION);
    const latency = await Promise.all([
      waitUntil(
        'the live upsert applied (ms since sent)',
        () => q.sim.profileByEmail(CONNECTION, up)?.attributes.first_name === 'Upserted' && Date.now() - sent,
        { timeoutMs: 90_000, intervalMs: 20 },
      ),
      waitUntil('the live subscribe applied (ms since sent)', () => ops().some((o) => o.email === sub && o.kind === 'subscribe') && Date.now() - sent, {
        timeoutMs: 90_000,
        intervalMs: 20,
      }),
      waitUntil('the live unsubscribe applied (ms since sent)', () => ops().some((o) => o.email === unsub && o.kind === 'unsubscribe') && Date.now() - sent, {
        timeoutMs: 90_000,
        intervalMs: 20,
      }),
    ]);
    const soFar = imported();
    console.log(
      `[profile-classes] live upsert ${latency[0]} ms, subscribe ${latency[1]} ms, unsubscribe ${latency[2]} ms; imported so far ${soFar} of ${IMPORT}`,
    );
    for (const ms of latency) expect(ms).toBeLessThanOrEqual(2000);
    expect(soFar).toBeLessThan(IMPORT);
    // The live upsert went on its own (profile-import), not in the import's next bulk call.
    expect(
      q.sim
        .requests({ account: CONNECTION })
        .filter((r) => JSON.stringify(r.body ?? '').includes(up))
        .map((r) => r.endpoint),
    ).toEqual(['create_or_update_profile']);
    expect(q.sim.stats().throttled).toMatchObject({ gateway: 0, klaviyo: 0 });
  }, 120_000);
});

describe('a promoted operation', () => {
  /** The importing source's bulk queue holds its jobs (paused) while the test arranges a live operation. */
  async function withBulkHeld<T>(fn: () => Promise<T>): Promise<T> {
    const q = h.queue('profiles', 'bulk');
    await q.pause();
    try {
      return await fn();
    } finally {
      await q.resume();
    }
  }
  const bulkJob = async (email: string) =>
    (await h.queue('profiles', 'bulk').getJobs(['waiting', 'active', 'delayed', 'completed', 'failed'])).find((j) => JSON.stringify(j.data).includes(email)) as
      | Job<ProfilesJobData>
      | undefined;

  it('is applied exactly once — the upsert and the list add of one import request, before the live operation', async () => {
    const tag = uniq('once');
    const p = `${tag}@example.com`;
    await withBulkHeld(async () => {
      expect(
        (
          await h.post(
            '/v1/profiles',
            { profiles: [{ email: p, first_name: `Bulk-${tag}`, lists: ['PromoL1'] }, { email: `${tag}-other@example.com` }] },
            { headers: BULK },
          )
        ).status,
      ).toBe(202);
      await waitUntil('the bulk job queued', () => bulkJob(p), { timeoutMs: 5000 });
      expect((await h.post('/v1/lists/LiveL1/members', { profiles: [{ email: p }], consent: { email: true } })).status).toBe(202);
      await waitUntil('the live subscription applied', () => h.sim.subscriptionOps(CONNECTION).some((o) => o.email === p), {
        timeoutMs: 10_000,
        intervalMs: 20,
      });
      // The bulk job has not run; both its operations on that profile were applied first.
      expect(await (await bulkJob(p))!.getState()).not.toBe('completed');
      expect(profile(p)!.attributes.first_name).toBe(`Bulk-${tag}`);
      expect([...profile(p)!.lists].sort()).toEqual(['LiveL1', 'PromoL1']);
    });
    await waitUntil(
      'the bulk job completed (or removed)',
      async () => (await (await bulkJob(p))?.getState()) === 'completed' || (await bulkJob(p)) === undefined,
      { timeoutMs: 15_000 },
    );
    await waitUntil("the bulk job's other profile upserted", () => profile(`${tag}-other@example.com`), { timeoutMs: 5000 });
    const id = profile(p)!.id;
    expect(carrying(`Bulk-${tag}`)).toHaveLength(1);
    expect(
      h.sim.requests({ endpoint: 'add_profiles_to_list' }).filter((r) => r.status !== null && r.status < 300 && JSON.stringify(r.body).includes(id)),
    ).toHaveLength(1);
    const subscribe = h.sim.subscriptionOps(CONNECTION).find((o) => o.email === p)!;
    const upsert = carrying(`Bulk-${tag}`)[0]!;
    expect(upsert.at).toBeLessThanOrEqual(subscribe.at);
  }, 30_000);

  it("that Klaviyo rejects is its bulk job's dead letter (no second call); the live operation goes on; a replay sends it again", async () => {
    const tag = uniq('rej');
    const p = `${tag}@example.com`;
    await withBulkHeld(async () => {
      expect(
        (await h.post('/v1/profiles', { profiles: [{ email: p, first_name: `Bulk-${tag}` }, { email: `${tag}-other@example.com` }] }, { headers: BULK }))
          .status,
      ).toBe(202);
      await waitUntil('the bulk job queued', () => bulkJob(p), { timeoutMs: 5000 });
      h.sim.faults.add({ match: { endpoint: 'create_or_update_profile' }, rejectItems: { emails: [p], detail: 'Simulated: rejected' }, times: 1 });
      expect((await h.post('/v1/profiles', { email: p, last_name: `Live-${tag}` })).status).toBe(202);
      await waitUntil('the live upsert applied', () => profile(p)?.attributes.last_name === `Live-${tag}`, { timeoutMs: 10_000, intervalMs: 20 });
      expect(profile(p)!.attributes.first_name ?? null).toBeNull();
    });
    const job = await waitUntil(
      'the bulk job failed',
      async () => {
        const j = await bulkJob(p);
        return j && (await j.getState()) === 'failed' && j;
      },
      { timeoutMs: 15_000 },
    );
    expect(job.data.dead?.map((d) => d.item.o)).toEqual([expect.objectContaining({ op: 'upsert', profile: expect.objectContaining({ email: p }) })]);
    expect(job.data.dead![0]!.error.status).toBe(400);
    expect(carrying(`Bulk-${tag}`)).toHaveLength(0);
    expect(h.sim.requests({ endpoint: 'create_or_update_profile', status: 400 }).filter((r) => JSON.stringify(r.body).includes(p))).toHaveLength(1);

    const replay = await fetch(`${h.service.url}/ops/dead-letters/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ids: [jobRef(job.queueName, job.id!)] }),
    });
    expect(replay.status).toBe(200);
    expect(((await replay.json()) as { jobs: number }).jobs).toBe(1);
    await waitUntil('one bulk job carrying the operation', () => carrying(`Bulk-${tag}`).length === 1, { timeoutMs: 15_000 });
    expect(profile(p)!.attributes.first_name).toBe(`Bulk-${tag}`);
  }, 30_000);
});
