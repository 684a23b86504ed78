/**
 * Issue 12: which queue work lands in. Each rule of src/priority.ts over HTTP, against an API on
 * real Redis (no workers here, so the jobs stay where ingest put them); dead-letter replays
 * against the workers and the simulator.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRelayConfig } from '../../src/relay-config.ts';
import type { PriorityClass } from '../../src/priority.ts';
import { CONNECTION, RELAY_SOURCE, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';

const ERP_KEY = 'erp-nightly-sync-key-0001';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const ERP = 'src-erp';
const ADMIN = 'test-admin-token-12';

const withErp = (extra: object = {}) => parseRelayConfig({ sources: [{ name: 'erp', keySha256: sha(ERP_KEY), priority: 'bulk' }], ...extra }, {});

const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 10)}`;
const event = (id: string, extra: object = {}) => ({ id, event: 'Placed Order', profile: { email: `${id}@example.com` }, ...extra });
const STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'] as const;

/** The ids of the items in a queue's jobs. */
async function idsIn(h: Harness, kind: 'events' | 'profiles', cls: PriorityClass, source = RELAY_SOURCE): Promise<string[]> {
  const jobs = await h.queue(kind, cls, source).getJobs([...STATES]);
  return jobs.flatMap((j) => (j.data.items as { id: string }[]).map((it) => it.id));
}

