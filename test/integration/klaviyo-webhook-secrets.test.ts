/**
 * Issue 17: the secrets the relay makes for Klaviyo webhooks, over real HTTP, real Redis (own
 * prefix) and the simulator. What the CLI test does not reach: a delivery for a webhook still being
 * created (no id stored yet) verifies; an id the relay does not know is refused before the body is
 * read; a rotation Klaviyo refuses keeps the old secret only, one whose answer never came keeps
 * both; the relay's own self-test does not count as Klaviyo using the new secret, a real delivery
 * does (the old one retires a minute later); a 403 permission_denied does not pause the lane; the
 * per-webhook gauges.
 */
import { deliverSigned } from '../support/klaviyo-delivery.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statsKey, webhookPendingKey } from '../../src/redis-keys.ts';
import { Metrics } from '../../src/metrics.ts';
import { CONFIRMED_TAIL_MS } from '../../src/webhooks/klaviyo-secrets.ts';
import { createWebhookSecretStore } from '../../src/webhooks/secret-store.ts';
import { CONNECTION, startHarness, type Harness } from '../support/harness.ts';
import { testRedis } from '../support/redis.ts';
import { parseExposition } from '../support/prom-format.ts';

const ADMIN = 'test-wh-secrets-admin';
const UNSUB = 'event:klaviyo.unsubscribed_from_email_marketing';

let h: Harness;
let redis: ReturnType<typeof testRedis>;
beforeAll(async () => {
  // Limits off at the simulator: this file is about secrets, test/cli/webhooks.test.ts about pacing.
  h = await startHarness({
    name: 'whsecrets',
    workers: false,
    env: { RELAY_ADMIN_TOKEN: ADMIN },
    sim: { enforceLimits: false },
    metrics: new Metrics({ defaultMetrics: false }),
  });
  redis = testRedis();
});
afterAll(async () => {
  redis?.disconnect();
  await h?.close();
});

