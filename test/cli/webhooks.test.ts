/**
 * Issue 17: `relay webhooks …` against the relay and the simulator over real sockets (the real bin
 * in child processes, real Redis under a unique prefix). The whole life of a subscription: create →
 * list shows it → a signed delivery (the simulator's own, after an unsubscribe) verifies and its
 * rule fires → rotate while deliveries stream, signed by the old secret during the switch and by
 * the new one after it, none refused → the old secret retires → delete. Then Klaviyo's limits
 * (1/s, 15/min) under a burst of commands, and the 403 of an account without system webhooks.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { deliverSigned } from '../support/klaviyo-delivery.ts';
import { CONNECTION, RELAY_KEY, startHarness, type Harness } from '../support/harness.ts';
import { noStack, type Run, runRelay } from '../support/relay-cli.ts';
import { waitUntil } from '../support/wait.ts';

const ADMIN = 'test-webhooks-admin-token';
const UNSUB = 'event:klaviyo.unsubscribed_from_email_marketing';
const METRIC = 'Unsubscribed (relay rule)';
/** After a PATCH, the simulator keeps signing with the old secret this long (Klaviyo's propagation). */
const SWITCH_MS = 1500;

let h: Harness;
let env: Record<string, string>;

const relay = (args: string[], extra: Record<string, string> = {}): Promise<Run> => runRelay(args, { ...env, ...extra }, 150_000);

/** The simulator fingerprints secrets with 8 hex digits of their SHA-256, the relay with 12. */
const simFp = (secret: string) => createHash('sha256').update(secret).digest('hex').slice(0, 8);

beforeAll(async () => {
  h = await startHarness({
    name: 'cliwh',
    env: { RELAY_ADMIN_TOKEN: ADMIN },
    sim: { webhookSecretSwitchMs: SWITCH_MS, webhookBatchMs: 20 },
    // No klaviyoWebhooks block: the webhooks made with the CLI need none.
    file: parseRelayConfig({ rules: [{ on: { topic: UNSUB }, do: [{ createEvent: { metric: METRIC } }] }] }, {}),
  });
  env = { RELAY_URL: h.service.url!, RELAY_ADMIN_TOKEN: ADMIN, RELAY_API_KEYS: RELAY_KEY };
});
afterAll(async () => {
  await h?.close();
});

/** A delivery signed with `secret`, sent to the relay as Klaviyo would. */
const signedDelivery = async (webhookId: string, secret: string): Promise<number> =>
  (await deliverSigned(h.service.url!, webhookId, secret, { topic: 'event:klaviyo.clicked_email' })).status;