describe('classification at ingest', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ name: 'classes', workers: false, file: withErp() });
    await waitUntil('the API to be ready', async () => (await fetch(`${h.service.url}/readyz`)).status === 200);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('is live by default; X-Relay-Priority: bulk or ?priority=bulk makes it bulk', async () => {
    const [plain, header, query] = [uniq('plain'), uniq('hdr'), uniq('qry')];
    expect((await h.post('/v1/events', event(plain))).status).toBe(202);
    expect((await h.post('/v1/events', event(header), { headers: { 'X-Relay-Priority': 'bulk' } })).status).toBe(202);
    expect((await h.post('/v1/events?priority=bulk', event(query))).status).toBe(202);
    expect(await idsIn(h, 'events', 'live')).toContain(plain);
    const bulk = await idsIn(h, 'events', 'bulk');
    expect(bulk).toEqual(expect.arrayContaining([header, query]));
    expect(bulk).not.toContain(plain);
  });

  it("splits a batch: backfill events are bulk, the rest keep the request's class — even when it asks for live", async () => {
    const [a, b, c] = [uniq('mix-live'), uniq('mix-backfill'), uniq('mix-false')];
    const res = await h.post(
      '/v1/events',
      { events: [event(a), event(b, { backfill: true }), event(c, { backfill: false })] },
      { headers: { 'X-Relay-Priority': 'live' } },
    );
    expect(res).toMatchObject({ status: 202, body: { accepted: 3, ids: [a, b, c], duplicates: 0 } });
    const live = await idsIn(h, 'events', 'live');
    const bulk = await idsIn(h, 'events', 'bulk');
    expect(live).toEqual(expect.arrayContaining([a, c]));
    expect(live).not.toContain(b);
    expect(bulk).toContain(b);
    // A resend of the same batch with another class is recognised: nothing is queued twice.
    const again = await h.post('/v1/events', { events: [event(a), event(b, { backfill: true }), event(c)] }, { headers: { 'X-Relay-Priority': 'bulk' } });
    expect(again.body).toMatchObject({ accepted: 3, duplicates: 3 });
    expect((await idsIn(h, 'events', 'bulk')).filter((id) => id === a || id === c)).toEqual([]);
  });

  it('a backfill order is bulk as a whole; a plain one live', async () => {
    const order = (id: string, extra: object = {}) => ({
      id,
      profile: { email: `${id}@example.com` },
      value: 10,
      currency: 'USD',
      items: [{ product_id: 'p1', name: 'Tea', quantity: 1, price: 10 }],
      ...extra,
    });
    const [hist, now] = [uniq('order-hist'), uniq('order-now')];
    expect((await h.post('/v1/orders', { orders: [order(hist, { backfill: true }), order(now)] })).body).toMatchObject({ accepted: 2, events: 4 });
    expect((await idsIn(h, 'events', 'bulk')).filter((id) => id.startsWith(hist)).sort()).toEqual([`${hist}#line:0`, `${hist}#placed`]);
    expect((await idsIn(h, 'events', 'live')).filter((id) => id.startsWith(now)).sort()).toEqual([`${now}#line:0`, `${now}#placed`]);
    // Klaviyo records the historical order's events without triggering flows.
    const [job] = (await h.queue('events', 'bulk').getJobs([...STATES])).filter((j) => (j.data.items as { id: string }[]).some((it) => it.id.startsWith(hist)));
    expect((job!.data.items as { e: { backfill?: boolean } }[]).every((it) => it.e.backfill === true)).toBe(true);
  });

  it('a source configured `priority: bulk` is bulk unless the request asks for live', async () => {
    const [dflt, asked] = [uniq('erp'), uniq('erp-live')];
    const post = (body: unknown, headers: Record<string, string> = {}) =>
      h.post('/v1/events', body, { headers: { authorization: `Bearer ${ERP_KEY}`, ...headers } });
    expect((await post(event(dflt))).status).toBe(202);
    expect((await post(event(asked), { 'X-Relay-Priority': 'live' })).status).toBe(202);
    expect(await idsIn(h, 'events', 'bulk', ERP)).toContain(dflt);
    expect(await idsIn(h, 'events', 'live', ERP)).toContain(asked);
  });

  it("profile and list operations follow the request's class", async () => {
    const [p, l] = [uniq('prof'), uniq('list')];
    expect((await h.post('/v1/profiles', { id: p, email: `${p}@example.com` }, { headers: { 'X-Relay-Priority': 'bulk' } })).status).toBe(202);
    expect((await h.post('/v1/lists/Y6nRLr/members?priority=bulk', { id: l, profiles: [{ email: `${l}@example.com` }] })).status).toBe(202);
    expect(await idsIn(h, 'profiles', 'bulk')).toEqual(expect.arrayContaining([p, l]));
    expect(await idsIn(h, 'profiles', 'live')).not.toContain(p);
  });

  it('anything but live or bulk is a 400 naming the header or the parameter, and queues nothing', async () => {
    const id = uniq('bad');
    const cases: { path: string; headers: Record<string, string>; field: string }[] = [
      { path: '/v1/events', headers: { 'X-Relay-Priority': 'urgent' }, field: 'X-Relay-Priority' },
      { path: '/v1/events?priority=high', headers: {}, field: 'priority' },
      { path: '/v1/events?priority=', headers: {}, field: 'priority' },
      { path: '/v1/events?priority=bulk&priority=live', headers: {}, field: 'priority' },
      { path: '/v1/events?priority=bulk', headers: { 'X-Relay-Priority': 'live' }, field: 'priority' },
      { path: '/v1/profiles', headers: { 'X-Relay-Priority': '1' }, field: 'X-Relay-Priority' },
    ];
    for (const c of cases) {
      const res = await h.post(c.path, c.path.startsWith('/v1/profiles') ? { id, email: `${id}@example.com` } : event(id), { headers: c.headers });
      expect(res.status, c.path).toBe(400);
      expect(res.body, c.path).toMatchObject({ error: 'validation_failed' });
      expect(
        res.body.issues.map((i: { field: string }) => i.field),
        c.path,
      ).toEqual([c.field]);
    }
    for (const cls of ['live', 'bulk'] as const) expect(await idsIn(h, 'events', cls)).not.toContain(id);
  });

  it('the queues are registered for the workers to find', async () => {
    const names = await h.service.queues.catalog.list('events', 'default');
    expect(names.map((r) => `${r.cls}.${r.source ?? '(legacy)'}`)).toEqual(
      expect.arrayContaining(['live.(legacy)', `live.${RELAY_SOURCE}`, `bulk.${RELAY_SOURCE}`, `bulk.${ERP}`, `live.${ERP}`]),
    );
  });
});

describe('priorities.enabled: false', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ name: 'classes-off', workers: false, file: withErp({ priorities: { enabled: false } }) });
    await waitUntil('the API to be ready', async () => (await fetch(`${h.service.url}/readyz`)).status === 200);
  });
  afterAll(async () => {
    await h?.close();
  });

  it("makes every item live: backfill, the header, the source's default", async () => {
    const [a, b] = [uniq('off-a'), uniq('off-b')];
    expect((await h.post('/v1/events', { events: [event(a, { backfill: true })] }, { headers: { 'X-Relay-Priority': 'bulk' } })).status).toBe(202);
    expect((await h.post('/v1/events', event(b), { headers: { authorization: `Bearer ${ERP_KEY}` } })).status).toBe(202);
    expect(await idsIn(h, 'events', 'live')).toContain(a);
    expect(await idsIn(h, 'events', 'live', ERP)).toContain(b);
    expect(await h.queue('events', 'bulk').count()).toBe(0);
    expect(await h.queue('events', 'bulk', ERP).count()).toBe(0);
  });

  it('still refuses a bad value (the request is wrong whatever the setting)', async () => {
    expect((await h.post('/v1/events?priority=soon', event(uniq('off-bad')))).status).toBe(400);
  });
});

