import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../src/sim/index.ts';
import { gateway, listMembersBody, profileImportBody, subscribeBody, unsubscribeBody } from './helpers.ts';

let srv: RunningSimulator;
let call: ReturnType<typeof gateway>;
const ACCOUNT = 'conn-lists';
const LIST = 'Y6nRLr';

beforeAll(async () => {
  srv = await startSimulator({ port: 0 });
  call = gateway(srv.url, { connection: ACCOUNT });
});
afterAll(() => srv.close());
beforeEach(() => srv.sim.reset());

async function profileId(email: string): Promise<string> {
  const res = await call('/api/profile-import', { body: profileImportBody({ email }) });
  return res.json.data.id as string;
}

describe('list membership', () => {
  it('adds and removes profiles by id (204) without touching consent', async () => {
    const a = await profileId('a@example.com');
    const b = await profileId('b@example.com');
    const added = await call(`/api/lists/${LIST}/relationships/profiles`, { body: listMembersBody([a, b]) });
    expect(added.status).toBe(204);
    expect(added.text).toBe('');
    expect([...srv.sim.account(ACCOUNT)!.lists.get(LIST)!]).toEqual([a, b]);
    expect(srv.sim.account(ACCOUNT)!.profiles.get(a)!.lists.has(LIST)).toBe(true);

    const removed = await call(`/api/lists/${LIST}/relationships/profiles`, { method: 'DELETE', body: listMembersBody([a]) });
    expect(removed.status).toBe(204);
    expect([...srv.sim.account(ACCOUNT)!.lists.get(LIST)!]).toEqual([b]);
    expect(srv.sim.account(ACCOUNT)!.profiles.get(a)!.lists.has(LIST)).toBe(false);
    expect(srv.sim.account(ACCOUNT)!.profiles.get(a)!.consent).toEqual({});
  });

  it('rejects the whole request when a profile id is unknown, pointing at it', async () => {
    const a = await profileId('a@example.com');
    const res = await call(`/api/lists/${LIST}/relationships/profiles`, { body: listMembersBody([a, '01NOPE0000000000000000000', a]) });
    expect(res.status).toBe(400);
    expect(res.json.errors).toHaveLength(1);
    expect(res.json.errors[0].source.pointer).toBe('/data/1/id');
    expect(res.json.errors[0].detail).toContain('01NOPE0000000000000000000');
    expect(srv.sim.account(ACCOUNT)!.lists.get(LIST)).toBeUndefined();
  });

  it('404s an id that does not look like a list id', async () => {
    const a = await profileId('a@example.com');
    expect((await call('/api/lists/x!/relationships/profiles', { body: listMembersBody([a]) })).status).toBe(404);
  });

  it('refuses more than 1000 ids', async () => {
    const ids = Array.from({ length: 1001 }, (_, i) => `01ID${i}`);
    const res = await call(`/api/lists/${LIST}/relationships/profiles`, { body: listMembersBody(ids) });
    expect(res.status).toBe(400);
    expect(res.json.errors[0].source.pointer).toBe('/data');
  });
});

