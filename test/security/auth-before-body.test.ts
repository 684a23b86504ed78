/**
 * Issue 11, defect 4: request bodies were read (up to RELAY_MAX_BODY_BYTES, 5 MiB by default)
 * before the sender was authenticated, and on the signature path every configured secret HMAC'ed
 * the whole unauthenticated body. Now whatever can be checked without the body — the bearer key,
 * a flow's name and secret header, a signature's headers and timestamp, the source a signed request
 * names — is checked first; a refusal answers at once and closes the connection, so the client's
 * upload is never read. The proof: the answer arrives while the client has sent 64 KiB of a
 * declared 5 MiB, and then the server closes the connection.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { klaviyoSignature } from '../../src/webhooks/klaviyo-signature.ts';
import { standardSignature } from '../../src/webhooks/standard-webhooks.ts';
import { RELAY_KEY, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';
import { connect, head, type RawConnection } from './support/raw-http.ts';

const POS_SECRET = `whsec_${Buffer.from('pos-signing-secret-of-32-bytes!!').toString('base64')}`;
const TILL_SECRET = `whsec_${Buffer.from('till-signing-secret-of-32-bytes!').toString('base64')}`;
const FLOW_SECRET = 'vip-flow-secret-0123456789';
const KLAVIYO_SECRET = 'klaviyo-webhook-secret-0123456789';
const DECLARED = 5 * 1024 * 1024; // RELAY_MAX_BODY_BYTES' default
const SENT = 64 * 1024;

let h: Harness;
beforeAll(async () => {
  const file = parseRelayConfig(
    {
      sources: [
        { name: 'shop', keySha256: createHash('sha256').update('shop-key-0123456789').digest('hex') },
        { name: 'pos', signingSecret: POS_SECRET },
        { name: 'till', signingSecret: TILL_SECRET },
      ],
      klaviyoWebhooks: { secrets: [KLAVIYO_SECRET] },
      flows: { vip: { header: 'X-Relay-Secret', secret: FLOW_SECRET } },
    },
    {},
  );
  h = await startHarness({ name: 'auth-first', workers: false, file });
});
afterAll(async () => {
  await h?.close();
});

const now = () => String(Math.floor(Date.now() / 1000));
const json = (conn: RawConnection) => JSON.parse(conn.received().slice(conn.received().indexOf('\r\n\r\n') + 4));

/** Declares a 5 MiB body, sends 64 KiB of it, and expects `status` at once, then the connection closed. */
async function refusedBeforeTheBody(path: string, headers: Record<string, string>, status: number): Promise<RawConnection> {
  const conn = await connect(h.service.url!);
  try {
    conn.write(head('POST', path, { 'content-type': 'application/json', 'content-length': DECLARED, ...headers }));
    conn.write(Buffer.alloc(SENT, 0x20));
    await waitUntil('the refusal, before the body', () => conn.received().includes('\r\n\r\n') && conn.received().endsWith('}'), { timeoutMs: 3000 });
    expect(conn.status()).toBe(status);
    expect(conn.sent()).toBeLessThanOrEqual(SENT + 1024); // the answer came while 64 KiB of 5 MiB were out
    expect(conn.received()).toMatch(/\r\nconnection: close\r\n/i);
    expect(json(conn)).toMatchObject({ error: expect.any(String), message: expect.any(String) });
    // …and the server hangs up: the rest of the upload is never read.
    await waitUntil('the server to hang up', () => conn.closedAt() !== undefined, { timeoutMs: 2000 });
    return conn;
  } finally {
    conn.destroy();
  }
}

/** Sends `body` in two halves with a pause between: the answer must wait for the second half. */
async function answeredAfterTheBody(path: string, headers: Record<string, string>, body: string): Promise<RawConnection> {
  const conn = await connect(h.service.url!);
  const bytes = Buffer.from(body);
  conn.write(head('POST', path, { 'content-type': 'application/json', 'content-length': bytes.length, ...headers }));
  conn.write(bytes.subarray(0, bytes.length >> 1));
  await new Promise((r) => setTimeout(r, 400));
  expect(conn.status()).toBeUndefined();
  conn.write(bytes.subarray(bytes.length >> 1));
  await waitUntil('the answer, after the whole body', () => conn.status() !== undefined && conn.received().endsWith('}'), { timeoutMs: 3000 });
  conn.destroy();
  return conn;
}

