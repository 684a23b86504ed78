/** Issue #3: profiles, list memberships, consent and orders, end to end against the simulator. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CONNECTION, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ name: 'profiles' });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => h.sim.faults.clear());

const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 10)}`;
const profile = (email: string) => h.sim.profileByEmail(CONNECTION, email);

describe('POST /v1/profiles', () => {
  it('upserts with Klaviyo semantics (null clears, omitted keeps) and adds to lists after the upsert', async () => {
    const email = `${uniq('p')}@example.com`;
    const first = await h.post('/v1/profiles', { email, first_name: 'Ada', last_name: 'Lovelace', properties: { plan: 'pro' }, lists: ['ListA1', 'ListB2'] });
    expect(first).toMatchObject({ status: 202, body: { accepted: 1, duplicates: 0 } });
    const p = await waitUntil('the profile on both lists', () => {
      const x = profile(email);
      return x && x.lists.size === 2 && x;
    });
    expect(p.attributes).toMatchObject({ first_name: 'Ada', last_name: 'Lovelace' });
    expect([...p.lists].sort()).toEqual(['ListA1', 'ListB2']);
    // The list add came after the upsert, and needed no lookup: the upsert taught us the id.
    const calls = h.sim
      .requests({ account: CONNECTION })
      .filter((r) => JSON.stringify(r.body ?? '').includes(email) || JSON.stringify(r.body ?? '').includes(p.id));
    expect(calls.map((r) => r.endpoint)).toEqual(['create_or_update_profile', 'add_profiles_to_list', 'add_profiles_to_list']);

    await h.post('/v1/profiles', { email, last_name: null, title: 'Countess' });
    await waitUntil("the profile's title updated", () => profile(email)?.attributes.title === 'Countess');
    expect(profile(email)!.attributes).toMatchObject({ first_name: 'Ada', title: 'Countess' });
    expect(profile(email)!.attributes.last_name ?? null).toBeNull();
  });

  it('a batch with invalid items is refused whole, naming each bad one', async () => {
    const before = h.sim.requests().length;
    const res = await h.post('/v1/profiles', {
      profiles: [
        { email: 'ok@example.com' },
        { first_name: 'No identifier' },
        { email: 'x@example.com', phone_number: '12345' },
        { email: 'y@example.com', lists: ['bad/list'] },
      ],
    });
    expect(res.status).toBe(400);
    const fields = res.body.issues.map((i: { field: string }) => i.field);
    expect(fields).toEqual(expect.arrayContaining(['profiles[1]', 'profiles[2].phone_number', 'profiles[3].lists[0]']));
    expect(res.body.issues.map((i: { index: number }) => i.index)).not.toContain(0);
    await new Promise((r) => setTimeout(r, 200));
    const jobs = await h.queue('profiles').getJobs(['waiting', 'active', 'delayed', 'completed', 'failed']);
    expect(jobs.filter((j) => JSON.stringify(j.data).includes('ok@example.com'))).toEqual([]);
    expect(
      h.sim
        .requests()
        .slice(before)
        .some((r) => JSON.stringify(r.body ?? '').includes('ok@example.com')),
    ).toBe(false);
  });

  it('resolves a 409 duplicate_profile instead of failing', async () => {
    const a = `${uniq('a')}@example.com`;
    const phoneB = `+1555${Math.floor(1_000_000 + Math.random() * 8_999_999)}`;
    await h.post('/v1/profiles', { email: a, first_name: 'A' });
    await h.post('/v1/profiles', { email: `${uniq('b')}@example.com`, phone_number: phoneB });
    await waitUntil('the profile and the second phone number', () => profile(a) && h.sim.account(CONNECTION)!.index.phone_number.has(phoneB));
    // A's email with B's phone: Klaviyo answers 409; the relay imports without the phone.
    await h.post('/v1/profiles', { id: uniq('conflict'), email: a, phone_number: phoneB, first_name: 'Ada' });
    await waitUntil('the first name set', () => profile(a)?.attributes.first_name === 'Ada');
    expect(h.sim.requests({ endpoint: 'create_or_update_profile', status: 409 }).length).toBeGreaterThan(0);
    const failed = await h.queue('profiles').getJobCounts('failed');
    expect(failed.failed).toBe(0);
  });
});

describe('profile upserts on a backlog', () => {
  it('go out as profile-bulk-import-jobs, polled to completion; a duplicate_profile import error is resolved singly', async () => {
    const tag = uniq('bulk');
    const a = `${tag}-a@example.com`;
    const phoneB = `+1555${Math.floor(1_000_000 + Math.random() * 8_999_999)}`;
    await h.post('/v1/profiles', { email: a });
    await h.post('/v1/profiles', { email: `${tag}-b@example.com`, phone_number: phoneB });
    await waitUntil('the profile and the second phone number', () => profile(a) && h.sim.account(CONNECTION)!.index.phone_number.has(phoneB));
    const before = h.sim.requests({ endpoint: 'bulk_import_profiles' }).length;
    const profiles = Array.from({ length: 300 }, (_, i) => ({ email: `${tag}-${i}@example.com`, first_name: `P${i}`, properties: { n: i } }));
    profiles.push({ email: a, phone_number: phoneB, first_name: 'Conflicted', properties: { n: -1 } } as never);
    expect((await h.post('/v1/profiles', { profiles })).status).toBe(202);
    await waitUntil('every profile upserted', () => profiles.every((p) => profile(p.email)?.attributes.first_name === p.first_name), {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    expect(h.sim.requests({ endpoint: 'bulk_import_profiles' }).length).toBeGreaterThan(before);
    expect(h.sim.requests({ endpoint: 'get_bulk_import_profiles_job' }).length).toBeGreaterThan(0);
    // Far fewer calls than profiles.
    const imports = h.sim.requests({ endpoint: 'create_or_update_profile' }).filter((r) => JSON.stringify(r.body ?? '').includes(tag));
    expect(imports.length).toBeLessThan(20);
    await waitUntil('no active profile job', async () => (await h.queue('profiles').getJobCounts('active', 'waiting', 'delayed')).active === 0, {
      timeoutMs: 10_000,
    });
    expect((await h.queue('profiles').getJobCounts('failed')).failed).toBe(0);
  }, 30_000);
});

describe('/v1/lists/{listId}/members', () => {
  it('adds and removes members by identifier (ids resolved and cached)', async () => {
    const email = `${uniq('m')}@example.com`;
    expect((await h.post('/v1/lists/Members1/members', { profiles: [{ email }] })).status).toBe(202);
    await waitUntil('the profile on the list', () => profile(email)?.lists.has('Members1'));
    expect((await h.post('/v1/lists/Members1/members', { profiles: [{ email }] }, { method: 'DELETE' })).status).toBe(202);
    await waitUntil('the profile off the list', () => profile(email) && !profile(email)!.lists.has('Members1'));
    // Removing someone Klaviyo has never seen is nothing to do, not an error.
    await h.post('/v1/lists/Members1/members', { profiles: [{ email: `${uniq('ghost')}@example.com` }] }, { method: 'DELETE' });
    await new Promise((r) => setTimeout(r, 300));
    expect((await h.queue('profiles').getJobCounts('failed')).failed).toBe(0);
  });

  it('subscribes with consent, and an unsubscribe through the list route always names the list', async () => {
    const email = `${uniq('s')}@example.com`;
    const phone = `+1555${Math.floor(1_000_000 + Math.random() * 8_999_999)}`;
    expect(
      (await h.post('/v1/lists/News01/members', { profiles: [{ email, phone_number: phone }], consent: { email: true, sms: true }, source: 'Checkout' }))
        .status,
    ).toBe(202);
    await waitUntil('the email consent subscribed', () => profile(email)?.consent.email?.status === 'SUBSCRIBED');
    expect(profile(email)!.consent).toMatchObject({ email: { status: 'SUBSCRIBED', source: 'Checkout' }, sms: { status: 'SUBSCRIBED' } });
    expect((await h.post('/v1/lists/News01/members', { profiles: [{ email }], consent: { email: true } }, { method: 'DELETE' })).status).toBe(202);
    await waitUntil('the unsubscribe applied', () => h.sim.subscriptionOps(CONNECTION).some((o) => o.kind === 'unsubscribe' && o.email === email));
    const unsubscribeCalls = h.sim.requests({ endpoint: 'bulk_unsubscribe_profiles' });
    expect(unsubscribeCalls.length).toBeGreaterThan(0);
    for (const call of unsubscribeCalls) expect((call.body as any).data.relationships.list.data.id).toBeTruthy();
    expect(h.sim.subscriptionOps(CONNECTION).filter((o) => o.kind === 'unsubscribe' && o.global)).toEqual([]);
  });

  it('a global unsubscribe happens only when asked for, and is checked', async () => {
    const email = `${uniq('g')}@example.com`;
    const notAllowed = await h.post('/v1/lists/News01/members', { profiles: [{ email }], global: true });
    expect(notAllowed.status).toBe(400);
    expect(notAllowed.body.issues[0].field).toBe('global');
    expect((await h.post('/v1/lists/News01/members', { profiles: [{ email }], consent: { email: true }, global: true }, { method: 'DELETE' })).status).toBe(
      202,
    );
    await waitUntil('the unsubscribe applied', () => h.sim.subscriptionOps(CONNECTION).some((o) => o.email === email && o.kind === 'unsubscribe'));
    expect(h.sim.subscriptionOps(CONNECTION).find((o) => o.email === email)).toMatchObject({ listId: null, global: true });
  });

  it('rejects list ids that could steer a path, and consent without the identifier it needs', async () => {
    for (const bad of ['..%2Faccounts', 'a%20b', 'x.y']) {
      const res = await h.post(`/v1/lists/${bad}/members`, { profiles: [{ email: 'a@example.com' }] });
      expect(res.status).toBe(400);
      expect(res.body.issues[0].field).toBe('listId');
    }
    const res = await h.post('/v1/lists/News01/members', { profiles: [{ email: 'a@example.com' }], consent: { sms: true } });
    expect(res.status).toBe(400);
    expect(res.body.issues[0]).toMatchObject({ field: 'profiles[0].phone_number', index: 0 });
  });

  it('per-profile order: subscribe, unsubscribe, subscribe in quick succession ends subscribed, while 1,000 other profiles flow', async () => {
    const email = `${uniq('order')}@example.com`;
    const others = Array.from({ length: 1000 }, (_, i) => ({ email: `other-${i}-${uniq('o')}@example.com` }));
    const bulk = h.post('/v1/lists/Crowd1/members', { profiles: others, consent: { email: true } });
    const sub = { profiles: [{ email }], consent: { email: true } };
    expect((await h.post('/v1/lists/Order1/members', { ...sub, id: uniq('r1') })).status).toBe(202);
    expect((await h.post('/v1/lists/Order1/members', { ...sub, id: uniq('r2') }, { method: 'DELETE' })).status).toBe(202);
    expect((await h.post('/v1/lists/Order1/members', { ...sub, id: uniq('r3') })).status).toBe(202);
    expect((await bulk).status).toBe(202);
    await waitUntil('three subscription operations', () => h.sim.subscriptionOps(CONNECTION).filter((o) => o.email === email).length === 3, {
      timeoutMs: 20_000,
    });
    const ops = h.sim.subscriptionOps(CONNECTION).filter((o) => o.email === email);
    expect(ops.map((o) => o.kind)).toEqual(['subscribe', 'unsubscribe', 'subscribe']);
    expect(profile(email)!.lists.has('Order1')).toBe(true);
    expect(profile(email)!.consent.email?.status).toBe('SUBSCRIBED');
    await waitUntil('every other profile subscribed', () => others.every((o) => profile(o.email)?.consent.email?.status === 'SUBSCRIBED'), {
      timeoutMs: 20_000,
    });
  });
});

describe('POST /v1/orders', () => {
  const order = (id: string, email: string, extra: Record<string, unknown> = {}) => ({
    id,
    profile: { email },
    value: 60,
    currency: 'USD',
    time: '2026-11-20T10:00:00Z',
    discount_codes: ['WELCOME'],
    items: [
      { product_id: 'P1', sku: 'SKU-1', name: 'Tea', quantity: 2, price: 10, categories: ['Drinks'] },
      { product_id: 'P2', name: 'Cup', quantity: 1, price: 30, url: 'https://shop.example/cup', categories: ['Kitchen'] },
      { product_id: 'P1', sku: 'SKU-1', name: 'Tea', quantity: 1, price: 10, categories: ['Drinks'] },
    ],
    ...extra,
  });

  it('an order with 3 lines delivered twice (client retry) and replayed once is exactly 4 events', async () => {
    const id = uniq('order');
    const email = `${id}@example.com`;
    // The first attempt fails (5xx): the job waits for its retry with its items, which the replay
    // below takes (a completed job keeps no payload, issue 18).
    h.sim.faults.add({ match: { endpoint: 'create_event' }, status: 500, times: 4 });
    const first = await h.post('/v1/orders', order(id, email));
    expect(first).toMatchObject({ status: 202, body: { accepted: 1, ids: [id], events: 4, duplicates: 0 } });
    const retry = await h.post('/v1/orders', order(id, email));
    expect(retry.body).toMatchObject({ events: 4, duplicates: 4 });
    const q = h.queue('events');
    const jobs = await waitUntil('the job, with its items, before it completes', async () => {
      const held = (await q.getJobs(['delayed', 'waiting', 'active'])).filter((j) => JSON.stringify(j.data).includes(email));
      return held.length > 0 && held.flatMap((j) => j.data.items).length === 4 && held;
    });
    await waitUntil('four events delivered', () => h.sim.eventsFor(CONNECTION, { email }).length === 4, { timeoutMs: 20_000 });

    // Replay: the same items through the queue again, as replaying a dead letter does.
    const items = jobs.flatMap((j) => j.data.items);
    expect(items).toHaveLength(4);
    await q.add('events', { ...jobs[0]!.data, items }, { jobId: `replay-${id}` });
    await waitUntil('the replayed job finished', async () => (await q.getJob(`replay-${id}`))?.finishedOn, { timeoutMs: 10_000 });
    expect(await (await q.getJob(`replay-${id}`))!.getState()).toBe('completed');

    const events = h.sim.eventsFor(CONNECTION, { email });
    expect(events).toHaveLength(4);
    expect(events.map((e) => e.metric).sort()).toEqual(['Ordered Product', 'Ordered Product', 'Ordered Product', 'Placed Order']);
    expect(new Set(events.map((e) => e.uniqueId)).size).toBe(4);
    const placed = events.find((e) => e.metric === 'Placed Order')!;
    expect(placed).toMatchObject({
      value: 60,
      valueCurrency: 'USD',
      properties: { OrderId: id, ItemNames: ['Tea', 'Cup', 'Tea'], Categories: ['Drinks', 'Kitchen'], DiscountCode: 'WELCOME' },
    });
    expect(h.sim.account(CONNECTION)!.duplicateEvents).toBeGreaterThanOrEqual(1);
  });

  it('a later status adds only its event', async () => {
    const id = uniq('order');
    const email = `${id}@example.com`;
    await h.post('/v1/orders', order(id, email));
    await waitUntil('four events delivered', () => h.sim.eventsFor(CONNECTION, { email }).length === 4);
    const fulfilled = await h.post('/v1/orders', order(id, email, { status: 'fulfilled' }));
    expect(fulfilled.body).toMatchObject({ events: 5, duplicates: 4 });
    await waitUntil('the fulfilled order event', () => h.sim.eventsFor(CONNECTION, { email, metric: 'Fulfilled Order' }).length === 1);
    expect(h.sim.eventsFor(CONNECTION, { email })).toHaveLength(5);
  });
});