describe('dead-letter replays', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ name: 'replay-class', env: { RELAY_ADMIN_TOKEN: ADMIN, RELAY_DASHBOARD_PII: 'true' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  const ops = async (path: string, body?: unknown) => {
    const res = await fetch(`${h.service.url}/ops${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  it('go back as bulk work unless the replay asks for live; a resend of a replayed item is still a duplicate', async () => {
    const [one, two] = [uniq('dl-one'), uniq('dl-two')];
    const rule = h.sim.faults.add({ rejectItems: { emails: [`${one}@example.com`, `${two}@example.com`], detail: 'Simulated: blocked' } })[0]!;
    await h.post('/v1/events', event(one));
    await h.post('/v1/events', event(two));
    const dead = await waitUntil(
      'two dead letters',
      async () => {
        const l = (await ops('/dead-letters')).body;
        return l.total === 2 && l.deadLetters;
      },
      { timeoutMs: 15_000 },
    );
    for (const d of dead) expect(d).toMatchObject({ queue: `events.default.live.${RELAY_SOURCE}`, class: 'live' });
    const byId = new Map<string, string>();
    for (const d of dead) byId.set((await ops(`/dead-letters/${d.ref}`)).body.data.dead[0].item.id, d.ref);

    // The dry run says which class they would go back as.
    expect((await ops('/dead-letters/replay', { ids: [byId.get(one)], dryRun: true })).body).toMatchObject({ dryRun: true, priority: 'bulk', jobs: 1 });
    expect((await ops('/dead-letters/replay', { ids: [byId.get(two)], dryRun: true, priority: 'live' })).body).toMatchObject({ priority: 'live' });
    expect((await ops('/dead-letters/replay', { ids: [byId.get(one)], priority: 'urgent' })).status).toBe(400);

    // Replayed while Klaviyo still rejects them: each fails again, in the queue it was replayed into.
    expect((await ops('/dead-letters/replay', { ids: [byId.get(one)] })).body).toMatchObject({ priority: 'bulk', jobs: 1, items: 1 });
    expect((await ops('/dead-letters/replay', { ids: [byId.get(two)], priority: 'live' })).body).toMatchObject({ priority: 'live', jobs: 1, items: 1 });
    const again = await waitUntil(
      'two dead letters, each after one attempt',
      async () => {
        const l = (await ops('/dead-letters')).body;
        return l.total === 2 && l.deadLetters.every((d: any) => d.attempts === 1) && l.deadLetters;
      },
      { timeoutMs: 15_000 },
    );
    const queueOf = async (ref: string) => ({ id: (await ops(`/dead-letters/${ref}`)).body.data.dead[0].item.id as string, queue: ref.split('/')[0] });
    const where = await Promise.all(again.map((d: any) => queueOf(d.ref)));
    expect(where).toEqual(
      expect.arrayContaining([
        { id: one, queue: `events.default.bulk.${RELAY_SOURCE}` },
        { id: two, queue: `events.default.live.${RELAY_SOURCE}` },
      ]),
    );
    // The item keys follow the job: a client's resend of the moved item is a duplicate.
    expect((await h.post('/v1/events', event(one))).body).toMatchObject({ accepted: 1, duplicates: 1 });
    expect((await ops(`/dead-letters?class=bulk`)).body.total).toBe(1);

    // Fixed on Klaviyo's side: a bulk replay of the bulk dead letter delivers it (retried in place).
    h.sim.faults.remove(rule.id);
    expect((await ops('/dead-letters/replay', { class: 'bulk' })).body).toMatchObject({ jobs: 1 });
    await waitUntil('the event delivered', () => h.sim.eventsFor(CONNECTION, { email: `${one}@example.com` }).length === 1, { timeoutMs: 15_000 });
    const audit = (await ops('/audit')).body.entries;
    expect(audit[0]).toMatchObject({ action: 'replay', priority: 'bulk', filter: { class: 'bulk' } });
  }, 60_000);
});
