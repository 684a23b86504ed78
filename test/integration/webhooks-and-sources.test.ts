/**
 * Klaviyo's webhooks through rules, flow webhooks, and several sources routed to several Klaviyo
 * accounts — end to end against the simulator.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { statsKey } from '../../src/redis-keys.ts';
import { klaviyoSignature } from '../../src/webhooks/klaviyo-signature.ts';
import { standardSignature } from '../../src/webhooks/standard-webhooks.ts';
import { CONNECTION, RELAY_KEY, startHarness, type Harness } from '../support/harness.ts';
import { testRedis } from '../support/redis.ts';
import { waitUntil } from '../support/wait.ts';
import { legacyRef } from '../../src/queue-catalog.ts';

const EU_KEY = 'eu-shop-key-123456';
const POS_SECRET = `whsec_${Buffer.from('pos-signing-secret-of-32-bytes!!').toString('base64')}`;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

const file = parseRelayConfig(
  {
    accounts: { eu: { connection: 'conn-eu' } },
    sources: [
      { name: 'shop-eu', keySha256: sha(EU_KEY), account: 'eu' },
      { name: 'pos', signingSecret: POS_SECRET },
    ],
    klaviyoWebhooks: { secrets: ['kl-secret-new-0123456789', 'kl-secret-old-0123456789'] },
    flows: { vip: { header: 'X-Relay-Secret', secret: 'flow-secret-0123456789' } },
    rules: [
      { name: 'unsubscribes leave win-back', on: { topic: 'event:klaviyo.unsubscribed_from_email_marketing' }, do: [{ removeFromList: 'WinBck' }] },
      {
        on: { topic: 'event:klaviyo.clicked_email' },
        when: { 'properties.Campaign Name': { equals: 'Black Friday' } },
        do: [{ updateProfile: { properties: { bf_clicker: true } } }],
      },
      { on: { flow: 'vip' }, do: [{ addToList: 'VIPxyz' }, { createEvent: { metric: 'Became VIP' } }] },
    ],
  },
  {},
);

let h: Harness;
let redis: Redis;
beforeAll(async () => {
  h = await startHarness({ name: 'webhooks', file });
  redis = testRedis();
});
afterAll(async () => {
  redis?.disconnect();
  await h?.close();
});

const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 10)}`;

async function deliver(body: unknown, opts: { secret?: string; webhookId?: string; timestamp?: string } = {}) {
  const raw = JSON.stringify(body);
  const timestamp = opts.timestamp ?? new Date().toUTCString();
  const res = await fetch(`${h.service.url}/webhooks/klaviyo`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'klaviyo-webhook-id': opts.webhookId ?? 'WH1',
      'klaviyo-timestamp': timestamp,
      'klaviyo-signature': klaviyoSignature(opts.secret ?? 'kl-secret-new-0123456789', raw, timestamp),
    },
    body: raw,
  });
  return { status: res.status, body: (await res.json()) as any };
}

const eventItem = (topic: string, externalId: string, profileId: string, props: Record<string, unknown> = {}) => ({
  topic,
  external_id: externalId,
  payload: {
    data: {
      type: 'event',
      id: externalId,
      attributes: { datetime: new Date().toISOString(), event_properties: props },
      relationships: { profile: { data: { type: 'profile', id: profileId } } },
    },
  },
});

async function profileInWinBack(email: string) {
  await h.post('/v1/profiles', { email, lists: ['WinBck'] });
  return waitUntil('the profile on the list', () => {
    const p = h.sim.profileByEmail(CONNECTION, email);
    return p?.lists.has('WinBck') && p;
  });
}

describe('POST /webhooks/klaviyo', () => {
  it('verifies, fans a batch out to rules, acknowledges and counts unknown topics', async () => {
    const p1 = await profileInWinBack(`${uniq('unsub')}@example.com`);
    const p2 = await profileInWinBack(`${uniq('click')}@example.com`);
    const ids = [uniq('ev'), uniq('ev'), uniq('ev'), uniq('ev')];
    const res = await deliver({
      data: [
        eventItem('event:klaviyo.unsubscribed_from_email_marketing', ids[0]!, p1.id),
        eventItem('event:klaviyo.clicked_email', ids[1]!, p2.id, { 'Campaign Name': 'Black Friday' }),
        eventItem('event:klaviyo.clicked_email', ids[2]!, p2.id, { 'Campaign Name': 'Spring' }),
        eventItem('event:klaviyo.opened_email', ids[3]!, p2.id),
      ],
      meta: { klaviyo_account_id: 'ACCT', klaviyo_webhook_id: 'WH1', timestamp: new Date().toISOString() },
    });
    expect(res).toEqual({ status: 200, body: { received: 4, enqueued: 3, duplicates: 0, unmatched: 1 } });
    await waitUntil('the first profile off the list', () => !h.sim.profileByEmail(CONNECTION, p1.email!)!.lists.has('WinBck'));
    await waitUntil("the second profile's property set", () => h.sim.profileByEmail(CONNECTION, p2.email!)!.properties.bf_clicker === true);
    expect(h.sim.profileByEmail(CONNECTION, p2.email!)!.lists.has('WinBck')).toBe(true);
    const stats = await redis.hgetall(statsKey(h.prefix, 'webhooks'));
    expect(Number(stats['unmatched:event:klaviyo.opened_email'])).toBe(1);
    expect(Number(stats['matched:event:klaviyo.clicked_email'])).toBe(2);
    await waitUntil('the filtered webhook counted', async () => Number((await redis.hgetall(statsKey(h.prefix, 'webhooks')))['rules:filtered']) === 1);

    // Klaviyo redelivers the same batch: every item is recognised by its external_id.
    const again = await deliver({ data: [eventItem('event:klaviyo.unsubscribed_from_email_marketing', ids[0]!, p1.id)], meta: { klaviyo_webhook_id: 'WH1' } });
    expect(again.body).toMatchObject({ received: 1, enqueued: 0, duplicates: 1 });
  });

  it('accepts the old secret during rotation', async () => {
    const res = await deliver({ data: [], meta: { klaviyo_webhook_id: 'WH1' } }, { secret: 'kl-secret-old-0123456789' });
    expect(res.status).toBe(200);
  });

  it('anything failing verification gets 401 and enqueues nothing', async () => {
    const q = h.service.queues.get(legacyRef('webhooks', 'default'));
    const before = await q.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
    const body = { data: [eventItem('event:klaviyo.unsubscribed_from_email_marketing', uniq('x'), '01KP')], meta: { klaviyo_webhook_id: 'WH1' } };
    const cases = [
      await deliver(body, { secret: 'wrong-secret' }),
      await deliver(body, { webhookId: 'WH-other' }),
      await deliver(body, { timestamp: new Date(Date.now() - 10 * 60_000).toUTCString() }),
    ];
    for (const r of cases) expect(r).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    const unsigned = await fetch(`${h.service.url}/webhooks/klaviyo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(unsigned.status).toBe(401);
    expect(await q.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed')).toEqual(before);
  });
});

describe('POST /webhooks/klaviyo/flows/{name}', () => {
  it("authenticates with the shared secret header and applies the flow's rules", async () => {
    const email = `${uniq('vip')}@example.com`;
    const post = (secret: string, body: unknown) =>
      fetch(`${h.service.url}/webhooks/klaviyo/flows/vip`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-relay-secret': secret },
        body: JSON.stringify(body),
      });
    expect((await post('nope', { profile: { email } })).status).toBe(401);
    const ok = await post('flow-secret-0123456789', { profile: { email } });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ enqueued: 1, duplicates: 0 });
    // Klaviyo retries the action with the same body: recognised.
    expect(await (await post('flow-secret-0123456789', { profile: { email } })).json()).toMatchObject({ enqueued: 0, duplicates: 1 });
    await waitUntil('the profile on the VIP list', () => h.sim.profileByEmail(CONNECTION, email)?.lists.has('VIPxyz'));
    await waitUntil('the VIP event', () => h.sim.eventsFor(CONNECTION, { email, metric: 'Became VIP' }).length === 1);
    const unknown = await fetch(`${h.service.url}/webhooks/klaviyo/flows/nope`, {
      method: 'POST',
      headers: { 'x-relay-secret': 'flow-secret-0123456789' },
      body: '{}',
    });
    expect(unknown.status).toBe(404);
  });
});

describe('sources and accounts', () => {
  it('two sources routed to two connections land in two separate simulator accounts', async () => {
    const a = `${uniq('default')}@example.com`;
    const b = `${uniq('eu')}@example.com`;
    expect((await h.post('/v1/events', { id: uniq('e'), event: 'Placed Order', profile: { email: a } })).status).toBe(202);
    expect(
      (await h.post('/v1/events', { id: uniq('e'), event: 'Placed Order', profile: { email: b } }, { headers: { authorization: `Bearer ${EU_KEY}` } })).status,
    ).toBe(202);
    await waitUntil(
      "each lane's event in its own account",
      () => h.sim.eventsFor('conn-eu', { email: b }).length === 1 && h.sim.eventsFor(CONNECTION, { email: a }).length === 1,
    );
    expect(h.sim.eventsFor('conn-eu', { email: a })).toHaveLength(0);
    expect(h.sim.eventsFor(CONNECTION, { email: b })).toHaveLength(0);
    const euCalls = h.sim.requests({ account: 'conn-eu' });
    expect(euCalls.every((r) => r.headers['maton-connection'] === 'conn-eu')).toBe(true);
  });

  it('a source may authenticate with a Standard Webhooks signature instead of a key', async () => {
    const email = `${uniq('pos')}@example.com`;
    const raw = JSON.stringify({ id: uniq('pos'), event: 'Checkout Started', profile: { email } });
    const ts = String(Math.floor(Date.now() / 1000));
    const headers = { 'content-type': 'application/json', 'webhook-id': 'msg_1', 'webhook-timestamp': ts };
    const good = await fetch(`${h.service.url}/v1/events`, {
      method: 'POST',
      headers: { ...headers, 'webhook-signature': standardSignature(POS_SECRET, 'msg_1', ts, raw) },
      body: raw,
    });
    expect(good.status).toBe(202);
    const bad = await fetch(`${h.service.url}/v1/events`, {
      method: 'POST',
      headers: {
        ...headers,
        'webhook-signature': standardSignature(`whsec_${Buffer.from('another-signing-key-of-32-bytes!').toString('base64')}`, 'msg_1', ts, raw),
      },
      body: raw,
    });
    expect(bad.status).toBe(401);
    await waitUntil('the event delivered', () => h.sim.eventsFor(CONNECTION, { email }).length === 1);
  });

  it('RELAY_API_KEYS still works beside the config file', async () => {
    expect(
      (await h.post('/v1/events', { event: 'Viewed Product', profile: { email: 'k@example.com' } }, { headers: { authorization: `Bearer ${RELAY_KEY}` } }))
        .status,
    ).toBe(202);
  });
});
