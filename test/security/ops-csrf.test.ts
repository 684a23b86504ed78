/**
 * Issue 11, defect 5: cross-site request forgery on /ops. A browser that logged in to the
 * dashboard with HTTP Basic sends those credentials with any request to the relay, including a
 * form another site posts. So writes under /ops — the operations API and Bull Board's under
 * /ops/queues — are accepted with Bearer, and with Basic only from a same-origin page
 * (`Sec-Fetch-Site: same-origin` or an `Origin` equal to the relay's own), and, for the operations
 * API, only as JSON. Refusals are JSON errors naming the reason.
 *
 * Real Redis (own prefix), the relay over HTTP on loopback; what a forged request would have
 * changed (a lane's pause, a queue's pause, the audit log) is read back from the relay and Redis.
 */
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';
import { legacyRef } from '../../src/queue-catalog.ts';

const ADMIN = 'ops-csrf-admin-token';
const basicAuth = `Basic ${Buffer.from(`oncall:${ADMIN}`).toString('base64')}`;
const EVIL = 'http://evil.example';

let h: Harness;
let own: string;
beforeAll(async () => {
  // RELAY_DASHBOARD_PII=true: a writable dashboard, so that Bull Board's writes reach it.
  h = await startHarness({ name: 'opscsrf', workers: false, env: { RELAY_ADMIN_TOKEN: ADMIN, RELAY_DASHBOARD_PII: 'true' } });
  own = new URL(h.service.url!).origin;
  // The API's Redis connection may still be connecting (it queues nothing offline).
  await waitUntil('the API to be ready', async () => (await fetch(`${h.service.url}/readyz`)).status === 200);
});
afterAll(async () => {
  await h?.close();
});

async function send(path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const res = await fetch(`${h.service.url}${path}`, { method: init.method ?? 'POST', headers: init.headers, body: init.body });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* keep the text for the assertion message */
  }
  return { status: res.status, body };
}

const lanePaused = async () => {
  const status = (await send('/ops/status', { method: 'GET', headers: { authorization: `Bearer ${ADMIN}` } })).body;
  return status.lanes.find((l: any) => l.lane === 'default').paused !== null;
};
const auditActions = async () =>
  (await send('/ops/audit', { method: 'GET', headers: { authorization: `Bearer ${ADMIN}` } })).body.entries.map((e: any) => e.action) as string[];
const resume = () => send('/ops/lanes/default/resume', { headers: { authorization: `Bearer ${ADMIN}` } });

