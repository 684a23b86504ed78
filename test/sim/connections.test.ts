import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../src/sim/index.ts';
import { eventBody, fakeClock, gateway } from './helpers.ts';

let srv: RunningSimulator | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});

function ctl(base: string, key = 'maton-key') {
  return async (path: string, init: { method?: string; body?: unknown } = {}) => {
    const res = await fetch(`${base}${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    });
    return { status: res.status, json: (await res.json()) as Record<string, any> };
  };
}

describe('Maton connection API stand-in', () => {
  it('lists the configured connections in Maton’s shape', async () => {
    srv = await startSimulator({ port: 0, connections: ['conn-1', 'conn-2'] });
    const res = await ctl(srv.url)('/connections?app=klaviyo&status=ACTIVE');
    expect(res.status).toBe(200);
    expect(res.json['connections']).toHaveLength(2);
    expect(res.json['connections'][0]).toEqual({
      connection_id: 'conn-1',
      status: 'ACTIVE',
      creation_time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/),
      last_updated_time: expect.any(String),
      url: expect.stringMatching(/^https:\/\/connect\.maton\.ai\/\?session_token=/),
      app: 'klaviyo',
      method: 'OAUTH2',
      metadata: {},
    });
    expect((await ctl(srv.url)('/connections?status=PENDING')).json['connections']).toEqual([]);
  });

  it('creates a PENDING connection that turns ACTIVE after connectionActivateMs and then works as Maton-Connection', async () => {
    const clock = fakeClock();
    srv = await startSimulator({ port: 0, connections: [], now: clock.now, connectionActivateMs: 5000 });
    const api = ctl(srv.url);
    const created = await api('/connections', { method: 'POST', body: { app: 'klaviyo' } });
    expect(created.status).toBe(200);
    const conn = created.json['connection'];
    expect(conn).toMatchObject({ status: 'PENDING', app: 'klaviyo', url: expect.stringContaining('session_token=') });

    const early = await gateway(srv.url, { key: 'maton-key', connection: conn.connection_id })('/api/events', { body: eventBody() });
    expect(early.status).toBe(400);
    expect(early.json).toEqual({ error: 'No Klaviyo connection found' });

    clock.advance(5000);
    expect((await api(`/connections/${conn.connection_id}`)).json['connection'].status).toBe('ACTIVE');
    const later = await gateway(srv.url, { key: 'maton-key', connection: conn.connection_id })('/api/events', { body: eventBody() });
    expect(later.status).toBe(202);
    expect(srv.sim.account(conn.connection_id)?.eventCount).toBe(1);
  });

  it('activates through the control API and deletes', async () => {
    srv = await startSimulator({ port: 0, connectionActivateMs: 60_000 });
    const api = ctl(srv.url);
    const id = (await api('/connections', { method: 'POST', body: { app: 'klaviyo' } })).json['connection'].connection_id as string;
    const activated = await fetch(`${srv.url}/__sim/connections/${id}/activate`, { method: 'POST' });
    expect(activated.status).toBe(200);
    expect((await api(`/connections/${id}`)).json['connection'].status).toBe('ACTIVE');

    expect(await api(`/connections/${id}`, { method: 'DELETE' })).toEqual({ status: 200, json: {} });
    expect((await api(`/connections/${id}`)).status).toBe(404);
    // Even without a connections list, a deleted id stays refused by the gateway.
    const res = await gateway(srv.url, { connection: id })('/api/events', { body: eventBody() });
    expect(res.status).toBe(400);
  });

  it('requires the Maton Bearer key', async () => {
    srv = await startSimulator({ port: 0, gatewayKeys: ['right'] });
    expect((await ctl(srv.url, 'wrong')('/connections')).status).toBe(401);
    expect((await ctl(srv.url, 'right')('/connections')).status).toBe(200);
    expect((await ctl(srv.url, 'right')('/connections', { method: 'POST', body: {} })).status).toBe(400);
  });
});

describe('connection API bookkeeping', () => {
  it('records connection API calls without using gateway quota', async () => {
    const clock = fakeClock();
    srv = await startSimulator({ port: 0, now: clock.now, limits: { gatewayPerSecond: 1 } });
    const api = ctl(srv.url);
    for (let i = 0; i < 3; i++) expect((await api('/connections')).status).toBe(200);
    expect((await gateway(srv.url, { key: 'maton-key', connection: 'c' })('/api/events', { body: eventBody() })).status).toBe(202);
    const recorded = srv.sim.requests({ mode: 'connections' });
    expect(recorded.map((r) => [r.method, r.path, r.status])).toEqual([
      ['GET', '/connections', 200],
      ['GET', '/connections', 200],
      ['GET', '/connections', 200],
    ]);
    expect(srv.sim.stats().requests.byEndpoint['connections']).toEqual({ '200': 3 });
  });
});
