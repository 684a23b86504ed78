/** Issue #5: dead letters — list and filter, show, replay (dry run first), audit log. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONNECTION, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';

const ADMIN = 'test-admin-token-1';
let h: Harness;
const tag = `dl-${Math.random().toString(36).slice(2, 8)}`;
const bad = [`${tag}-bad1@example.com`, `${tag}-bad2@example.com`];
const gone = `${tag}-gone@example.com`;

beforeAll(async () => {
  // Operators here see identifiers (RELAY_DASHBOARD_PII); the default masks them (test/e2e/dashboard.test.ts).
  h = await startHarness({ name: 'dlq', env: { RELAY_ADMIN_TOKEN: ADMIN, RELAY_DASHBOARD_PII: 'true' } });
});
afterAll(async () => {
  await h?.close();
});

const ops = async (path: string, init: { method?: string; body?: unknown; token?: string | null } = {}) => {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (init.token !== null) headers.authorization = `Bearer ${init.token ?? ADMIN}`;
  const res = await fetch(`${h.service.url}/ops${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
};

describe('dead letters', () => {
  it("are kept with Klaviyo's error, listed and filtered, replayed after a dry run, and audited", async () => {
    const rule = h.sim.faults.add({ rejectItems: { emails: bad, detail: 'Simulated: profile blocked' } })[0]!;
    await h.post('/v1/events', {
      events: [...bad, `${tag}-ok@example.com`].map((email, i) => ({ id: `${tag}-${i}`, event: 'Placed Order', profile: { email } })),
    });
    await waitUntil('one dead letter', async () => (await ops('/dead-letters')).body.total === 1, { timeoutMs: 15_000 });
    h.sim.faults.add({ match: { endpoint: 'create_event' }, status: 404, times: 1 });
    await h.post('/v1/events', { id: `${tag}-gone`, event: 'Placed Order', profile: { email: gone } });
    await waitUntil('two dead letters', async () => (await ops('/dead-letters')).body.total === 2, { timeoutMs: 15_000 });

    // Auth: no token → 401 with a Basic challenge (browsers prompt); Basic with the token works.
    const anon = await ops('/dead-letters', { token: null });
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic/);
    const basic = await fetch(`${h.service.url}/ops/dead-letters`, { headers: { authorization: `Basic ${Buffer.from(`ana:${ADMIN}`).toString('base64')}` } });
    expect(basic.status).toBe(200);

    const all = (await ops('/dead-letters')).body;
    expect(all.total).toBe(2);
    // Newest first, paged with limit and offset.
    const first = (await ops('/dead-letters?limit=1')).body;
    expect(first).toMatchObject({ total: 2, offset: 0, truncated: true, next: 1 });
    expect(first.deadLetters).toHaveLength(1);
    expect(first.deadLetters[0].errors[0].status).toBe(404);
    const second = (await ops('/dead-letters?limit=1&offset=1')).body;
    expect(second).toMatchObject({ total: 2, offset: 1, truncated: true });
    expect(second.next).toBeUndefined();
    expect(second.deadLetters[0].errors[0].status).toBe(400);
    expect(all.deadLetters.map((d: any) => d.ref)).toEqual([first.deadLetters[0].ref, second.deadLetters[0].ref]);
    for (const [q, field] of [
      ['limit=0', 'limit'],
      ['limit=5000', 'limit'],
      ['offset=-1', 'offset'],
      ['offset=x', 'offset'],
    ]) {
      const bad = await ops(`/dead-letters?${q}`);
      expect(bad.status, q).toBe(400);
      expect(
        bad.body.issues.map((i: any) => i.field),
        q,
      ).toEqual([field]);
    }
    const rejected = (await ops('/dead-letters?status=400')).body;
    expect(rejected.total).toBe(1);
    expect(rejected.deadLetters[0]).toMatchObject({ kind: 'events', lane: 'default', items: 2, errors: [{ status: 400, origin: 'klaviyo', count: 2 }] });
    expect(rejected.deadLetters[0].errors[0].detail).toContain('Simulated: profile blocked');
    expect((await ops('/dead-letters?status=404')).body.total).toBe(1);
    expect((await ops('/dead-letters?kind=profiles')).body.total).toBe(0);
    expect((await ops(`/dead-letters?since=${Date.now() + 60_000}`)).body.total).toBe(0);
    expect((await ops('/dead-letters?source=someone-else')).body.total).toBe(0);
    expect((await ops('/dead-letters?status=abc')).status).toBe(400);

    const ref = rejected.deadLetters[0].ref as string;
    const shown = (await ops(`/dead-letters/${ref}`)).body;
    expect(shown.data.dead.map((d: any) => d.item.e.profile.email).sort()).toEqual([...bad].sort());

    // Dry run: says what would be sent, changes nothing.
    const before = h.sim.requests().length;
    const dry = (await ops('/dead-letters/replay', { method: 'POST', body: { status: 400, dryRun: true } })).body;
    expect(dry).toMatchObject({ dryRun: true, jobs: 1, items: 2, refs: [ref] });
    expect(dry.preview[0].endpoint).toBe('bulk_create_events');
    expect(JSON.stringify(dry.preview[0].body)).toContain(bad[0]);
    await new Promise((r) => setTimeout(r, 300));
    expect(h.sim.requests().length).toBe(before);
    expect((await ops('/dead-letters')).body.total).toBe(2);

    // Nothing named: refused.
    expect((await ops('/dead-letters/replay', { method: 'POST', body: {} })).status).toBe(400);

    // Fixed on Klaviyo's side; replay the 400s only.
    h.sim.faults.remove(rule.id);
    const done = (await ops('/dead-letters/replay', { method: 'POST', body: { status: 400 } })).body;
    expect(done).toMatchObject({ dryRun: false, jobs: 1, items: 2 });
    await waitUntil('the bad events delivered once replayed', () => bad.every((email) => h.sim.eventsFor(CONNECTION, { email }).length === 1), {
      timeoutMs: 15_000,
    });
    await waitUntil('one dead letter left', async () => (await ops('/dead-letters')).body.total === 1, { timeoutMs: 10_000 });
    expect((await ops('/dead-letters')).body.deadLetters[0].errors[0].status).toBe(404);
    expect(h.sim.eventsFor(CONNECTION, { email: gone })).toHaveLength(0);

    // Replay by id; a second replay of the same ids finds nothing left to do.
    const goneRef = (await ops('/dead-letters')).body.deadLetters[0].ref;
    expect((await ops('/dead-letters/replay', { method: 'POST', body: { ids: [goneRef] } })).body.jobs).toBe(1);
    await waitUntil('the replayed event delivered', () => h.sim.eventsFor(CONNECTION, { email: gone }).length === 1, { timeoutMs: 15_000 });
    await waitUntil('no dead letters left', async () => (await ops('/dead-letters')).body.total === 0, { timeoutMs: 10_000 });
    expect((await ops('/dead-letters/replay', { method: 'POST', body: { ids: [goneRef] } })).body.jobs).toBe(0);
    expect(h.sim.eventsFor(CONNECTION, { email: `${tag}-ok@example.com` })).toHaveLength(1);

    const audit = (await ops('/audit')).body.entries;
    expect(audit.map((e: any) => e.action)).toEqual(['replay', 'replay', 'replay', 'replay.dry-run']);
    expect(audit[3]).toMatchObject({ actor: 'admin', filter: { status: 400 }, jobs: 1, items: 2 });
  }, 60_000);
});
