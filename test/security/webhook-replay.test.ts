/**
 * Issue 11, defect 8 (c): Standard Webhooks ids were not remembered, so a replay of a signed
 * request within the ±5 min tolerance — captured on the way, or the sender's own retry of a
 * message it got no answer for — created its work again (items without an `id` get a new one
 * each time). Now (source, webhook-id) is kept in Redis for the tolerance window: a replay of an
 * accepted message is answered as one (202 `"replayed": true`), never as an error, and creates
 * nothing; a copy arriving while the first is processed gets 409 + Retry-After; a first attempt
 * that failed releases the id, so the sender's retry is processed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { webhookIdKey } from '../../src/redis-keys.ts';
import { standardSignature } from '../../src/webhooks/standard-webhooks.ts';
import { startHarness, type Harness } from '../support/harness.ts';
import { privateRedis, type PrivateRedis } from '../support/private-redis.ts';
import { testRedis } from '../support/redis.ts';
import { waitUntil } from '../support/wait.ts';
import { connect, head } from './support/raw-http.ts';

const POS_SECRET = `whsec_${Buffer.from('pos-signing-secret-of-32-bytes!!').toString('base64')}`;
const file = parseRelayConfig({ sources: [{ name: 'pos', signingSecret: POS_SECRET }] }, {});

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ name: 'replay', workers: false, file });
});
afterAll(async () => {
  await h?.close();
});

const extra: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of extra.splice(0).reverse()) await c();
});

const tag = () => `rp-${Math.random().toString(36).slice(2, 10)}`;
/** An event without an id: only the replay cache can tell a replay from a new event. */
const eventBody = (t: string) => JSON.stringify({ event: 'Checkout Started', profile: { email: `${t}@example.com` } });

function signed(body: string, id: string, ts = String(Math.floor(Date.now() / 1000)), secret = POS_SECRET) {
  return { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': standardSignature(secret, id, ts, body) };
}

async function send(hh: Harness, body: string, headers: Record<string, string>) {
  const res = await fetch(`${hh.service.url}/v1/events`, { method: 'POST', headers, body });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any };
}

/** Jobs holding an event for this tag's email, and how many such events in all. */
async function eventsFor(hh: Harness, t: string): Promise<number> {
  const jobs = await hh.queue('events', 'live', 'src-pos').getJobs(['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed']);
  return jobs.flatMap((j) => j.data.items as { e: { profile: { email: string } } }[]).filter((it) => it.e.profile.email === `${t}@example.com`).length;
}

describe('a replayed signed request', () => {
  it('an exact copy of an accepted request is answered as a replay, before its body is read, and creates nothing', async () => {
    const t = tag();
    const body = eventBody(t);
    const headers = signed(body, `msg_${t}`);
    expect(await send(h, body, headers)).toMatchObject({ status: 202, body: { accepted: 1 } });
    expect(await eventsFor(h, t)).toBe(1);

    expect(await send(h, body, headers)).toMatchObject({ status: 202, body: { replayed: true, webhook_id: `msg_${t}` } });
    expect(await eventsFor(h, t)).toBe(1);

    // Before the body: the answer comes while 1 KiB of a declared 1 MiB is out, and the connection closes.
    const conn = await connect(h.service.url!);
    conn.write(head('POST', '/v1/events', { ...headers, 'content-length': 1 << 20 }));
    conn.write(Buffer.alloc(1024, 0x20));
    await waitUntil('the answer, before the body', () => conn.received().endsWith('}'), { timeoutMs: 3000 });
    expect(conn.status()).toBe(202);
    expect(conn.received()).toMatch(/"replayed":true/);
    await waitUntil('the server to hang up', () => conn.closedAt() !== undefined, { timeoutMs: 2000 });
    conn.destroy();
    expect(await eventsFor(h, t)).toBe(1);
  });

  it("the sender's re-signed retry (same id, a later timestamp) is a replay too, not an error", async () => {
    const t = tag();
    const body = eventBody(t);
    const ts = Math.floor(Date.now() / 1000);
    expect((await send(h, body, signed(body, `msg_${t}`, String(ts - 60)))).status).toBe(202);
    expect(await send(h, body, signed(body, `msg_${t}`, String(ts)))).toMatchObject({ status: 202, body: { replayed: true } });
    expect(await eventsFor(h, t)).toBe(1);
  });

  it('a request that only reuses an accepted id is verified like any other: a forged signature gets 401', async () => {
    const t = tag();
    const body = eventBody(t);
    expect((await send(h, body, signed(body, `msg_${t}`))).status).toBe(202);
    const forged = signed(body, `msg_${t}`, undefined, `whsec_${Buffer.from('not-the-pos-signing-secret-32b!!').toString('base64')}`);
    expect(await send(h, body, forged)).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    expect(await eventsFor(h, t)).toBe(1);
  });

  it('identical requests at once: one is accepted, the others answered as in progress (409) or as a replay; one event', async () => {
    const t = tag();
    const body = eventBody(t);
    const headers = signed(body, `msg_${t}`);
    const answers = await Promise.all(Array.from({ length: 6 }, () => send(h, body, headers)));
    const accepted = answers.filter((a) => a.status === 202 && a.body.accepted === 1);
    expect(accepted).toHaveLength(1);
    for (const a of answers.filter((x) => x !== accepted[0])) {
      if (a.status === 409) expect(a).toMatchObject({ retryAfter: '1', body: { error: 'in_progress' } });
      else expect(a).toMatchObject({ status: 202, body: { replayed: true } });
    }
    expect(await eventsFor(h, t)).toBe(1);
    // The sender retries its 409s: replays now.
    expect(await send(h, body, headers)).toMatchObject({ status: 202, body: { replayed: true } });
  });

  it('is remembered per source, for twice the tolerance, under one hash tag', async () => {
    const t = tag();
    const body = eventBody(t);
    expect((await send(h, body, signed(body, `msg_${t}`))).status).toBe(202);
    const redis = testRedis();
    try {
      const key = webhookIdKey(h.prefix, 'src-pos', `msg_${t}`);
      expect(await redis.get(key)).toMatch(/^accepted:/);
      const ttl = await redis.pttl(key);
      expect(ttl).toBeGreaterThan(590_000);
      expect(ttl).toBeLessThanOrEqual(600_000);
    } finally {
      redis.disconnect();
    }
  });
});

