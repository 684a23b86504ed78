/**
 * The tracking API over real HTTP, with Redis, workers and the simulator: authentication (Basic,
 * body writeKey, Bearer; wrong keys), the limits (32 KB per message, 500 KB per request, gzip bombs
 * with bounded memory, bad gzip), batches with a bad message, clock-skew correction, per-source
 * settings from RELAY_CONFIG, priority, and the counters in /metrics and /ops/status.
 */
import { createHash } from 'node:crypto';
import { createGzip, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics.ts';
import { eventKey, jobIdForItems } from '../../src/item-keys.ts';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { configSourceId } from '../../src/sources.ts';
import { CONNECTION, RELAY_KEY, RELAY_SOURCE, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';

const SHOP_KEY = 'shop-write-key-0123456789';
const ADMIN = 'tracking-admin-token-0123456789';
let h: Harness;
beforeAll(async () => {
  const file = parseRelayConfig(
    {
      sources: [
        {
          name: 'shop',
          keySha256: createHash('sha256').update(SHOP_KEY).digest('hex'),
          tracking: { rename: { 'Product Added': 'Added to Cart' }, pages: false, groups: 'lists' },
        },
      ],
    },
    {},
  );
  h = await startHarness({ name: 'tracking-api', file, metrics: new Metrics({ defaultMetrics: false }), env: { RELAY_ADMIN_TOKEN: ADMIN } });
});
afterAll(async () => {
  await h?.close();
});

const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 10)}`;
const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

async function send(path: string, body: unknown, headers: Record<string, string> = { authorization: basic(RELAY_KEY) }) {
  const raw = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const res = await fetch(`${h.service.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* keep the text */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

const track = (email: string, extra: Record<string, unknown> = {}) => ({
  type: 'track',
  messageId: uniq('m'),
  event: 'Product Viewed',
  userId: email.split('@')[0],
  context: { traits: { email } },
  ...extra,
});

describe('auth', () => {
  it('Basic base64("<writeKey>:"), a body writeKey, or Bearer: the same relay keys', async () => {
    const email = `${uniq('auth')}@example.com`;
    expect(await send('/v1/track', track(email))).toMatchObject({ status: 200, body: { success: true, accepted: 1 } });
    expect(await send('/v1/track', { ...track(email), writeKey: RELAY_KEY }, {})).toMatchObject({ status: 200, body: { success: true } });
    expect(await send('/v1/batch', { batch: [track(email)], writeKey: RELAY_KEY }, {})).toMatchObject({ status: 200, body: { success: true } });
    expect(await send('/v1/track', track(email), { authorization: `Bearer ${RELAY_KEY}` })).toMatchObject({ status: 200 });
    await waitUntil('the events delivered', () => h.sim.eventsFor(CONNECTION, { email }).length === 4, { timeoutMs: 15_000 });
  });

  it('a wrong key is 401, in the header or in the body; none at all is 401', async () => {
    const msg = track('nobody@example.com');
    const wrongHeader = await send('/v1/track', msg, { authorization: basic('not-a-relay-key') });
    expect(wrongHeader).toMatchObject({ status: 401, body: { error: 'unauthorized', message: 'The write key is not valid' } });
    expect(wrongHeader.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect(await send('/v1/batch', { batch: [msg], writeKey: 'not-a-relay-key' }, {})).toMatchObject({ status: 401 });
    expect(await send('/v1/batch', { batch: [msg] }, {})).toMatchObject({ status: 401 });
    // A header wins over the body: a wrong header is not rescued by a right body key.
    expect(await send('/v1/batch', { batch: [msg], writeKey: RELAY_KEY }, { authorization: basic('nope') })).toMatchObject({ status: 401 });
    expect(await send('/v1/track', msg, { authorization: 'Digest abc' })).toMatchObject({ status: 401 });
  });

  it("a RELAY_CONFIG source's key: its work is queued under that source, with its tracking settings", async () => {
    const email = `${uniq('shop')}@example.com`;
    const res = await send(
      '/v1/batch',
      {
        batch: [
          track(email, { event: 'Product Added' }),
          { type: 'page', userId: 'x', name: 'Home', context: { traits: { email } } },
          { type: 'group', messageId: uniq('g'), userId: 'x', groupId: 'ShopL1', context: { traits: { email } } },
        ],
      },
      { authorization: basic(SHOP_KEY) },
    );
    expect(res).toMatchObject({ status: 200, body: { success: true, accepted: 2, ignored: 1 } });
    const events = await waitUntil(
      'the events in the simulator',
      () => {
        const e = h.sim.eventsFor(CONNECTION, { email });
        return e.length > 0 && e;
      },
      { timeoutMs: 15_000 },
    );
    expect(events.map((e) => e.metric)).toEqual(['Added to Cart']);
    expect(events[0]!.uniqueId).toBe(eventKey(configSourceId('shop'), res.body.ids[0]));
    await waitUntil('the profile updated in the simulator', () => h.sim.profileByEmail(CONNECTION, email)?.lists.has('ShopL1'), { timeoutMs: 15_000 });
  });
});

describe('batches and messages', () => {
  it('one bad message does not fail the batch: the others are taken, the bad one is named', async () => {
    const email = `${uniq('partial')}@example.com`;
    const res = await send('/v1/batch', {
      batch: [track(email), { type: 'track', userId: 'u' }, { type: 'fly' }, { type: 'alias', userId: 'u', previousId: 'a' }],
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ success: true, accepted: 1, ignored: 1 });
    expect(res.body.rejected).toEqual([
      { field: 'batch[1].event', index: 1, message: expect.any(String) },
      { field: 'batch[2].type', index: 2, message: expect.stringContaining('must be one of') },
    ]);
    await waitUntil('the events delivered', () => h.sim.eventsFor(CONNECTION, { email }).length === 1, { timeoutMs: 15_000 });
  });

  it('nothing acceptable: 400 naming every problem (the SDKs do not retry a 400)', async () => {
    const res = await send('/v1/batch', {
      batch: [
        { type: 'track', userId: 'u' },
        { type: 'identify', anonymousId: 'a' },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'validation_failed', issues: [{ field: 'batch[0].event' }, { field: 'batch[1].userId' }] });
    expect(await send('/v1/track', { userId: 'u' })).toMatchObject({ status: 400, body: { issues: [{ field: 'event' }] } });
    expect(await send('/v1/batch', { batch: [] })).toMatchObject({ status: 400, body: { issues: [{ field: 'batch' }] } });
    expect(await send('/v1/batch', '{"batch": [')).toMatchObject({ status: 400, body: { error: 'invalid_json' } });
  });

  it('the same batch twice: one event, the second answer counts the duplicate', async () => {
    const email = `${uniq('dup')}@example.com`;
    const body = { batch: [track(email)] };
    expect((await send('/v1/batch', body)).body).toMatchObject({ duplicates: 0 });
    expect((await send('/v1/batch', body)).body).toMatchObject({ success: true, accepted: 1, duplicates: 1 });
    await waitUntil('the events delivered', () => h.sim.eventsFor(CONNECTION, { email }).length > 0, { timeoutMs: 15_000 });
    await new Promise((r) => setTimeout(r, 500));
    expect(h.sim.eventsFor(CONNECTION, { email })).toHaveLength(1);
  });

  it('clock skew: a sender 1 hour fast has its timestamp corrected by receivedAt − sentAt', async () => {
    const email = `${uniq('skew')}@example.com`;
    const hour = 3600_000;
    const happened = Date.now() - 60_000;
    const res = await send('/v1/batch', {
      batch: [track(email, { timestamp: new Date(happened + hour).toISOString() })],
      sentAt: new Date(Date.now() + hour).toISOString(),
    });
    expect(res.status).toBe(200);
    const [event] = await waitUntil(
      'the events in the simulator',
      () => {
        const e = h.sim.eventsFor(CONNECTION, { email });
        return e.length > 0 && e;
      },
      { timeoutMs: 15_000 },
    );
    expect(Math.abs(Date.parse(event!.time) - happened)).toBeLessThan(5_000);
  });

  it('X-Relay-Priority: bulk (or ?priority=bulk) queues the items as bulk', async () => {
    const email = `${uniq('bulk')}@example.com`;
    const msg = track(email);
    expect((await send('/v1/batch?priority=bulk', { batch: [msg] })).status).toBe(200);
    const job = await h.queue('events', 'bulk').getJob(jobIdForItems('events', [eventKey(RELAY_SOURCE, msg.messageId)]));
    expect(job?.data.items[0]).toMatchObject({ id: msg.messageId });
    expect((await send('/v1/batch?priority=urgent', { batch: [track(email)] })).status).toBe(400);
  });
});

describe('limits', () => {
  it('a message over 32 KB: 400 on a single call, rejected in a batch', async () => {
    const email = `${uniq('big')}@example.com`;
    const big = track(email, { properties: { pad: 'x'.repeat(33 * 1024) } });
    expect(await send('/v1/track', big)).toMatchObject({ status: 400, body: { issues: [{ field: '(message)', message: expect.stringContaining('32 KB') }] } });
    const res = await send('/v1/batch', { batch: [big, track(email)] });
    expect(res).toMatchObject({ status: 200, body: { accepted: 1, rejected: [{ field: 'batch[0]', index: 0 }] } });
  });

  it('a request over 500 KB is 400, declared or streamed, before it is all read', async () => {
    const email = `${uniq('huge')}@example.com`;
    const batch = Array.from({ length: 20 }, () => track(email, { properties: { pad: 'y'.repeat(30 * 1024) } }));
    const declared = await send('/v1/batch', { batch });
    expect(declared).toMatchObject({ status: 400, body: { error: 'batch_too_large' } });
    const body = Buffer.from(JSON.stringify({ batch }));
    const streamed = await fetch(`${h.service.url}/v1/batch`, {
      method: 'POST',
      headers: { authorization: basic(RELAY_KEY), 'content-type': 'application/json' },
      body: new ReadableStream({
        start(c) {
          c.enqueue(body);
          c.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(400);
    expect(await streamed.json()).toMatchObject({ error: 'batch_too_large' });
    expect(h.sim.eventsFor(CONNECTION, { email })).toHaveLength(0);
  });

  it('gzip: decoded; bad gzip is 400 naming it; an unknown encoding 415', async () => {
    const email = `${uniq('gz')}@example.com`;
    const gz = gzipSync(JSON.stringify({ batch: [track(email)] }));
    expect(await send('/v1/batch', gz, { authorization: basic(RELAY_KEY), 'content-encoding': 'gzip' })).toMatchObject({ status: 200 });
    await waitUntil('the events delivered', () => h.sim.eventsFor(CONNECTION, { email }).length === 1, { timeoutMs: 15_000 });
    const bad = await send('/v1/batch', Buffer.from('this is not gzip'), { authorization: basic(RELAY_KEY), 'content-encoding': 'gzip' });
    expect(bad).toMatchObject({ status: 400, body: { error: 'invalid_gzip', message: expect.stringMatching(/^The body is not valid gzip: /) } });
    const cut = await send('/v1/batch', gz.subarray(0, gz.length - 10), { authorization: basic(RELAY_KEY), 'content-encoding': 'gzip' });
    expect(cut).toMatchObject({ status: 400, body: { error: 'invalid_gzip' } });
    expect(await send('/v1/batch', gz, { authorization: basic(RELAY_KEY), 'content-encoding': 'br' })).toMatchObject({ status: 415 });
  });

  it('gzip bombs (200 MB of zeros in 200 KB) are 400 at 500 KB decompressed, without memory growth', async () => {
    const bomb = await gzipZeros(200 * 1024 * 1024);
    expect(bomb.length).toBeLessThan(500 * 1024);
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 5);
    try {
      const answers = await Promise.all(
        Array.from({ length: 8 }, () => send('/v1/batch', bomb, { authorization: basic(RELAY_KEY), 'content-encoding': 'gzip' })),
      );
      for (const a of answers) expect(a).toMatchObject({ status: 400, body: { error: 'batch_too_large', message: expect.stringContaining('decompressed') } });
    } finally {
      clearInterval(sampler);
    }
    // Eight bombs inflated would be 1.6 GB; capped, each costs at most 500 KB of output.
    expect(peak - before).toBeLessThan(64 * 1024 * 1024);
  });
});

describe('counted', () => {
  it('messages by type and outcome in /metrics and /ops/status', async () => {
    await send('/v1/batch', { batch: [track(`${uniq('count')}@example.com`), { type: 'alias', userId: 'u' }, { type: 'track' }] });
    // Counts reach Redis within a second (they are gathered in memory in between).
    let metrics = '';
    const value = (type: string, outcome: string) =>
      Number(new RegExp(`^relay_tracking_messages\\{type="${type}",outcome="${outcome}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
    await waitUntil(
      'the rejected and ignored counters in /metrics',
      async () => {
        metrics = await (await fetch(`${h.service.url}/metrics`)).text();
        return value('track', 'rejected') > 0 && value('alias', 'ignored') > 0;
      },
      { timeoutMs: 5000 },
    );
    expect(value('track', 'accepted')).toBeGreaterThan(0);
    expect(value('alias', 'ignored')).toBeGreaterThan(0);
    expect(value('track', 'rejected')).toBeGreaterThan(0);
    const status = (await (await fetch(`${h.service.url}/ops/status`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as {
      tracking: Record<string, Record<string, number>>;
    };
    expect(status.tracking.track?.accepted).toBeGreaterThan(0);
    expect(status.tracking.alias?.ignored).toBeGreaterThan(0);
  });
});

/** `n` zero bytes gzipped, compressed as a stream (the test never holds them inflated). */
function gzipZeros(n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const gz = createGzip({ level: 9 });
    const out: Buffer[] = [];
    gz.on('data', (c: Buffer) => out.push(c));
    gz.on('end', () => resolve(Buffer.concat(out)));
    gz.on('error', reject);
    const chunk = Buffer.alloc(1024 * 1024);
    let left = n;
    const pump = () => {
      while (left > 0) {
        left -= chunk.length;
        if (!gz.write(chunk)) return gz.once('drain', pump);
      }
      gz.end();
    };
    pump();
  });
}
