import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../src/sim/index.ts';
import { direct, eventBody, gateway, JSON_API, raw, REVISION } from './helpers.ts';

let srv: RunningSimulator;

beforeAll(async () => {
  srv = await startSimulator({ port: 0, gatewayKeys: ['good-key'], apiKeys: ['pk_good'], connections: ['default', 'conn-a'] });
});
afterAll(() => srv.close());
beforeEach(() => srv.sim.reset());

describe('gateway mode auth', () => {
  it('accepts a known Maton key and records the event on the chosen connection', async () => {
    const res = await gateway(srv.url, { key: 'good-key', connection: 'conn-a' })('/api/events', { body: eventBody() });
    expect(res.status).toBe(202);
    expect(res.text).toBe('');
    expect(srv.sim.account('conn-a')?.eventCount).toBe(1);
    expect(srv.sim.account('default')).toBeUndefined();
  });

  it('uses the "default" connection when Maton-Connection is absent', async () => {
    const res = await gateway(srv.url, { key: 'good-key' })('/api/events', { body: eventBody() });
    expect(res.status).toBe(202);
    expect(srv.sim.account('default')?.eventCount).toBe(1);
  });

  it('refuses a wrong key with a gateway-style 401 (not JSON:API) and changes nothing', async () => {
    const res = await gateway(srv.url, { key: 'bad-key', connection: 'conn-a' })('/api/events', { body: eventBody() });
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ error: 'Invalid API key' });
    expect(res.json.errors).toBeUndefined();
    expect(srv.sim.account('conn-a')).toBeUndefined();
  });

  it('refuses a missing Authorization header with 401', async () => {
    const res = await raw(`${srv.url}/klaviyo/api/events`, {
      method: 'POST',
      body: eventBody(),
      headers: { revision: REVISION, 'content-type': JSON_API },
    });
    expect(res.status).toBe(401);
    expect(res.json).toEqual({ error: 'Invalid API key' });
  });

  it('refuses a Klaviyo private key sent to the gateway', async () => {
    const res = await raw(`${srv.url}/klaviyo/api/events`, {
      method: 'POST',
      body: eventBody(),
      headers: { authorization: 'Klaviyo-API-Key pk_good', revision: REVISION, 'content-type': JSON_API },
    });
    expect(res.status).toBe(401);
  });

  it('answers an unknown connection with the gateway 400', async () => {
    const res = await gateway(srv.url, { key: 'good-key', connection: 'nope' })('/api/events', { body: eventBody() });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: 'No Klaviyo connection found' });
    expect(srv.sim.account('nope')).toBeUndefined();
  });
});

describe('direct mode auth', () => {
  it('accepts a known private key; the account is the key', async () => {
    const res = await direct(srv.url, 'pk_good')('/api/events', { body: eventBody() });
    expect(res.status).toBe(202);
    expect(srv.sim.account('pk_good')?.eventCount).toBe(1);
  });

  it('refuses an unknown key with a JSON:API 401 not_authenticated', async () => {
    const res = await direct(srv.url, 'pk_other')('/api/events', { body: eventBody() });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toContain(JSON_API);
    expect(res.json.errors[0]).toMatchObject({ status: 401, code: 'not_authenticated' });
    expect(typeof res.json.errors[0].id).toBe('string');
  });

  it('refuses a Bearer token in direct mode', async () => {
    const res = await raw(`${srv.url}/api/events`, {
      method: 'POST',
      body: eventBody(),
      headers: { authorization: 'Bearer good-key', revision: REVISION, 'content-type': JSON_API },
    });
    expect(res.status).toBe(401);
    expect(res.json.errors[0].code).toBe('not_authenticated');
  });
});

describe('default key rules', () => {
  it('without key lists: any bearer token, any pk_ key, any connection (created on first use)', async () => {
    const open = await startSimulator({ port: 0 });
    try {
      expect((await gateway(open.url, { key: 'whatever', connection: 'c-new' })('/api/events', { body: eventBody() })).status).toBe(202);
      expect(open.sim.connections.get('c-new')?.status).toBe('ACTIVE');
      expect((await direct(open.url, 'pk_anything')('/api/events', { body: eventBody() })).status).toBe(202);
      expect((await direct(open.url, 'sk_not_private')('/api/events', { body: eventBody() })).status).toBe(401);
    } finally {
      await open.close();
    }
  });
});

describe('revision and content type', () => {
  const withHeaders = (headers: Record<string, string>) =>
    raw(`${srv.url}/klaviyo/api/events`, {
      method: 'POST',
      body: eventBody(),
      headers: { authorization: 'Bearer good-key', 'content-type': JSON_API, revision: REVISION, ...headers },
    });

  it('requires the revision header, naming it in the error', async () => {
    const res = await raw(`${srv.url}/klaviyo/api/events`, {
      method: 'POST',
      body: eventBody(),
      headers: { authorization: 'Bearer good-key', 'content-type': JSON_API },
    });
    expect(res.status).toBe(400);
    expect(res.json.errors[0].detail).toContain('revision');
    expect(res.json.errors[0].source).toEqual({ header: 'revision' });
    expect(srv.sim.account('default')).toBeUndefined();
  });

  it('rejects a malformed revision and accepts a .pre suffix', async () => {
    expect((await withHeaders({ revision: '15-07-2026' })).status).toBe(400);
    expect((await withHeaders({ revision: '2026-07-15.pre' })).status).toBe(202);
  });

  it('answers 415 for a non-JSON content type and accepts application/json', async () => {
    const bad = await withHeaders({ 'content-type': 'text/plain' });
    expect(bad.status).toBe(415);
    expect(bad.json.errors[0].status).toBe(415);
    expect((await withHeaders({ 'content-type': 'application/json; charset=utf-8' })).status).toBe(202);
    expect(srv.sim.account('default')?.eventCount).toBe(1);
  });

  it('answers malformed JSON with 400', async () => {
    const res = await gateway(srv.url, { key: 'good-key' })('/api/events', { body: '{"data":' });
    expect(res.status).toBe(400);
    expect(res.json.errors[0].code).toBe('parse_error');
  });

  it('answers an unknown API path with a JSON:API 404 and a wrong method with 405', async () => {
    const call = gateway(srv.url, { key: 'good-key' });
    const notFound = await call('/api/nothing-here');
    expect(notFound.status).toBe(404);
    expect(notFound.json.errors[0].code).toBe('not_found');
    const wrongMethod = await call('/api/events', { method: 'PUT', body: eventBody() });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
  });

  it('puts Klaviyo RateLimit-* headers on non-429 responses', async () => {
    const res = await gateway(srv.url, { key: 'good-key' })('/api/events', { body: eventBody() });
    expect(res.headers.get('ratelimit-limit')).toBe('350, 350;w=1, 3500;w=60');
    expect(Number(res.headers.get('ratelimit-remaining'))).toBe(349);
    expect(Number(res.headers.get('ratelimit-reset'))).toBeGreaterThanOrEqual(1);
  });

  it('rejects a body over 5 MB with 413', async () => {
    const big = eventBody({ properties: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`p${i}`, 'x'.repeat(90_000)])) });
    const res = await gateway(srv.url, { key: 'good-key' })('/api/events', { body: big });
    expect(res.status).toBe(413);
    expect(srv.sim.account('default')).toBeUndefined();
  });
});