describe('a first attempt that failed', () => {
  it('refused by a check inside the /v1 chain (its body is not JSON): the id is released, and the corrected retry is accepted', async () => {
    // The JSON check answers inside the one middleware the /v1 chain runs as (middleware/v1.ts);
    // its 400 must be what the signature step sees when it settles the id — not a default 200,
    // which kept the id as accepted and answered the corrected retry as a replay.
    const t = tag();
    const id = `msg_${t}`;
    const broken = '{"event": "Checkout Started", ';
    expect(await send(h, broken, signed(broken, id))).toMatchObject({ status: 400, body: { error: 'invalid_json' } });
    const body = eventBody(t);
    const retry = await send(h, body, signed(body, id));
    expect(retry).toMatchObject({ status: 202, body: { accepted: 1 } });
    expect(retry.body.replayed).toBeUndefined();
    expect(await eventsFor(h, t)).toBe(1);
  });

  it("releases the id: the sender's retry is processed, not answered as a replay", async () => {
    const hh = await startHarness({ name: 'replay-backlog', workers: false, file, env: { RELAY_MAX_QUEUED_JOBS: '1' } });
    extra.push(() => hh.close());
    // The signing source's own queue is filled (backpressure is per queue: per kind, lane, class and source).
    const post = (id: string) => {
      const filler = JSON.stringify({ id, event: 'Filler', profile: { email: 'f@example.com' } });
      return fetch(`${hh.service.url}/v1/events`, { method: 'POST', headers: signed(filler, `msg_${id}`), body: filler });
    };
    for (const id of ['fill-1', 'fill-2']) expect((await post(id)).status).toBe(202);
    // The queue is over its limit once the guard has read the counts (once a second).
    await waitUntil('backpressure to answer 503', async () => (await post(`fill-${Math.random()}`)).status === 503, { timeoutMs: 5000, intervalMs: 200 });
    const t = tag();
    const body = eventBody(t);
    const headers = signed(body, `msg_${t}`);
    // Refused after its signature verified and its id was claimed.
    expect(await send(hh, body, headers)).toMatchObject({ status: 503, body: { error: 'backlog_full' } });

    await hh.queue('events', 'live', 'src-pos').obliterate({ force: true });
    const retry = await waitUntil(
      'the request accepted once the queue was emptied',
      async () => {
        const a = await send(hh, body, headers);
        return a.status !== 503 && a;
      },
      { timeoutMs: 5000, intervalMs: 200 },
    );
    expect(retry).toMatchObject({ status: 202, body: { accepted: 1 } });
    expect(retry.body.replayed).toBeUndefined();
    expect(await eventsFor(hh, t)).toBe(1);
  });

  it('Redis unreachable: a signed request gets 503 (a replay cannot be told apart), and is accepted once Redis is back', async () => {
    const redis: PrivateRedis = await privateRedis();
    extra.push(() => redis.destroy());
    const hh = await startHarness({ name: 'replay-down', workers: false, file, env: { REDIS_URL: redis.url } });
    extra.push(() => hh.close());
    const t = tag();
    const body = eventBody(t);
    const headers = signed(body, `msg_${t}`);
    await redis.stop();
    expect(await send(hh, body, headers)).toMatchObject({ status: 503, retryAfter: '2', body: { error: 'unavailable' } });
    await redis.start();
    const retry = await waitUntil(
      'the request accepted once Redis is back',
      async () => {
        const a = await send(hh, body, headers);
        return a.status !== 503 && a;
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    expect(retry).toMatchObject({ status: 202, body: { accepted: 1 } });
    expect(await send(hh, body, headers)).toMatchObject({ status: 202, body: { replayed: true } });
  }, 30_000);
});
