import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../src/sim/index.ts';
import { bulkBody, eventBody, gateway, listMembersBody, profileImportBody } from './helpers.ts';

let srv: RunningSimulator;
let call: ReturnType<typeof gateway>;
let randoms: number[] = [];
const ACCOUNT = 'conn-faults';
const E = '/data/attributes/events-bulk-create/data';

beforeAll(async () => {
  srv = await startSimulator({ port: 0, random: () => randoms.shift() ?? 0 });
  call = gateway(srv.url, { connection: ACCOUNT });
});
afterAll(() => srv.close());
beforeEach(() => {
  srv.sim.reset();
  randoms = [];
});

const eventCount = () => srv.sim.account(ACCOUNT)?.eventCount ?? 0;

describe('status faults', () => {
  it('answers a status `times` times, then lets requests through; faulted requests change nothing', async () => {
    srv.sim.faults.add({ match: { endpoint: 'create_event' }, status: 503, times: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call('/api/events', { body: eventBody({ uniqueId: `u${i}` }) })).status);
    expect(statuses).toEqual([503, 503, 202]);
    expect(eventCount()).toBe(1);
    expect(srv.sim.faults.list()).toEqual([]);
    expect(srv.sim.stats().faulted).toBe(2);
  });

  it('answers a Klaviyo-shaped 5xx/429 by default, with Retry-After', async () => {
    srv.sim.faults.add([
      { status: 500, times: 1 },
      { status: 429, retryAfterS: 7, times: 1 },
    ]);
    const first = await call('/api/events', { body: eventBody() });
    expect(first.status).toBe(500);
    expect(first.json.errors[0]).toMatchObject({ status: 500, code: 'error' });
    const second = await call('/api/events', { body: eventBody() });
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('7');
    expect(second.json.errors[0]).toMatchObject({ code: 'throttled', detail: 'Request was throttled. Expected available in 7 seconds.' });
    expect(eventCount()).toBe(0);
  });

  it('answers a gateway-shaped 401 or an explicit body', async () => {
    srv.sim.faults.add([
      { status: 401, source: 'gateway', times: 1 },
      { status: 502, body: { message: 'upstream exploded' }, times: 1 },
    ]);
    const unauth = await call('/api/events', { body: eventBody() });
    expect(unauth.status).toBe(401);
    expect(unauth.json).toEqual({ error: 'Invalid API key' });
    const custom = await call('/api/events', { body: eventBody() });
    expect(custom.status).toBe(502);
    expect(custom.json).toEqual({ message: 'upstream exploded' });
  });

  it('matches on endpoint, account and method', async () => {
    srv.sim.faults.add({ match: { endpoint: 'bulk_create_events', account: 'other' }, status: 500 });
    srv.sim.faults.add({ match: { method: 'PATCH' }, status: 418 });
    expect((await call('/api/event-bulk-create-jobs', { body: bulkBody([{ email: 'a@example.com', events: [{}] }]) })).status).toBe(202);
    const other = gateway(srv.url, { connection: 'other' });
    expect((await other('/api/event-bulk-create-jobs', { body: bulkBody([{ email: 'a@example.com', events: [{}] }]) })).status).toBe(500);
    expect((await other('/api/events', { body: eventBody() })).status).toBe(202);
    expect((await call('/api/profiles/01X', { method: 'PATCH', body: profileImportBody({ first_name: 'x' }, '01X') })).status).toBe(418);
  });

  it('fires with probability `rate`', async () => {
    srv.sim.faults.add({ status: 500, rate: 0.5 });
    randoms = [0.7, 0.2, 0.99, 0.49];
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await call('/api/events', { body: eventBody({ uniqueId: `u${i}` }) })).status);
    expect(statuses).toEqual([202, 500, 202, 500]);
    expect(srv.sim.faults.list()[0]?.fired).toBe(2);
  });

  it('is evaluated before auth and limits, so a forced status works on any request', async () => {
    srv.sim.faults.add({ status: 503, times: 1 });
    const res = await gateway(srv.url, { key: '', connection: ACCOUNT })('/api/events', { body: eventBody() });
    expect(res.status).toBe(503);
  });
});

describe('latency and hang', () => {
  it('delays by latencyMs, then handles the request normally', async () => {
    srv.sim.faults.add({ latencyMs: 250, times: 1 });
    const started = Date.now();
    const res = await call('/api/events', { body: eventBody() });
    expect(res.status).toBe(202);
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    expect(eventCount()).toBe(1);
  });

  it('still applies a delayed request whose client gave up (applied-but-timed-out)', async () => {
    srv.sim.faults.add({ latencyMs: 300, times: 1 });
    await expect(call('/api/events', { body: eventBody({ uniqueId: 'late' }), signal: AbortSignal.timeout(50) })).rejects.toThrow();
    await srv.sim.waitFor(() => eventCount() === 1, 2000);
    expect(srv.sim.eventsFor(ACCOUNT)[0]?.uniqueId).toBe('late');
  });

  it('hangs until the client aborts, and changes nothing', async () => {
    srv.sim.faults.add({ hang: true, times: 1 });
    const controller = new AbortController();
    const pending = call('/api/events', { body: eventBody(), signal: controller.signal });
    await srv.sim.waitFor(() => srv.sim.faults.list().length === 0, 2000);
    controller.abort();
    await expect(pending).rejects.toThrow();
    const rec = await srv.sim.waitFor(() => srv.sim.requests().find((r) => r.outcome === 'fault_hang'), 2000);
    expect(rec.status).toBeNull();
    expect(eventCount()).toBe(0);
    expect((await call('/api/events', { body: eventBody() })).status).toBe(202);
  });

  it('close() ends hung requests promptly', async () => {
    const s = await startSimulator({ port: 0 });
    s.sim.faults.add({ hang: true });
    const pending = gateway(s.url, { connection: 'x' })('/api/events', { body: eventBody() });
    await s.sim.waitFor(() => s.sim.faults.list()[0]?.fired === 1, 2000);
    const started = Date.now();
    await s.close();
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(pending).rejects.toThrow();
  });
});