describe('/v1 with a bearer key', () => {
  it('a wrong key gets 401 before the body is read', async () => {
    const conn = await refusedBeforeTheBody('/v1/events', { authorization: 'Bearer not-a-key-of-this-relay' }, 401);
    expect(json(conn)).toMatchObject({ error: 'unauthorized', message: 'The API key is not valid' });
  });

  it('no credentials at all: 401 before the body is read', async () => {
    await refusedBeforeTheBody('/v1/orders', {}, 401);
    await refusedBeforeTheBody('/v1/lists/ListA1/members', { authorization: 'Basic dXNlcjpwYXNz' }, 401);
  });

  it('the right key: the body is read and the request accepted (the control)', async () => {
    const body = JSON.stringify({
      id: `abb-${Date.now()}`,
      event: 'Placed Order',
      profile: { email: 'abb@example.com' },
      properties: { pad: 'x'.repeat(2000) },
    });
    const conn = await answeredAfterTheBody('/v1/events', { authorization: `Bearer ${RELAY_KEY}` }, body);
    expect(conn.status()).toBe(202);
  });
});

describe('the tracking API (/v1/batch, /v1/track…)', () => {
  const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

  it('a wrong Basic write key gets 401 before the body is read', async () => {
    const conn = await refusedBeforeTheBody('/v1/batch', { authorization: basic('not-a-key-of-this-relay') }, 401);
    expect(json(conn)).toMatchObject({ error: 'unauthorized', message: 'The write key is not valid' });
    await refusedBeforeTheBody('/v1/track', { authorization: 'Digest abc' }, 401);
  });

  it('without a header the writeKey is in the body: a body over the 500 KB limit is refused before it is read', async () => {
    const conn = await refusedBeforeTheBody('/v1/batch', {}, 400);
    expect(json(conn)).toMatchObject({ error: 'batch_too_large' });
  });

  it('a body writeKey is read (within the limit), then checked', async () => {
    const batch = (writeKey: string) =>
      JSON.stringify({ writeKey, batch: [{ type: 'track', event: 'Checkout Started', userId: 'abb-user', properties: { pad: 'x'.repeat(2000) } }] });
    expect((await answeredAfterTheBody('/v1/batch', {}, batch(RELAY_KEY))).status()).toBe(200);
    expect((await answeredAfterTheBody('/v1/batch', {}, batch('not-a-key-of-this-relay'))).status()).toBe(401);
    expect((await answeredAfterTheBody('/v1/batch', { authorization: basic(RELAY_KEY) }, batch(''))).status()).toBe(200);
  });
});