describe('writes with Basic credentials from another site are refused', () => {
  // What a page on another site can make a logged-in browser send without asking first.
  const forged: [string, Record<string, string>][] = [
    ['a cross-site form', { 'sec-fetch-site': 'cross-site', origin: EVIL, 'content-type': 'application/x-www-form-urlencoded' }],
    ['a same-site form (another subdomain)', { 'sec-fetch-site': 'same-site', origin: 'http://other.relay.example', 'content-type': 'text/plain' }],
    ['an older browser: Origin only', { origin: EVIL, 'content-type': 'text/plain' }],
    ['an Origin of "null" (sandboxed frame)', { origin: 'null', 'content-type': 'application/json' }],
  ];
  for (const [name, headers] of forged) {
    it(`lane pause: ${name} → 403 cross_origin, the lane keeps running`, async () => {
      const res = await send('/ops/lanes/default/pause', { headers: { authorization: basicAuth, ...headers }, body: '{}' });
      expect(res.status, JSON.stringify(res.body)).toBe(403);
      expect(res.body).toMatchObject({ error: 'cross_origin' });
      expect(await lanePaused()).toBe(false);
    });
  }

  it('lane pause without Origin or Sec-Fetch-Site → 403 origin_missing', async () => {
    const res = await send('/ops/lanes/default/pause', { headers: { authorization: basicAuth } });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: 'origin_missing' });
    expect(await lanePaused()).toBe(false);
  });

  it('dead-letter replay from a cross-site form → 403, nothing replayed', async () => {
    const res = await send('/ops/dead-letters/replay', {
      headers: { authorization: basicAuth, 'sec-fetch-site': 'cross-site', origin: EVIL, 'content-type': 'text/plain' },
      body: JSON.stringify({ all: true }),
    });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: 'cross_origin' });
    expect(await auditActions()).not.toContain('replay');
  });

  it('a Klaviyo webhook create or delete from a cross-site form → 403, nothing reaches Klaviyo', async () => {
    const forgedHeaders = { authorization: basicAuth, 'sec-fetch-site': 'cross-site', origin: EVIL, 'content-type': 'text/plain' };
    const create = await send('/ops/webhooks', {
      headers: forgedHeaders,
      body: JSON.stringify({ url: 'https://evil.example/webhooks/klaviyo', topics: ['event:klaviyo.opened_email'] }),
    });
    expect(create.status).toBe(403);
    expect(create.body).toMatchObject({ error: 'cross_origin' });
    const del = await send('/ops/webhooks/01M1PAC5N9PMXJ7672AC8B75VN', { method: 'DELETE', headers: forgedHeaders, body: '{}' });
    expect(del.status).toBe(403);
    expect(h.sim.requests({ endpoint: 'create_webhook' })).toEqual([]);
    expect(h.sim.requests({ endpoint: 'delete_webhook' })).toEqual([]);
    expect(await auditActions()).not.toContain('webhook.create');
  });

  it("Bull Board's writes under /ops/queues too (a queue pause)", async () => {
    const queue = h.service.queues.get(legacyRef('events', 'default')) as Queue;
    const res = await send('/ops/queues/api/queues/events.default/pause', {
      method: 'PUT',
      headers: { authorization: basicAuth, 'sec-fetch-site': 'cross-site', origin: EVIL },
    });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: 'cross_origin' });
    expect(await queue.isPaused()).toBe(false);
  });

  it('reads with Basic still work from anywhere (the browser shows the dashboard)', async () => {
    const res = await send('/ops/status', { method: 'GET', headers: { authorization: basicAuth } });
    expect(res.status).toBe(200);
  });
});

