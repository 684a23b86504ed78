/**
 * Issue 16, encryption at rest: with RELAY_PAYLOAD_KEYS set, nothing Redis holds under the relay's
 * prefix — job hashes waiting and completed, dead letters, every other key, values decoded —
 * contains an email in plain text, and the work is still delivered (the workers open it). Keys
 * rotate: a payload sealed with an older key listed second is still opened.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpPrefix, keysHolding } from '../support/redis-dump.ts';
import { CONNECTION, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';

const ADMIN = 'payload-encryption-admin';
const REJECTED = 'Rejected Encrypted';
const OLD_KEY = `k1:${randomBytes(32).toString('base64')}`;
const NEW_KEY = `k2:${randomBytes(32).toString('base64')}`;
let h: Harness;

const tag = () => Math.random().toString(36).slice(2, 8);

beforeAll(async () => {
  h = await startHarness({ name: 'encrypt', env: { RELAY_ADMIN_TOKEN: ADMIN, RELAY_PAYLOAD_KEYS: OLD_KEY } });
  h.sim.faults.add({ rejectItems: { metrics: [REJECTED], detail: 'Simulated: rejected' } });
});
afterAll(async () => {
  await h?.close();
});

const ops = async (path: string, method = 'GET') => {
  const res = await fetch(`${h.service.url}/ops${path}`, { method, headers: { authorization: `Bearer ${ADMIN}` } });
  return (await res.json()) as any;
};

describe('payload encryption at rest', () => {
  it('no plaintext email anywhere in Redis, queued, delivered or dead-lettered; delivery still works', async () => {
    const a = `sealed-a-${tag()}@example.com`;
    const b = `sealed-b-${tag()}@example.com`;
    const c = `sealed-c-${tag()}@example.com`;
    expect((await h.post('/v1/events', { id: `d-${tag()}`, event: 'Viewed Product', profile: { email: a }, properties: { contact: a } })).status).toBe(202);
    expect((await h.post('/v1/profiles', { id: `p-${tag()}`, email: b, first_name: 'Bee', lists: ['LISTENC1'] })).status).toBe(202);
    expect((await h.post('/v1/events', { id: `r-${tag()}`, event: REJECTED, profile: { email: c } })).status).toBe(202);
    await waitUntil(
      'delivered and dead-lettered',
      async () =>
        h.sim.eventsFor(CONNECTION, { email: a }).length === 1 &&
        h.sim.profileByEmail(CONNECTION, b)?.lists.has('LISTENC1') === true &&
        (await ops('/dead-letters')).total === 1,
    );

    // Queued and not yet delivered too.
    await ops('/lanes/default/pause', 'POST');
    const q = `sealed-q-${tag()}@example.com`;
    expect((await h.post('/v1/events', { id: `q-${tag()}`, event: 'Started Checkout', profile: { email: q } })).status).toBe(202);
    expect((await h.post('/v1/suppressions', { emails: [q] })).status).toBe(202);

    const dump = await dumpPrefix(h.prefix);
    expect(dump.some((d) => d.text.includes('enc1.k1.'))).toBe(true);
    for (const email of [a, b, c, q]) expect(keysHolding(dump, email)).toEqual([]);
    // Not even a fragment: nothing that looks like an address of the test's domain.
    expect(dump.filter((d) => d.text.includes('@example.com')).map((d) => d.key)).toEqual([]);

    // Ops still read it: the dead letter shows its event (masked, as always without RELAY_DASHBOARD_PII).
    const dead = (await ops('/dead-letters')).deadLetters[0];
    const shown = await ops(`/dead-letters/${dead.ref}`);
    expect(JSON.stringify(shown.data)).toContain(REJECTED);

    await ops('/lanes/default/resume', 'POST');
    await waitUntil(
      'the queued event and suppression delivered',
      () => h.sim.eventsFor(CONNECTION, { email: q }).length === 1 && h.sim.privacyOps(CONNECTION).some((o) => o.kind === 'suppress' && o.email === q),
    );

    // Erasure sees through the seal: it opens each payload to find the person.
    const erased = await h.post('/v1/privacy/deletions', { email: c });
    expect(erased.body.erasures[0].removed).toMatchObject({ deadLetters: 1 });
    expect((await ops('/dead-letters')).total).toBe(0);
  });

  it('a new key seals new work while the old one still opens what it sealed (rotation)', async () => {
    // Workers stopped: work is sealed with k1 and stays queued; then the relay restarts with k2 first, k1 second.
    const prefix = `enc-rot-${tag()}`;
    const first = await startHarness({ name: prefix, env: { RELAY_PAYLOAD_KEYS: OLD_KEY }, workers: false });
    const email = `rotated-${tag()}@example.com`;
    let second: Harness | undefined;
    try {
      expect((await first.post('/v1/events', { id: `rot-${tag()}`, event: 'Placed Order', profile: { email } })).status).toBe(202);
      const sealed = await dumpPrefix(first.prefix);
      expect(sealed.some((d) => d.text.includes('enc1.k1.'))).toBe(true);
      expect(keysHolding(sealed, email)).toEqual([]);
      second = await startHarness({
        name: prefix,
        env: { RELAY_PAYLOAD_KEYS: `${NEW_KEY},${OLD_KEY}`, RELAY_QUEUE_PREFIX: first.prefix, MATON_GATEWAY_URL: first.simUrl },
        api: true,
      });
      await waitUntil('the k1-sealed event delivered by a relay sealing with k2', () => first.sim.eventsFor(CONNECTION, { email }).length === 1);
      expect((await second.post('/v1/events', { id: `rot2-${tag()}`, event: 'Placed Order', profile: { email: `n-${email}` } })).status).toBe(202);
      await waitUntil('the k2-sealed event delivered', () => first.sim.eventsFor(CONNECTION, { email: `n-${email}` }).length === 1);
    } finally {
      await second?.close();
      await first.close();
    }
  });
});
