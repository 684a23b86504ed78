import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSimulator, startSimulator, type RunningSimulator } from '../../src/sim/index.ts';
import { direct, eventBody, gateway, REVISION, JSON_API } from './helpers.ts';

let srv: RunningSimulator;

beforeAll(async () => {
  srv = await startSimulator({ port: 0 });
});
afterAll(() => srv.close());
beforeEach(() => srv.sim.reset());

describe('state, requests and reset over HTTP', () => {
  it('GET /__sim/state shows accounts, events and stats; secrets masked', async () => {
    await gateway(srv.url, { key: 'maton-secret-key', connection: 'c1' })('/api/events', { body: eventBody({ uniqueId: 'u1' }) });
    await direct(srv.url, 'pk_very_secret_key')('/api/events', { body: eventBody({ uniqueId: 'u2' }) });
    const state = (await (await fetch(`${srv.url}/__sim/state`)).json()) as Record<string, any>;
    const ids = state['accounts'].map((a: { id: string }) => a.id);
    expect(ids).toContain('c1');
    expect(ids).toContain('pk_v…_key');
    expect(JSON.stringify(state)).not.toContain('pk_very_secret_key');
    expect(JSON.stringify(state)).not.toContain('maton-secret-key');
    const c1 = state['accounts'].find((a: { id: string }) => a.id === 'c1');
    expect(c1.eventCount).toBe(1);
    expect(c1.events[0].uniqueId).toBe('u1');
    expect(c1.profiles[0].email).toBe('ada@example.com');
    expect(state['stats'].requests.byEndpoint.create_event['202']).toBe(2);

    const lean = (await (await fetch(`${srv.url}/__sim/state?events=none`)).json()) as Record<string, any>;
    expect(lean['accounts'][0].events).toEqual([]);
  });

  it('GET /__sim/requests lists requests with masked authorization; programmatic access keeps it', async () => {
    await gateway(srv.url, { key: 'maton-secret-key', connection: 'c1' })('/api/events', { body: eventBody() });
    await gateway(srv.url, { key: 'maton-secret-key', connection: 'c2' })('/api/profiles');
    const dump = (await (await fetch(`${srv.url}/__sim/requests?endpoint=create_event`)).json()) as { requests: Record<string, any>[] };
    expect(dump.requests).toHaveLength(1);
    expect(dump.requests[0]).toMatchObject({
      method: 'POST',
      path: '/klaviyo/api/events',
      mode: 'gateway',
      account: 'c1',
      endpoint: 'create_event',
      status: 202,
    });
    expect(dump.requests[0]!['headers'].authorization).toBe('Bearer mato…-key');
    expect(dump.requests[0]!['body']).toEqual(eventBody());

    const recorded = srv.sim.requests({ account: 'c2' });
    expect(recorded).toHaveLength(1);
    expect(recorded[0]!.headers['authorization']).toBe('Bearer maton-secret-key');
    expect(recorded[0]!.headers['revision']).toBe(REVISION);
  });

  it('POST /__sim/reset forgets state, requests, stats and faults', async () => {
    await gateway(srv.url, { connection: 'c1' })('/api/events', { body: eventBody() });
    srv.sim.faults.add({ status: 500, match: { endpoint: 'get_profiles' } });
    const res = await fetch(`${srv.url}/__sim/reset`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(srv.sim.state.accounts.size).toBe(0);
    expect(srv.sim.requests()).toEqual([]);
    expect(srv.sim.faults.list()).toEqual([]);
    expect(srv.sim.stats().requests.total).toBe(0);
    expect(srv.sim.stats().peaks).toEqual({ klaviyo: {}, gateway: {} });
  });

  it('GET /__sim/stats gives counts and peaks', async () => {
    await gateway(srv.url, { key: 'k', connection: 'c1' })('/api/events', { body: eventBody({ uniqueId: 'a' }) });
    await gateway(srv.url, { key: 'k', connection: 'c1' })('/api/events', { body: eventBody({ uniqueId: 'a' }) });
    const stats = (await (await fetch(`${srv.url}/__sim/stats`)).json()) as Record<string, any>;
    expect(stats['events']['c1']).toEqual({ accepted: 1, duplicates: 1, byMetric: { 'Placed Order': 1 } });
    expect(stats['peaks'].klaviyo.c1.create_event.sentPerMinute).toBe(2);
  });
});

describe('in-process use without a socket', () => {
  it('answers app.request() like the server', async () => {
    const sim = createSimulator();
    const res = await sim.app.request('/api/events', {
      method: 'POST',
      headers: { authorization: 'Klaviyo-API-Key pk_inproc', revision: REVISION, 'content-type': JSON_API },
      body: JSON.stringify(eventBody()),
    });
    expect(res.status).toBe(202);
    expect(sim.account('pk_inproc')?.eventCount).toBe(1);
    sim.dispose();
  });

  it('waitFor rejects when the condition never holds', async () => {
    await expect(srv.sim.waitFor(() => false, 50)).rejects.toThrow(/within 50 ms/);
  });
});