describe('relay webhooks: a subscription from creation to deletion', () => {
  let id: string;
  let firstSecret: string;

  it('topics lists the account’s topics; create makes the secret, accepts it, creates the webhook', async () => {
    const [help, topics] = await Promise.all([relay(['webhooks', '--help']), relay(['webhooks', 'topics'])]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/relay webhooks rotate <id> \[--grace <duration>\]/);
    expect(topics.code).toBe(0);
    expect(topics.stdout.split('\n')).toContain(UNSUB);

    const url = `${h.service.url}/webhooks/klaviyo`;
    const created = await relay(['webhooks', 'create', '--url', url, '--topics', UNSUB, '--name', 'cli-test', '--show-secret', '--rules']);
    expect(created.stderr).not.toMatch(/^relay: /m); // a progress line may be there, on a slow machine
    expect(created.code).toBe(0);
    id = /Created webhook (\S+)/.exec(created.stdout)![1]!;
    firstSecret = new RegExp(`KLAVIYO_WEBHOOK_SECRET_${id}=(\\S+)`).exec(created.stdout)![1]!;
    expect(firstSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(created.stdout).toContain(`klaviyoWebhooks: { secrets: [env:KLAVIYO_WEBHOOK_SECRET_${id}] }`);
    expect(created.stdout).toContain(`- on: { topic: "${UNSUB}" }`);
    expect(created.stdout).toContain(`relay webhooks test ${id}`);
    // Klaviyo got the URL, the topics and the very secret the relay keeps.
    const [hook] = h.sim.webhooks(CONNECTION);
    expect(hook).toMatchObject({ id, name: 'cli-test', endpointUrl: url, topics: [UNSUB], enabled: true });
    expect(hook!.secrets.map((s) => s.key)).toEqual([firstSecret]);

    const audit = (await (await fetch(`${h.service.url}/ops/audit`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any;
    expect(audit.entries[0]).toMatchObject({ actor: 'admin', action: 'webhook.create', webhook: id, topics: [UNSUB] });
    expect(JSON.stringify(audit)).not.toContain(firstSecret);
  });

  it('list shows it, as this relay’s; test sends a signed delivery that reaches the relay and verifies', async () => {
    const [table, json, test] = await Promise.all([relay(['webhooks', 'list']), relay(['webhooks', 'list', '--json']), relay(['webhooks', 'test', id])]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+ENABLED\s+THIS RELAY\s+SECRETS\s+VERIFIED\s+REFUSED\s+URL\s+TOPICS$/m);
    expect(table.stdout).toMatch(
      new RegExp(`^${id}\\s+cli-test\\s+yes\\s+yes\\s+1\\s+\\d+\\s+0\\s+${h.service.url}/webhooks/klaviyo\\s+unsubscribed_from_email_marketing$`, 'm'),
    );
    const listed = JSON.parse(json.stdout).webhooks;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ id, ours: true, enabled: true, topics: [UNSUB], endpointUrl: `${new URL(h.service.url!).origin}/*****` });
    expect(JSON.stringify(listed)).not.toContain(firstSecret);
    expect(test.code).toBe(0);
    expect(test.stdout).toMatch(/✓ a signed delivery to \S+ reached this relay and verified \(200 in/);
  });

  it('an unsubscribe in Klaviyo: the simulator’s signed delivery verifies and the rule fires', async () => {
    const email = 'wh-unsub@example.com';
    const res = await h.post(
      '/v1/lists/WinBck/members',
      { id: 'wh-unsub-1', profiles: [{ email }], consent: { email: true }, global: true },
      { method: 'DELETE' },
    );
    expect(res.status).toBe(202);
    // An attempt is recorded when it leaves; its status once answered.
    const delivered = await waitUntil(
      'the simulator’s delivery to be answered',
      () => h.sim.webhookDeliveries().find((d) => d.webhookId === id && d.topics.includes(UNSUB) && d.status !== null),
      { timeoutMs: 15_000 },
    );
    expect(delivered.status).toBe(200);
    expect(JSON.parse(delivered.response!)).toMatchObject({ received: 1, enqueued: 1 });
    const events = await waitUntil(
      'the rule’s event at the simulator',
      () => {
        const e = h.sim.eventsFor(CONNECTION, { metric: METRIC });
        return e.length > 0 && e;
      },
      { timeoutMs: 15_000 },
    );
    expect(events[0]!.profileId).toBe(h.sim.profileByEmail(CONNECTION, email)!.id);
  }, 30_000);

  it('rotate: deliveries signed by the old secret during the switch and by the new one after it, none refused', async () => {
    const attempts: { at: number; status: number | null; secret: string }[] = [];
    let streaming = true;
    // A delivery every 100 ms for the whole rotation, signed as Klaviyo signs at that moment.
    const stream = (async () => {
      let n = 0;
      while (streaming) {
        const a = await h.sim.deliver(id, [{ topic: UNSUB, properties: { n: n++ } }], { email: `stream-${n}@example.com` });
        attempts.push({ at: a!.at, status: a!.status, secret: a!.secret });
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    const started = Date.now();
    // A grace long enough for the checks below on a loaded machine; short enough to watch it end.
    const rotated = await relay(['webhooks', 'rotate', id, '--grace', '15s', '--show-secret']);
    const patchedBy = Date.now();
    // Past the simulator's switch: Klaviyo signs with the new secret only.
    await new Promise((r) => setTimeout(r, SWITCH_MS + 1000));
    streaming = false;
    await stream;

    expect(rotated.stderr).not.toMatch(/^relay: /m);
    expect(rotated.code).toBe(0);
    const newSecret = new RegExp(`KLAVIYO_WEBHOOK_SECRET_${id}=(\\S+)`).exec(rotated.stdout)![1]!;
    expect(rotated.stdout).toMatch(/^Rotated webhook \S+: the relay accepts the new secret/m);
    expect(rotated.stdout).toMatch(/The old secret \(\w{12}\) is still accepted until/);
    expect(h.sim.webhooks(CONNECTION)[0]!.secrets.at(-1)!.key).toBe(newSecret);

    expect(attempts.every((a) => a.status === 200)).toBe(true);
    const oldAfterPatch = attempts.filter((a) => a.secret === simFp(firstSecret) && a.at > started);
    const newOnes = attempts.filter((a) => a.secret === simFp(newSecret));
    expect(oldAfterPatch.length, 'deliveries signed by the old secret during the switch').toBeGreaterThan(0);
    expect(newOnes.length, 'deliveries signed by the new secret after it').toBeGreaterThan(0);
    expect(Math.min(...newOnes.map((a) => a.at))).toBeGreaterThan(patchedBy - 5000);
    // Nothing refused by the relay; both secrets still accepted (the old one until the grace ends).
    const local = (await (await fetch(`${h.service.url}/ops/webhooks/local`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any;
    expect(local.webhooks[0].secrets).toHaveLength(2);
    const listed = JSON.parse((await relay(['webhooks', 'list', '--json'])).stdout).webhooks[0];
    expect(listed.deliveries.refused).toBe(0);
    expect(listed.deliveries.verified).toBeGreaterThanOrEqual(attempts.length);

    // The grace ends: the old secret is refused, the new one verifies.
    await waitUntil('the old secret to retire', async () => (await signedDelivery(id, firstSecret)) === 401, { timeoutMs: 30_000, intervalMs: 250 });
    expect(await signedDelivery(id, newSecret)).toBe(200);
    const after = JSON.parse((await relay(['webhooks', 'list', '--json'])).stdout).webhooks[0];
    expect(after.secrets).toHaveLength(1);
    expect(after.deliveries.refused).toBe(1);
    firstSecret = newSecret;
  }, 90_000);

  it('delete: gone at Klaviyo, its secrets forgotten here', async () => {
    const del = await relay(['webhooks', 'delete', id]);
    expect(del.code).toBe(0);
    expect(del.stdout).toContain(`Deleted webhook ${id}`);
    expect(h.sim.webhooks(CONNECTION)).toEqual([]);
    expect(await signedDelivery(id, firstSecret)).toBe(401);
    const [again, list, test] = await Promise.all([relay(['webhooks', 'delete', id]), relay(['webhooks', 'list']), relay(['webhooks', 'test', id])]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/No webhook \S+ at Klaviyo or here/);
    expect(list.stdout).toMatch(/^No webhooks in this Klaviyo account/m);
    expect(test.code).toBe(1);
    expect(test.stderr).toMatch(/holds no secret of webhook/);
    const actions = ((await (await fetch(`${h.service.url}/ops/audit`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any).entries.map(
      (e: any) => e.action,
    );
    expect(actions.slice(0, 3)).toEqual(['webhook.delete', 'webhook.rotate', 'webhook.create']);
    for (const r of [again, test]) noStack(r);
  });
});

describe('relay webhooks: Klaviyo’s limits and refusals', () => {
  it('usage errors, and an account without system-webhook access explained (flow webhooks suggested)', async () => {
    const [noUrl, noTopics, badGrace, http] = await Promise.all([
      relay(['webhooks', 'create', '--topics', UNSUB]),
      relay(['webhooks', 'create', '--url', 'https://relay.example.com/webhooks/klaviyo']),
      relay(['webhooks', 'rotate', 'X1', '--grace', 'forever']),
      relay(['webhooks', 'create', '--url', 'http://relay.example.com/webhooks/klaviyo', '--topics', UNSUB]),
    ]);
    expect([noUrl.code, noTopics.code, badGrace.code]).toEqual([2, 2, 2]);
    expect(noUrl.stderr).toMatch(/give --url/);
    expect(http.code).toBe(1);
    expect(http.stderr).toMatch(/url: must be https/);

    h.sim.setWebhookAccess(CONNECTION, false);
    try {
      const denied = await relay(['webhooks', 'list']);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/no access to system webhooks \(Klaviyo answered 403 permission_denied/);
      expect(denied.stderr).toMatch(/flow webhook/);
      noStack(denied);
    } finally {
      h.sim.setWebhookAccess(CONNECTION, true);
    }
  });

  it('a burst of 17 commands waits its turn: never more than 1/s nor 15/min at Klaviyo, no 429', async () => {
    const before = h.sim.stats().throttled.klaviyo;
    // Three at a time (more would only load the machine): the relay, not the test, must do the spacing.
    let next = 0;
    const results: Run[] = [];
    const worker = async () => {
      while (next < 17) {
        next++;
        results.push(await relay(['webhooks', 'list', '--json']));
      }
    };
    await Promise.all(Array.from({ length: 3 }, worker));
    expect(results).toHaveLength(17);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const peak = h.sim.stats().peaks.klaviyo[CONNECTION]!.get_webhooks!;
    expect(peak.sentPerSecond).toBe(1);
    expect(peak.sentPerMinute).toBeLessThanOrEqual(15);
    expect(h.sim.stats().throttled.klaviyo).toBe(before);
    expect(h.sim.requests({ endpoint: 'get_webhooks', status: 429 })).toEqual([]);
  }, 150_000);
});