describe('/v1 with a Standard Webhooks signature', () => {
  const signed = (secret: string, body: string, over: Record<string, string> = {}) => {
    const id = `msg_${Math.random().toString(36).slice(2)}`;
    const ts = over['webhook-timestamp'] ?? now();
    return { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': standardSignature(secret, id, ts, body), ...over };
  };

  it('missing, malformed or stale headers: 401 before the body is read', async () => {
    const base = signed(POS_SECRET, '');
    for (const [what, headers] of [
      ['no webhook-id', { 'webhook-timestamp': base['webhook-timestamp'], 'webhook-signature': base['webhook-signature'] }],
      ['a stale timestamp', { ...base, 'webhook-timestamp': String(Number(now()) - 3600) }],
      ['a timestamp that is not unix seconds', { ...base, 'webhook-timestamp': new Date().toISOString() }],
      ['no v1 signature in the list', { ...base, 'webhook-signature': 'v1,AAAA v2,xyz' }],
    ] as const) {
      const conn = await refusedBeforeTheBody('/v1/events', headers, 401);
      expect(json(conn).error, what).toBe('unauthorized');
    }
  });

  it('a source named in the URL that does not sign: 401 before the body is read', async () => {
    await refusedBeforeTheBody('/v1/events?source=nobody', signed(POS_SECRET, ''), 401);
    await refusedBeforeTheBody('/v1/events?source=shop', signed(POS_SECRET, ''), 401); // shop has a key, no signing secret
  });

  it('well-formed headers: the HMAC needs the body, so it is read (bounded) and then checked', async () => {
    const body = JSON.stringify({ id: `sig-${Date.now()}`, event: 'Checkout Started', profile: { email: 'sig@example.com' } });
    const wrong = `whsec_${Buffer.from('a-secret-nobody-here-configured!').toString('base64')}`;
    expect((await answeredAfterTheBody('/v1/events', signed(wrong, body), body)).status()).toBe(401);
    expect((await answeredAfterTheBody('/v1/events', signed(TILL_SECRET, body), body)).status()).toBe(202);
  });

  it("?source=<name> tries that source's secrets only", async () => {
    const body = () => JSON.stringify({ id: `src-${Math.random()}`, event: 'Checkout Started', profile: { email: 'src@example.com' } });
    const post = async (path: string, secret: string) => {
      const b = body();
      const res = await fetch(`${h.service.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...signed(secret, b) }, body: b });
      return res.status;
    };
    expect(await post('/v1/events?source=pos', POS_SECRET)).toBe(202);
    expect(await post('/v1/events?source=till', POS_SECRET)).toBe(401); // pos's secret is not tried
    expect(await post('/v1/events', POS_SECRET)).toBe(202); // without a name, every signing source's
  });
});

describe('Klaviyo webhooks', () => {
  it('a flow with the wrong secret gets 401, an unknown flow 404, before the body is read', async () => {
    await refusedBeforeTheBody('/webhooks/klaviyo/flows/vip', { 'x-relay-secret': 'not-the-flow-secret' }, 401);
    await refusedBeforeTheBody('/webhooks/klaviyo/flows/vip', {}, 401);
    await refusedBeforeTheBody('/webhooks/klaviyo/flows/nope', { 'x-relay-secret': FLOW_SECRET }, 404);
  });

  it('a flow with its secret: the body is read (the control)', async () => {
    const conn = await answeredAfterTheBody(
      '/webhooks/klaviyo/flows/vip',
      { 'x-relay-secret': FLOW_SECRET },
      JSON.stringify({ profile: { email: 'flow@example.com' }, pad: 'y'.repeat(1000) }),
    );
    expect(conn.status()).toBe(200);
  });

  it('a system webhook with missing, stale or malformed headers: 401 before the body is read', async () => {
    const ts = new Date().toUTCString();
    const sig = klaviyoSignature(KLAVIYO_SECRET, '', ts);
    for (const headers of [
      { 'klaviyo-timestamp': ts, 'klaviyo-signature': sig } as Record<string, string>,
      { 'klaviyo-webhook-id': 'WH1', 'klaviyo-timestamp': new Date(Date.now() - 3_600_000).toUTCString(), 'klaviyo-signature': sig },
      { 'klaviyo-webhook-id': 'WH1', 'klaviyo-timestamp': ts, 'klaviyo-signature': sig.slice(0, 40) },
    ]) {
      const conn = await refusedBeforeTheBody('/webhooks/klaviyo', headers, 401);
      expect(json(conn)).toMatchObject({ error: 'unauthorized', message: expect.stringMatching(/^Webhook verification failed/) });
    }
  });

  it('a system webhook whose headers pass: the body is read, then the HMAC decides', async () => {
    const body = JSON.stringify({ data: [], meta: { klaviyo_webhook_id: 'WH1', pad: 'z'.repeat(1000) } });
    const ts = new Date().toUTCString();
    const headers = (secret: string) => ({ 'klaviyo-webhook-id': 'WH1', 'klaviyo-timestamp': ts, 'klaviyo-signature': klaviyoSignature(secret, body, ts) });
    expect((await answeredAfterTheBody('/webhooks/klaviyo', headers(KLAVIYO_SECRET), body)).status()).toBe(200);
    expect((await answeredAfterTheBody('/webhooks/klaviyo', headers('another-secret-0123456789'), body)).status()).toBe(401);
  });
});