describe('rejectItems', () => {
  it('rejects a bulk request whole, with a pointer per matching item', async () => {
    srv.sim.faults.add({ rejectItems: { emails: ['b@example.com'], metrics: ['Bad Metric'] } });
    const res = await call('/api/event-bulk-create-jobs', {
      body: bulkBody([
        { email: 'a@example.com', events: [{ uniqueId: '1' }, { uniqueId: '2', metric: 'Bad Metric' }] },
        { email: 'B@example.com', events: [{ uniqueId: '3' }, { uniqueId: '4', metric: 'Bad Metric' }] },
        { email: 'c@example.com', events: [{ uniqueId: '5' }] },
      ]),
    });
    expect(res.status).toBe(400);
    expect(res.json.errors.map((e: { source: { pointer: string } }) => e.source.pointer)).toEqual([
      `${E}/0/attributes/events/data/1/attributes/metric/data/attributes/name`,
      `${E}/1/attributes/profile/data/attributes/email`,
    ]);
    expect(res.json.errors[1].detail).toContain('B@example.com');
    expect(eventCount()).toBe(0);
  });

  it('does not match (nor count) a request without such items', async () => {
    srv.sim.faults.add({ rejectItems: { emails: ['b@example.com'] }, times: 1 });
    expect((await call('/api/events', { body: eventBody({ email: 'a@example.com' }) })).status).toBe(202);
    expect(srv.sim.faults.list()[0]?.fired).toBe(0);
    expect((await call('/api/events', { body: eventBody({ email: 'b@example.com' }) })).status).toBe(400);
    expect(srv.sim.faults.list()).toEqual([]);
  });

  it('without pointers names items only in the detail', async () => {
    srv.sim.faults.add({ rejectItems: { emails: ['a@example.com'], withPointers: false, detail: 'Profile is suppressed' } });
    const res = await call('/api/event-bulk-create-jobs', { body: bulkBody([{ email: 'a@example.com', events: [{}] }]) });
    expect(res.status).toBe(400);
    expect(res.json.errors).toHaveLength(1);
    expect(res.json.errors[0].source).toEqual({});
    expect(res.json.errors[0].detail).toBe('Profile is suppressed (email a@example.com)');
  });

  it('resolves list-membership profile ids to emails', async () => {
    const a = (await call('/api/profile-import', { body: profileImportBody({ email: 'a@example.com' }) })).json.data.id;
    const b = (await call('/api/profile-import', { body: profileImportBody({ email: 'b@example.com' }) })).json.data.id;
    srv.sim.faults.add({ rejectItems: { emails: ['b@example.com'] } });
    const res = await call('/api/lists/ListAbc123/relationships/profiles', { body: listMembersBody([a, b]) });
    expect(res.status).toBe(400);
    expect(res.json.errors[0].source.pointer).toBe('/data/1/id');
    expect(srv.sim.account(ACCOUNT)!.lists.size).toBe(0);
  });
});

describe('HTTP control of faults', () => {
  it('adds (one or many), lists, removes and clears rules', async () => {
    const post = (body: unknown) =>
      fetch(`${srv.url}/__sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const one = await post({ id: 'boom', match: { endpoint: 'create_event' }, status: 500, times: 1 });
    expect(one.status).toBe(201);
    const many = await post([{ status: 429, times: 1 }, { latencyMs: 10 }]);
    expect(((await many.json()) as { faults: unknown[] }).faults).toHaveLength(2);
    const listed = (await (await fetch(`${srv.url}/__sim/faults`)).json()) as { faults: { id: string }[] };
    expect(listed.faults.map((f) => f.id)[0]).toBe('boom');

    expect((await call('/api/events', { body: eventBody() })).status).toBe(500);
    expect((await call('/api/events', { body: eventBody() })).status).toBe(429);

    expect((await post({ status: 'not-a-number' })).status).toBe(400);
    expect((await post({ match: { endpoint: 'no_such_endpoint' } })).status).toBe(400);

    const removed = await fetch(`${srv.url}/__sim/faults/${srv.sim.faults.list()[0]!.id}`, { method: 'DELETE' });
    expect(removed.status).toBe(200);
    await post({ status: 500 });
    const cleared = await fetch(`${srv.url}/__sim/faults`, { method: 'DELETE' });
    expect(await cleared.json()).toEqual({ cleared: 1 });
    expect((await call('/api/events', { body: eventBody() })).status).toBe(202);
  });
});