describe('writes with Basic credentials from our own pages are accepted, as JSON', () => {
  it('a lane pause and resume with Sec-Fetch-Site: same-origin and {}', async () => {
    const headers = { authorization: basicAuth, 'sec-fetch-site': 'same-origin', origin: own, 'content-type': 'application/json' };
    const paused = await send('/ops/lanes/default/pause', { headers, body: '{}' });
    expect(paused).toEqual({ status: 200, body: { lane: 'default', paused: true } });
    expect(await lanePaused()).toBe(true);
    expect((await auditActions())[0]).toBe('lane.pause');
    expect((await send('/ops/lanes/default/resume', { headers, body: '{}' })).status).toBe(200);
    expect(await lanePaused()).toBe(false);
  });

  it('a lane pause from an older browser whose Origin is ours (also behind a TLS proxy)', async () => {
    const direct = await send('/ops/lanes/default/pause', {
      headers: { authorization: basicAuth, origin: own, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(direct.status).toBe(200);
    await resume();
    const host = new URL(own).host;
    const proxied = await send('/ops/lanes/default/pause', {
      headers: {
        authorization: basicAuth,
        origin: 'https://relay.example.com',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'relay.example.com',
        host,
        'content-type': 'application/json',
      },
      body: '{}',
    });
    expect(proxied.status).toBe(200);
    await resume();
  });

  it('not as JSON → 415 json_required; no body → 400; parameters → 400 naming them', async () => {
    const same = { authorization: basicAuth, 'sec-fetch-site': 'same-origin' };
    const notJson = await send('/ops/lanes/default/pause', { headers: { ...same, 'content-type': 'text/plain' }, body: '{}' });
    expect(notJson.status).toBe(415);
    expect(notJson.body).toMatchObject({ error: 'json_required' });
    const noType = await send('/ops/lanes/default/pause', { headers: same });
    expect(noType.status).toBe(415);
    expect(noType.body).toMatchObject({ error: 'json_required' });
    const noBody = await send('/ops/lanes/default/pause', { headers: { ...same, 'content-type': 'application/json' } });
    expect(noBody.status).toBe(400);
    expect(noBody.body).toMatchObject({ error: 'invalid_json', issues: [{ field: '(body)' }] });
    const extra = await send('/ops/lanes/default/pause', { headers: { ...same, 'content-type': 'application/json' }, body: '{"lane":"other"}' });
    expect(extra.status).toBe(400);
    expect(extra.body).toMatchObject({ error: 'validation_failed', issues: [{ field: 'lane', message: 'is not a known field' }] });
    const replay = await send('/ops/dead-letters/replay', { headers: { ...same, 'content-type': 'application/x-www-form-urlencoded' }, body: 'all=true' });
    expect(replay.status).toBe(415);
    expect(await lanePaused()).toBe(false);
  });

  it('a Klaviyo webhook create from our own page: JSON only, then it is made (and audited with the login name)', async () => {
    const same = { authorization: basicAuth, 'sec-fetch-site': 'same-origin', origin: own };
    const body = JSON.stringify({ url: `${own}/webhooks/klaviyo`, topics: ['event:klaviyo.opened_email'] });
    const notJson = await send('/ops/webhooks', { headers: { ...same, 'content-type': 'text/plain' }, body });
    expect(notJson.status).toBe(415);
    const created = await send('/ops/webhooks', { headers: { ...same, 'content-type': 'application/json' }, body });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await auditActions())[0]).toBe('webhook.create');
    const deleted = await send(`/ops/webhooks/${created.body.webhook.id}`, {
      method: 'DELETE',
      headers: { ...same, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(deleted.body).toEqual({ deleted: created.body.webhook.id, atKlaviyo: true });
  });

  it("Bull Board's own writes (same-origin) work", async () => {
    const queue = h.service.queues.get(legacyRef('events', 'default')) as Queue;
    const headers = { authorization: basicAuth, 'sec-fetch-site': 'same-origin', origin: own };
    expect((await send('/ops/queues/api/queues/events.default/pause', { method: 'PUT', headers })).status).toBe(200);
    expect(await queue.isPaused()).toBe(true);
    expect((await send('/ops/queues/api/queues/events.default/resume', { method: 'PUT', headers })).status).toBe(200);
    expect(await queue.isPaused()).toBe(false);
  });
});

describe('writes with a Bearer token (scripts, the CLI)', () => {
  const bearer = { authorization: `Bearer ${ADMIN}` };
  it('a lane pause and resume with no body, or with {}', async () => {
    expect((await send('/ops/lanes/default/pause', { headers: bearer })).body).toEqual({ lane: 'default', paused: true });
    expect((await send('/ops/lanes/default/resume', { headers: { ...bearer, 'content-type': 'application/json' }, body: '{}' })).body).toEqual({
      lane: 'default',
      resumed: true,
    });
    expect(await lanePaused()).toBe(false);
  });

  it('a replay must still be JSON: a text body is refused, not parsed', async () => {
    const res = await send('/ops/dead-letters/replay', {
      headers: { ...bearer, 'content-type': 'text/plain' },
      body: JSON.stringify({ all: true, dryRun: true }),
    });
    expect(res.status).toBe(415);
    expect(res.body).toMatchObject({ error: 'json_required' });
    const ok = await send('/ops/dead-letters/replay', {
      headers: { ...bearer, 'content-type': 'application/json' },
      body: JSON.stringify({ all: true, dryRun: true }),
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ dryRun: true, jobs: 0 });
  });

  it("Bull Board's writes from anywhere", async () => {
    const queue = h.service.queues.get(legacyRef('events', 'default')) as Queue;
    expect((await send('/ops/queues/api/queues/events.default/pause', { method: 'PUT', headers: { ...bearer, origin: EVIL } })).status).toBe(200);
    expect(await queue.isPaused()).toBe(true);
    expect((await send('/ops/queues/api/queues/events.default/resume', { method: 'PUT', headers: bearer })).status).toBe(200);
  });
});
