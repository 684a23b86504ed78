/**
 * Every answer carries X-Request-Id: the caller's when it is well-formed, else a fresh UUID — on
 * accepted work, refusals, unknown routes and health checks alike, once. Over a real socket the
 * header goes on Node's own response (src/http/middleware/observe.ts); through `app.request()`
 * it goes through Hono's headers: both are checked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELAY_KEY, startHarness, type Harness } from '../support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ name: 'reqid', workers: false });
});
afterAll(async () => {
  await h?.close();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const event = () => JSON.stringify({ id: `rid-${Math.random().toString(36).slice(2)}`, event: 'Viewed', profile: { email: 'rid@example.com' } });

type Ask = { path: string; method?: string; headers?: Record<string, string>; body?: string };
const cases: [string, Ask, number][] = [
  ['accepted work', { path: '/v1/events', headers: { authorization: `Bearer ${RELAY_KEY}` }, body: '' }, 202],
  ['a bad key', { path: '/v1/events', headers: { authorization: 'Bearer nope' }, body: '' }, 401],
  ['invalid JSON', { path: '/v1/events', headers: { authorization: `Bearer ${RELAY_KEY}` }, body: '{' }, 400],
  ['an unknown route', { path: '/nowhere', method: 'GET' }, 404],
  ['a health check', { path: '/healthz', method: 'GET' }, 200],
];

function init(ask: Ask, id?: string): RequestInit {
  const method = ask.method ?? 'POST';
  return {
    method,
    headers: { 'content-type': 'application/json', ...ask.headers, ...(id === undefined ? {} : { 'x-request-id': id }) },
    body: method === 'POST' ? ask.body || event() : undefined,
  };
}

describe.each([
  ['over HTTP', (ask: Ask, id?: string) => fetch(`${h.service.url}${ask.path}`, init(ask, id))],
  ['through app.request()', (ask: Ask, id?: string) => Promise.resolve(h.service.app!.request(ask.path, init(ask, id)))],
])('X-Request-Id %s', (_how, send) => {
  it.each(cases)('on %s: the caller’s id, once', async (_what, ask, status) => {
    const res = await send(ask, 'abc-123.x:y');
    expect(res.status).toBe(status);
    expect(res.headers.get('x-request-id')).toBe('abc-123.x:y');
    await res.arrayBuffer();
  });

  it.each(cases)('on %s: a UUID when none is sent', async (_what, ask, status) => {
    const res = await send(ask);
    expect(res.status).toBe(status);
    expect(res.headers.get('x-request-id')).toMatch(UUID);
    await res.arrayBuffer();
  });

  it('a malformed id is replaced, not echoed', async () => {
    for (const bad of ['has space', 'x'.repeat(129), 'quote"d', 'ümlaut']) {
      const res = await send(cases[0]![1], bad);
      expect(res.status).toBe(202);
      expect(res.headers.get('x-request-id')).toMatch(UUID);
      await res.arrayBuffer();
    }
  });
});