describe('subscriptions', () => {
  it('subscribes without a list: account-wide consent, source recorded, profile created', async () => {
    const res = await call('/api/profile-subscription-bulk-create-jobs', {
      body: subscribeBody([{ email: 'a@example.com', phone: '+15005550006', channels: ['email', 'sms'] }], { source: 'Checkout' }),
    });
    expect(res.status).toBe(202);
    expect(res.text).toBe('');
    const p = srv.sim.profileByEmail(ACCOUNT, 'a@example.com')!;
    expect(p.consent.email).toMatchObject({ status: 'SUBSCRIBED', source: 'Checkout', listId: null });
    expect(p.consent.sms).toMatchObject({ status: 'SUBSCRIBED' });
    expect(srv.sim.subscriptionOps(ACCOUNT)).toEqual([
      expect.objectContaining({ kind: 'subscribe', listId: null, global: true, email: 'a@example.com', channels: ['email', 'sms'] }),
    ]);
  });

  it('subscribing with a list also adds the profile to the list', async () => {
    await call('/api/profile-subscription-bulk-create-jobs', { body: subscribeBody([{ email: 'a@example.com' }], { listId: LIST }) });
    const p = srv.sim.profileByEmail(ACCOUNT, 'a@example.com')!;
    expect(p.lists.has(LIST)).toBe(true);
    expect(p.consent.email?.listId).toBe(LIST);
    expect(srv.sim.subscriptionOps(ACCOUNT)[0]).toMatchObject({ kind: 'subscribe', listId: LIST, global: false });
  });

  it('unsubscribing with a list: members leave the list (not global); non-members are unsubscribed globally', async () => {
    await call('/api/profile-subscription-bulk-create-jobs', { body: subscribeBody([{ email: 'in@example.com' }], { listId: LIST }) });
    await call('/api/profile-subscription-bulk-create-jobs', { body: subscribeBody([{ email: 'out@example.com' }]) });
    const res = await call('/api/profile-subscription-bulk-delete-jobs', {
      body: unsubscribeBody([{ email: 'in@example.com' }, { email: 'out@example.com' }], { listId: LIST }),
    });
    expect(res.status).toBe(202);

    const member = srv.sim.profileByEmail(ACCOUNT, 'in@example.com')!;
    expect(member.lists.has(LIST)).toBe(false);
    expect(member.consent.email?.status).toBe('SUBSCRIBED');
    expect(member.listSuppressions).toEqual([expect.objectContaining({ listId: LIST, channel: 'email' })]);

    const outsider = srv.sim.profileByEmail(ACCOUNT, 'out@example.com')!;
    expect(outsider.consent.email?.status).toBe('UNSUBSCRIBED');

    const unsubscribes = srv.sim.subscriptionOps(ACCOUNT).filter((op) => op.kind === 'unsubscribe');
    expect(unsubscribes.map((op) => [op.email, op.listId, op.global])).toEqual([
      ['in@example.com', LIST, false],
      ['out@example.com', LIST, true],
    ]);
  });

  it('unsubscribing without a list is global', async () => {
    await call('/api/profile-subscription-bulk-create-jobs', { body: subscribeBody([{ phone: '+15005550006', channels: ['sms'] }]) });
    await call('/api/profile-subscription-bulk-delete-jobs', { body: unsubscribeBody([{ phone: '+15005550006', channels: ['sms'] }]) });
    const op = srv.sim.subscriptionOps(ACCOUNT).find((o) => o.kind === 'unsubscribe')!;
    expect(op).toMatchObject({ listId: null, global: true, phone_number: '+15005550006', channels: ['sms'] });
    expect(srv.sim.account(ACCOUNT)!.profiles.get(op.profileId)!.consent.sms?.status).toBe('UNSUBSCRIBED');
  });

  it('subscribing again lifts the list suppression', async () => {
    await call('/api/profile-subscription-bulk-create-jobs', { body: subscribeBody([{ email: 'a@example.com' }], { listId: LIST }) });
    await call('/api/profile-subscription-bulk-delete-jobs', { body: unsubscribeBody([{ email: 'a@example.com' }], { listId: LIST }) });
    await call('/api/profile-subscription-bulk-create-jobs', { body: subscribeBody([{ email: 'a@example.com' }], { listId: LIST }) });
    const p = srv.sim.profileByEmail(ACCOUNT, 'a@example.com')!;
    expect(p.listSuppressions).toEqual([]);
    expect(p.lists.has(LIST)).toBe(true);
  });

  it('enforces 1000 profiles per subscribe and 100 per unsubscribe', async () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => ({ email: `u${i}@example.com` }));
    expect((await call('/api/profile-subscription-bulk-create-jobs', { body: subscribeBody(many(1001)) })).status).toBe(400);
    expect((await call('/api/profile-subscription-bulk-delete-jobs', { body: unsubscribeBody(many(101)) })).status).toBe(400);
    expect((await call('/api/profile-subscription-bulk-delete-jobs', { body: unsubscribeBody(many(100)) })).status).toBe(202);
    expect(srv.sim.subscriptionOps(ACCOUNT)).toHaveLength(100);
  });

  it('needs the identifier of each channel', async () => {
    const res = await call('/api/profile-subscription-bulk-create-jobs', {
      body: subscribeBody([{ email: 'a@example.com' }, { email: 'b@example.com', channels: ['sms'] }]),
    });
    expect(res.status).toBe(400);
    expect(res.json.errors[0].source.pointer).toBe('/data/attributes/profiles/data/1/attributes/phone_number');
    expect(srv.sim.account(ACCOUNT)).toBeUndefined();
  });
});
