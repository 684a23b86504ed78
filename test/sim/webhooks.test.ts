/**
 * The Webhooks API of the simulator (issue 17): topics, webhooks CRUD with Klaviyo's OpenAPI
 * validation, its 1/s and 15/min limits, the 403 of an account without system-webhook access, and
 * the signed, batched deliveries it sends to each enabled webhook — checked with the relay's own
 * verifier, over real sockets.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../src/sim/index.ts';
import { verifyKlaviyoWebhook } from '../../src/webhooks/klaviyo-signature.ts';
import { fakeClock, gateway, unsubscribeBody, subscribeBody, type CallResult } from './helpers.ts';

const UNSUB = 'event:klaviyo.unsubscribed_from_email_marketing';
const CLICKED = 'event:klaviyo.clicked_email';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A receiver for deliveries: records each request, answers `status` (200 unless changed). */
class Receiver {
  readonly got: Received[] = [];
  status = 200;
  private server!: Server;
  url = '';
  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        this.got.push({ headers: req.headers, body });
        res.writeHead(this.status, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks/klaviyo`;
    return this;
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

const createBody = (url: string, topics: string[], secret = 'sim-webhook-secret-0001', name = 'relay') => ({
  data: {
    type: 'webhook',
    attributes: { name, endpoint_url: url, secret_key: secret },
    relationships: { 'webhook-topics': { data: topics.map((id) => ({ type: 'webhook-topic', id })) } },
  },
});

function verify(r: Received, secrets: string[]) {
  return verifyKlaviyoWebhook({
    rawBody: r.body,
    signature: r.headers['klaviyo-signature'] as string,
    timestamp: r.headers['klaviyo-timestamp'] as string,
    webhookId: r.headers['klaviyo-webhook-id'] as string,
    secrets,
    toleranceMs: 300_000,
  });
}

describe('the Webhooks API', () => {
  let srv: RunningSimulator;
  let receiver: Receiver;
  beforeAll(async () => {
    // Limits off here: the limits have their own tests below, with a fake clock.
    srv = await startSimulator({ port: 0, enforceLimits: false, noWebhookAccess: ['no-kdp'] });
    receiver = await new Receiver().start();
  });
  afterAll(async () => {
    await srv.close();
    await receiver.close();
  });
  beforeEach(() => srv.sim.reset());

  it('lists the topics; creates, lists, gets, updates and deletes a webhook', async () => {
    const call = gateway(srv.url, { connection: 'acct' });
    const topics = await call('/api/webhook-topics');
    expect(topics.status).toBe(200);
    expect(topics.json.data).toContainEqual({
      type: 'webhook-topic',
      id: UNSUB,
      attributes: [],
      links: { self: `https://a.klaviyo.com/api/webhook-topics/${UNSUB}/` },
    });

    const created = await call('/api/webhooks', { body: createBody(`${receiver.url}?token=x`, [UNSUB, CLICKED]) });
    expect(created.status).toBe(201);
    const id = created.json.data.id as string;
    expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    // The URL is answered truncated, the secret never.
    expect(created.json.data.attributes).toMatchObject({ name: 'relay', endpoint_url: `${new URL(receiver.url).origin}/*****`, enabled: true });
    expect(JSON.stringify(created.json)).not.toContain('sim-webhook-secret-0001');
    expect(created.json.data.relationships['webhook-topics'].data).toEqual([
      { type: 'webhook-topic', id: UNSUB },
      { type: 'webhook-topic', id: CLICKED },
    ]);

    const list = await call('/api/webhooks?include=webhook-topics');
    expect(list.status).toBe(200);
    expect(list.json.data.map((w: any) => w.id)).toEqual([id]);
    expect(list.json.included.map((t: any) => t.id).sort()).toEqual([CLICKED, UNSUB]);
    expect((await call(`/api/webhooks/${id}`)).json.data.id).toBe(id);

    const patched = await call(`/api/webhooks/${id}`, {
      method: 'PATCH',
      body: { data: { type: 'webhook', id, attributes: { enabled: false, secret_key: 'sim-webhook-secret-0002' } } },
    });
    expect(patched.status).toBe(200);
    expect(patched.json.data.attributes.enabled).toBe(false);
    expect(srv.sim.webhooks('acct')[0]!.secrets.map((s) => s.key)).toEqual(['sim-webhook-secret-0001', 'sim-webhook-secret-0002']);
    // The secret is masked in the recorded request too.
    const recorded = srv.sim.requests({ endpoint: 'update_webhook' })[0]!;
    expect(JSON.stringify(recorded.body)).not.toContain('sim-webhook-secret-0002');

    expect((await call(`/api/webhooks/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await call(`/api/webhooks/${id}`)).status).toBe(404);
    expect((await call('/api/webhooks')).json.data).toEqual([]);
  });

  it('validates bodies against Klaviyo’s OpenAPI schemas, then its own rules', async () => {
    const call = gateway(srv.url, { connection: 'acct' });
    const pointers = (r: CallResult) => r.json.errors.map((e: any) => e.source.pointer);
    const noSecret = createBody(receiver.url, [UNSUB]);
    delete (noSecret.data.attributes as Partial<typeof noSecret.data.attributes>).secret_key;
    const r1 = await call('/api/webhooks', { body: noSecret });
    expect(r1.status).toBe(400);
    expect(pointers(r1)).toEqual(['/data/attributes/secret_key']);
    const r2 = await call('/api/webhooks', { body: { data: { type: 'webhooks', attributes: {} } } });
    expect(r2.status).toBe(400);
    expect(pointers(r2)).toContain('/data/type');

    const http = await call('/api/webhooks', { body: createBody('http://relay.example.com/webhooks/klaviyo', [UNSUB]) });
    expect(http.status).toBe(400);
    expect(http.json.errors[0]).toMatchObject({ detail: 'endpoint_url must be https.', source: { pointer: '/data/attributes/endpoint_url' } });
    const topic = await call('/api/webhooks', { body: createBody(receiver.url, [UNSUB, 'event:klaviyo.sent_email']) });
    expect(topic.status).toBe(400);
    expect(pointers(topic)).toEqual(['/data/relationships/webhook-topics/data/1/id']);

    const ids: string[] = [];
    for (let i = 0; i < 10; i++)
      ids.push((await call('/api/webhooks', { body: createBody('https://relay.example.com/k', [UNSUB], `s-${i}-0123456789abcdef`) })).json.data.id);
    const eleventh = await call('/api/webhooks', { body: createBody('https://relay.example.com/k', [UNSUB]) });
    expect(eleventh.status).toBe(400);
    expect(eleventh.json.errors[0].detail).toMatch(/at most 10 webhooks/);

    const mismatch = await call(`/api/webhooks/${ids[0]}`, { method: 'PATCH', body: { data: { type: 'webhook', id: ids[1], attributes: {} } } });
    expect(mismatch.status).toBe(409);
    // DELETE has no body to validate.
    expect((await call(`/api/webhooks/${ids[0]}`, { method: 'DELETE' })).status).toBe(204);
  });

  it('an account without system-webhook access gets 403 permission_denied on every operation', async () => {
    const denied = gateway(srv.url, { connection: 'no-kdp' });
    const answers = await Promise.all([
      denied('/api/webhook-topics'),
      denied('/api/webhooks'),
      denied('/api/webhooks', { body: createBody(receiver.url, [UNSUB]) }),
      denied('/api/webhooks/01M1PAC5N9PMXJ7672AC8B75VN', { method: 'DELETE' }),
    ]);
    for (const r of answers) {
      expect(r.status).toBe(403);
      expect(r.json.errors[0]).toMatchObject({
        status: 403,
        code: 'permission_denied',
        title: 'You do not have permission to perform this action.',
        detail: 'You must have Advanced KDP enabled to use this endpoint.',
      });
    }
    // Switched at run time, over the control API.
    const ok = gateway(srv.url, { connection: 'acct' });
    expect((await ok('/api/webhooks')).status).toBe(200);
    const off = await fetch(`${srv.url}/__sim/accounts/acct/webhook-access`, { method: 'POST', body: JSON.stringify({ enabled: false }) });
    expect(off.status).toBe(200);
    expect((await ok('/api/webhooks')).status).toBe(403);
    srv.sim.setWebhookAccess('acct', true);
    expect((await ok('/api/webhooks')).status).toBe(200);
  });

  it('sends signed, batched deliveries of subscribed topics to enabled webhooks', async () => {
    receiver.got.length = 0;
    const call = gateway(srv.url, { connection: 'acct' });
    const id = (await call('/api/webhooks', { body: createBody(receiver.url, [UNSUB]) })).json.data.id as string;
    const other = (await call('/api/webhooks', { body: createBody(receiver.url, [CLICKED], 'sim-webhook-secret-other') })).json.data.id as string;
    // Two global unsubscribes in one request, one subscribe: one delivery of two items, to the webhook of that topic only.
    expect((await call('/api/profile-subscription-bulk-create-jobs', { body: subscribeBody([{ email: 'c@example.com' }]) })).status).toBe(202);
    expect(
      (await call('/api/profile-subscription-bulk-delete-jobs', { body: unsubscribeBody([{ email: 'a@example.com' }, { email: 'b@example.com' }]) })).status,
    ).toBe(202);
    await srv.sim.waitFor(() => receiver.got.length >= 1, 5000);
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.got).toHaveLength(1);
    const d = receiver.got[0]!;
    expect(d.headers['content-type']).toBe('application/json');
    expect(d.headers['klaviyo-webhook-id']).toBe(id);
    expect(d.headers['klaviyo-timestamp']).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    const v = verify(d, ['sim-webhook-secret-0001']);
    expect(v.ok).toBe(true);
    expect(verify(d, ['sim-webhook-secret-other']).ok).toBe(false);
    const body = JSON.parse(d.body);
    expect(body.meta).toMatchObject({ klaviyo_webhook_id: id, klaviyo_account_id: expect.stringMatching(/^[A-Za-z0-9]{6}$/) });
    expect(body.data).toHaveLength(2);
    const profiles = [srv.sim.profileByEmail('acct', 'a@example.com')!.id, srv.sim.profileByEmail('acct', 'b@example.com')!.id];
    for (const [i, item] of body.data.entries()) {
      expect(item).toMatchObject({ topic: UNSUB, external_id: expect.any(String) });
      expect(item.payload.data).toMatchObject({
        type: 'event',
        id: item.external_id,
        relationships: { profile: { data: { type: 'profile', id: profiles[i] } } },
      });
    }
    expect(srv.sim.webhookDeliveries().filter((x) => x.webhookId === other)).toEqual([]);

    // Disabled: nothing goes out.
    await call(`/api/webhooks/${id}`, { method: 'PATCH', body: { data: { type: 'webhook', id, attributes: { enabled: false } } } });
    await call('/api/profile-subscription-bulk-delete-jobs', { body: unsubscribeBody([{ email: 'd@example.com' }]) });
    await new Promise((r) => setTimeout(r, 400));
    expect(receiver.got).toHaveLength(1);
  });

  it('retries a delivery not answered 2xx; after a secret PATCH the old secret signs for the switch delay', async () => {
    const s = await startSimulator({ port: 0, enforceLimits: false, webhookSecretSwitchMs: 600, webhookBatchMs: 10, webhookRetryDelayMs: 100 });
    const r = await new Receiver().start();
    try {
      const call = gateway(s.url, { connection: 'acct' });
      const id = (await call('/api/webhooks', { body: createBody(r.url, [UNSUB], 'old-secret-0123456789') })).json.data.id as string;
      r.status = 503;
      await call('/api/profile-subscription-bulk-delete-jobs', { body: unsubscribeBody([{ email: 'a@example.com' }]) });
      // The receiver sees a request before the simulator records its answer: wait for the records.
      await s.sim.waitFor(() => r.got.length === 3 && s.sim.webhookDeliveries().filter((x) => x.status !== null).length === 3, 5000);
      expect(s.sim.webhookDeliveries().map((x) => [x.attempt, x.status])).toEqual([
        [0, 503],
        [1, 503],
        [2, 503],
      ]);
      // The same items each time, re-signed.
      expect(new Set(r.got.map((g) => JSON.parse(g.body).data[0].external_id)).size).toBe(1);
      r.status = 200;

      await call(`/api/webhooks/${id}`, { method: 'PATCH', body: { data: { type: 'webhook', id, attributes: { secret_key: 'new-secret-0123456789' } } } });
      const during = await s.sim.deliver(id, [{ topic: UNSUB }], { email: 'b@example.com' });
      expect(during?.status).toBe(200);
      expect(verify(r.got.at(-1)!, ['old-secret-0123456789']).ok).toBe(true);
      await new Promise((res) => setTimeout(res, 700));
      // Over the control API this time.
      const after = await fetch(`${s.url}/__sim/webhooks/${id}/deliver`, { method: 'POST', body: JSON.stringify({ email: 'c@example.com' }) });
      expect(((await after.json()) as any).attempt.status).toBe(200);
      expect(verify(r.got.at(-1)!, ['new-secret-0123456789']).ok).toBe(true);
      expect(verify(r.got.at(-1)!, ['old-secret-0123456789']).ok).toBe(false);
      const listed = (await (await fetch(`${s.url}/__sim/webhooks`)).json()) as any;
      expect(JSON.stringify(listed)).not.toContain('secret-0123456789');
      expect(listed.webhooks[0].secrets).toHaveLength(2);
    } finally {
      await s.close();
      await r.close();
    }
  });
});

describe('the Webhooks API limits: 1/s and 15/min per account × endpoint', () => {
  let s: RunningSimulator | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });
  const start = async (opts: SimulatorOptions) => {
    s = await startSimulator({ port: 0, ...opts });
    return s;
  };

  it('a second call in the same second is 429; sixteen in a minute are refused at the 16th', async () => {
    const clock = fakeClock(100);
    const sim = await start({ now: clock.now });
    const call = gateway(sim.url, { connection: 'acct' });
    const first = await call('/api/webhooks');
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-limit')).toBe('1, 1;w=1, 15;w=60');
    const second = await call('/api/webhooks');
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('1');
    // Another endpoint has its own windows.
    expect((await call('/api/webhook-topics')).status).toBe(200);

    for (let i = 1; i < 15; i++) {
      clock.advance(1000);
      expect((await call('/api/webhooks')).status, `call ${i + 1}`).toBe(200);
    }
    clock.advance(1000);
    const sixteenth = await call('/api/webhooks');
    expect(sixteenth.status).toBe(429);
    expect(Number(sixteenth.headers.get('retry-after'))).toBeGreaterThan(1);
    clock.advance(60_000);
    expect((await call('/api/webhooks')).status).toBe(200);
    expect(sim.sim.stats().peaks.klaviyo['acct']?.get_webhooks).toMatchObject({ perSecond: 1, perMinute: 15 });
  });
});