async function ops(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${h.service.url}/ops/webhooks${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const deliver = (webhookId: string, secret: string, meta: Record<string, unknown> = {}) => deliverSigned(h.service.url!, webhookId, secret, { meta });

const stats = async () => redis.hgetall(statsKey(h.prefix, 'webhooks'));

describe('the secrets of webhooks the relay makes', () => {
  it('an id the relay does not know is refused before its body is read (no klaviyoWebhooks in the config)', async () => {
    const r = await deliver('01UNKNOWNWEBHOOK000000000', 'some-secret-nobody-has');
    expect(r.status).toBe(401);
    expect(r.body.message).toBe('Webhook verification failed: unknown_webhook');
    expect((await stats())['rejected:unknown_webhook']).toBe('1');
    expect((await redis.hgetall(statsKey(h.prefix, 'klaviyo-webhooks')))['refused:(unknown)']).toBe('1');
  });

  it('a delivery for a webhook being created (its id not stored yet) verifies with the pending secret', async () => {
    const store = createWebhookSecretStore(redis, h.prefix);
    await store.addPending('nonce-1', 'pending-secret-0123456789', 60_000);
    expect((await deliver('01NEWWEBHOOKNOTSTOREDYET0', 'pending-secret-0123456789')).status).toBe(200);
    expect((await deliver('01NEWWEBHOOKNOTSTOREDYET0', 'another-secret-0123456789')).status).toBe(401);
    await store.bind('nonce-1', { id: '01NEWWEBHOOKNOTSTOREDYET0', lane: 'default', createdAt: Date.now(), createdBy: 'test' }, 'pending-secret-0123456789');
    // Bound: its own; no longer any id's.
    expect((await deliver('01NEWWEBHOOKNOTSTOREDYET0', 'pending-secret-0123456789')).status).toBe(200);
    expect((await deliver('01SOMEOTHERWEBHOOK0000000', 'pending-secret-0123456789')).status).toBe(401);
    await store.remove('01NEWWEBHOOKNOTSTOREDYET0');
  });

  it('a rotation Klaviyo refuses keeps the old secret only; one it never answered keeps both', async () => {
    const created = await ops('POST', '', { url: `${h.service.url}/webhooks/klaviyo`, topics: [UNSUB], reveal: true });
    expect(created.status).toBe(201);
    const id = created.body.webhook.id as string;
    const first = created.body.secret.value as string;

    const refused = h.sim.faults.add({ match: { endpoint: 'update_webhook' }, status: 400, times: 1 })[0]!;
    const r1 = await ops('POST', `/${id}/rotate`, {});
    expect(r1.status).toBe(400);
    expect(r1.body).toMatchObject({ error: 'klaviyo_rejected' });
    h.sim.faults.remove(refused.id);
    expect((await ops('GET', '/local')).body.webhooks.find((w: any) => w.id === id).secrets).toHaveLength(1);
    expect((await deliver(id, first)).status).toBe(200);

    // KLAVIYO_TIMEOUT_MS is 2 s in the harness: the PATCH's answer never comes.
    h.sim.faults.add({ match: { endpoint: 'update_webhook' }, hang: true, times: 1 });
    const r2 = await ops('POST', `/${id}/rotate`, {});
    expect(r2.status).toBe(502);
    expect(r2.body).toMatchObject({ error: 'klaviyo_unreachable' });
    const both = (await ops('GET', '/local')).body.webhooks.find((w: any) => w.id === id).secrets;
    expect(both).toHaveLength(2);
    expect(both.every((s: any) => s.retiresAt === undefined)).toBe(true);
    expect((await deliver(id, first)).status).toBe(200);
    const audit = (await (await fetch(`${h.service.url}/ops/audit`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any;
    expect(audit.entries[0]).toMatchObject({ action: 'webhook.rotate.unknown', webhook: id });
    expect((await ops('DELETE', `/${id}`)).status).toBe(200);
  }, 20_000);

  it('the relay’s self-test proves nothing about Klaviyo; a delivery with the new secret retires the old one a minute later', async () => {
    const created = await ops('POST', '', { url: `${h.service.url}/webhooks/klaviyo`, topics: [UNSUB] });
    const id = created.body.webhook.id as string;
    const rotated = await ops('POST', `/${id}/rotate`, { grace: 3600, reveal: true });
    expect(rotated.status).toBe(200);
    const newSecret = rotated.body.secret.value as string;
    const retiresAt = () =>
      ops('GET', '/local').then((r) => Date.parse(r.body.webhooks.find((w: any) => w.id === id).secrets.find((s: any) => s.retiresAt).retiresAt));
    expect((await retiresAt()) - Date.now()).toBeGreaterThan(3500_000);

    const test = await ops('POST', `/${id}/test`, {});
    expect(test.body.test).toMatchObject({ ok: true, status: 200 });
    expect((await retiresAt()) - Date.now()).toBeGreaterThan(3500_000);

    expect((await deliver(id, newSecret)).status).toBe(200);
    expect((await retiresAt()) - Date.now()).toBeLessThanOrEqual(CONFIRMED_TAIL_MS);
    const counters = await redis.hgetall(statsKey(h.prefix, 'klaviyo-webhooks'));
    expect(counters).toMatchObject({ [`tested:${id}`]: '1', [`verified:${id}`]: '1' });

    const metrics = parseExposition(await (await fetch(`${h.service.url}/metrics`)).text());
    const sample = (name: string, labels: Record<string, string>) =>
      metrics.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(sample('relay_klaviyo_webhook_deliveries', { webhook: id, outcome: 'verified' })).toBe(1);
    expect(sample('relay_klaviyo_webhook_deliveries', { webhook: id, outcome: 'tested' })).toBe(1);
    expect(sample('relay_klaviyo_webhook_secrets', { webhook: id })).toBe(2);
    expect((await ops('DELETE', `/${id}`, {})).body).toEqual({ deleted: id, atKlaviyo: true });
  });

  it('403 permission_denied: a plain explanation, the lane keeps delivering', async () => {
    h.sim.setWebhookAccess(CONNECTION, false);
    try {
      const r = await ops('POST', '', { url: `${h.service.url}/webhooks/klaviyo`, topics: [UNSUB] });
      expect(r.status).toBe(403);
      expect(r.body.error).toBe('webhooks_not_enabled');
      expect(r.body.message).toMatch(/no access to system webhooks.*flow webhook.*\/webhooks\/klaviyo\/flows\/<name>/);
      // No secret left pending for a webhook that was never made.
      expect(await redis.hlen(webhookPendingKey(h.prefix))).toBe(0);
    } finally {
      h.sim.setWebhookAccess(CONNECTION, true);
    }
    const status = (await (await fetch(`${h.service.url}/ops/status`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any;
    expect(status.lanes[0].paused).toBeNull();
  });

  it('validates what it is given', async () => {
    const bad = await ops('POST', '', { url: 'ftp://relay.example.com/x', topics: ['not a topic'], lane: 'Nope!', extra: 1 });
    expect(bad.status).toBe(400);
    expect(bad.body.issues.map((i: any) => i.field).sort()).toEqual(['extra', 'lane', 'topics[0]', 'url']);
    expect((await ops('POST', '', { url: 'https://relay.example.com/webhooks/klaviyo', topics: [UNSUB], lane: 'nope' })).status).toBe(404);
    expect((await ops('POST', '/bad.id/rotate', {})).status).toBe(404);
    expect((await ops('POST', '/01ABC/rotate', { grace: -1 })).status).toBe(400);
    expect((await ops('GET', '?lane=Bad!')).status).toBe(400);
  });
});
