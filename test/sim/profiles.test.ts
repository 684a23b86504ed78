import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../src/sim/index.ts';
import { direct, gateway, profileImportBody } from './helpers.ts';

let srv: RunningSimulator;
let call: ReturnType<typeof gateway>;
const ACCOUNT = 'conn-profiles';

beforeAll(async () => {
  srv = await startSimulator({ port: 0, klaviyoOrigin: 'https://a.klaviyo.com' });
  call = gateway(srv.url, { connection: ACCOUNT });
});
afterAll(() => srv.close());
beforeEach(() => srv.sim.reset());

describe('create_or_update_profile (profile-import)', () => {
  it('answers 201 when it creates and 200 when it updates', async () => {
    const created = await call('/api/profile-import', {
      body: profileImportBody({ email: 'ada@example.com', first_name: 'Ada', last_name: 'Lovelace', properties: { plan: 'pro' } }),
    });
    expect(created.status).toBe(201);
    expect(created.json.data).toMatchObject({
      type: 'profile',
      attributes: { email: 'ada@example.com', first_name: 'Ada', last_name: 'Lovelace', properties: { plan: 'pro' } },
    });
    const id = created.json.data.id as string;
    expect(id).toMatch(/^[0-9A-Z]{26}$/);
    expect(created.json.data.links.self).toBe(`https://a.klaviyo.com/api/profiles/${id}/`);

    const updated = await call('/api/profile-import', { body: profileImportBody({ email: 'ada@example.com', first_name: 'Augusta' }) });
    expect(updated.status).toBe(200);
    expect(updated.json.data.id).toBe(id);
    expect(srv.sim.account(ACCOUNT)!.profiles.size).toBe(1);
  });

  it('null clears an attribute, omitting it leaves it unchanged, properties merge', async () => {
    await call('/api/profile-import', {
      body: profileImportBody({ email: 'ada@example.com', first_name: 'Ada', last_name: 'Lovelace', title: 'Countess', properties: { a: 1, b: 2 } }),
    });
    const res = await call('/api/profile-import', {
      body: profileImportBody({ email: 'ada@example.com', last_name: null, properties: { b: 3, c: 4 } }),
    });
    expect(res.status).toBe(200);
    expect(res.json.data.attributes).toMatchObject({ first_name: 'Ada', last_name: null, title: 'Countess', properties: { a: 1, b: 3, c: 4 } });
    const profile = srv.sim.profileByEmail(ACCOUNT, 'ada@example.com')!;
    expect(profile.attributes.last_name).toBeUndefined();
    expect(profile.attributes.first_name).toBe('Ada');
  });

  it('supports meta.patch_properties', async () => {
    await call('/api/profile-import', { body: profileImportBody({ email: 'ada@example.com', properties: { tags: ['a'], gone: 1 } }) });
    const body = { data: { ...profileImportBody({ email: 'ada@example.com' }).data, meta: { patch_properties: { append: { tags: 'b' }, unset: 'gone' } } } };
    const res = await call('/api/profile-import', { body });
    expect(res.json.data.attributes.properties).toEqual({ tags: ['a', 'b'] });
  });

  it('answers 409 duplicate_profile when the identifiers belong to two profiles', async () => {
    const a = await call('/api/profile-import', { body: profileImportBody({ email: 'a@example.com' }) });
    const b = await call('/api/profile-import', { body: profileImportBody({ phone_number: '+15005550006' }) });
    const res = await call('/api/profile-import', { body: profileImportBody({ email: 'a@example.com', phone_number: '+15005550006' }) });
    expect(res.status).toBe(409);
    expect(res.json.errors[0]).toMatchObject({ status: 409, code: 'duplicate_profile', meta: { duplicate_profile_id: b.json.data.id } });
    expect(srv.sim.account(ACCOUNT)!.profiles.get(a.json.data.id)!.phone_number).toBeNull();
  });

  it('needs an identifier and valid email/phone', async () => {
    const none = await call('/api/profile-import', { body: profileImportBody({ first_name: 'Nobody' }) });
    expect(none.status).toBe(400);
    expect(none.json.errors[0].source.pointer).toBe('/data/attributes');
    const badPhone = await call('/api/profile-import', { body: profileImportBody({ phone_number: '0044 20 7946 0000' }) });
    expect(badPhone.status).toBe(400);
    expect(badPhone.json.errors[0].source.pointer).toBe('/data/attributes/phone_number');
  });

  it('404s an unknown profile id', async () => {
    const res = await call('/api/profile-import', { body: profileImportBody({ first_name: 'X' }, '01AAAAAAAAAAAAAAAAAAAAAAAA') });
    expect(res.status).toBe(404);
  });
});

describe('create_profile and update_profile', () => {
  it('creates with 201, then 409 duplicate_profile naming the existing id', async () => {
    const created = await call('/api/profiles', { body: profileImportBody({ email: 'ada@example.com' }) });
    expect(created.status).toBe(201);
    const dup = await call('/api/profiles', { body: profileImportBody({ email: 'ADA@example.com', first_name: 'x' }) });
    expect(dup.status).toBe(409);
    expect(dup.json.errors[0]).toMatchObject({
      code: 'duplicate_profile',
      title: 'Conflict.',
      detail: 'A profile already exists with one of these identifiers.',
      source: { pointer: '/data/attributes' },
      meta: { duplicate_profile_id: created.json.data.id },
    });
  });

  it('updates with PATCH (200) and 404s an unknown id', async () => {
    const created = await call('/api/profiles', { body: profileImportBody({ email: 'ada@example.com', first_name: 'Ada' }) });
    const id = created.json.data.id as string;
    const patched = await call(`/api/profiles/${id}`, { method: 'PATCH', body: profileImportBody({ first_name: 'Augusta' }, id) });
    expect(patched.status).toBe(200);
    expect(patched.json.data.attributes).toMatchObject({ email: 'ada@example.com', first_name: 'Augusta' });
    const missing = await call('/api/profiles/01ZZZZZZZZZZZZZZZZZZZZZZZZ', {
      method: 'PATCH',
      body: profileImportBody({ first_name: 'Z' }, '01ZZZZZZZZZZZZZZZZZZZZZZZZ'),
    });
    expect(missing.status).toBe(404);
    expect(missing.json.errors[0].code).toBe('not_found');
  });
});

describe('get_profiles', () => {
  async function seed(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      await call('/api/profile-import', {
        body: profileImportBody({ email: `p${i}@example.com`, phone_number: `+1500555${String(i).padStart(4, '0')}`, external_id: `ext-${i}` }),
      });
    }
  }

  it('filters with equals on email, phone_number and external_id, and any on email', async () => {
    await seed(5);
    const q = (f: string) => call(`/api/profiles?filter=${encodeURIComponent(f)}`);
    expect((await q('equals(email,"p3@example.com")')).json.data.map((p: { attributes: { email: string } }) => p.attributes.email)).toEqual(['p3@example.com']);
    expect((await q('equals(phone_number,"+15005550002")')).json.data[0].attributes.email).toBe('p2@example.com');
    expect((await q("equals(external_id,'ext-4')")).json.data[0].attributes.email).toBe('p4@example.com');
    expect((await q('any(email,["p1@example.com","p4@example.com","none@example.com"])')).json.data).toHaveLength(2);
    expect((await q('equals(email,"none@example.com")')).json.data).toEqual([]);
  });

  it('refuses an unsupported filter with 400 naming the parameter', async () => {
    const res = await call(`/api/profiles?filter=${encodeURIComponent('greater-than(created,2024-01-01T00:00:00+00:00)')}`);
    expect(res.status).toBe(400);
    expect(res.json.errors[0].source).toEqual({ parameter: 'filter' });
  });

  it('pages through gateway results with absolute links.next on klaviyoOrigin', async () => {
    await seed(5);
    const first = await call('/api/profiles?page[size]=2');
    expect(first.status).toBe(200);
    expect(first.json.data).toHaveLength(2);
    const next = first.json.links.next as string;
    expect(next.startsWith('https://a.klaviyo.com/api/profiles/?')).toBe(true);
    expect(first.json.links.prev).toBeUndefined();

    // A client following it through the gateway swaps the origin for {gateway}/klaviyo.
    const seen = first.json.data.map((p: { id: string }) => p.id);
    let link: string | undefined = next;
    while (link) {
      const u = new URL(link);
      const page = await call(`${u.pathname}${u.search}`);
      expect(page.status).toBe(200);
      seen.push(...page.json.data.map((p: { id: string }) => p.id));
      link = page.json.links.next;
    }
    expect(seen).toHaveLength(5);
    expect(new Set(seen).size).toBe(5);
  });

  it('in direct mode links point at the request origin', async () => {
    const d = direct(srv.url, 'pk_direct_links');
    for (let i = 0; i < 3; i++) await d('/api/profile-import', { body: profileImportBody({ email: `d${i}@example.com` }) });
    const first = await d('/api/profiles?page[size]=2');
    expect(first.json.links.next.startsWith(`${srv.url}/api/profiles/?`)).toBe(true);
    const u = new URL(first.json.links.next);
    const second = await d(`${u.pathname}${u.search}`);
    expect(second.json.data).toHaveLength(1);
    expect(second.json.links.next).toBeUndefined();
    expect(second.json.links.prev.startsWith(`${srv.url}/api/profiles/`)).toBe(true);
  });

  it('validates page[size] (1–100)', async () => {
    expect((await call('/api/profiles?page[size]=101')).status).toBe(400);
    expect((await call('/api/profiles?page[size]=0')).status).toBe(400);
    expect((await call('/api/profiles?page[size]=100')).status).toBe(200);
  });
});

describe('get_accounts', () => {
  it('describes the account behind the connection', async () => {
    const res = await call('/api/accounts');
    expect(res.status).toBe(200);
    expect(res.json.data[0]).toMatchObject({
      type: 'account',
      id: ACCOUNT,
      attributes: { test_account: true, contact_information: { default_sender_email: expect.any(String) }, timezone: 'UTC' },
    });
  });
});

describe('bulk_import_profiles', () => {
  const jobBody = (profiles: Record<string, unknown>[], lists: string[] = []) => ({
    data: {
      type: 'profile-bulk-import-job',
      attributes: { profiles: { data: profiles.map((attributes) => ({ type: 'profile', attributes })) } },
      ...(lists.length ? { relationships: { lists: { data: lists.map((id) => ({ type: 'list', id })) } } } : {}),
    },
  });

  it('answers 202 with a queued job, then completes it with per-profile errors and list membership', async () => {
    const res = await call('/api/profile-bulk-import-jobs', {
      body: jobBody([{ email: 'a@example.com' }, { email: 'bad-email' }, { first_name: 'no id' }, { email: 'b@example.com', first_name: 'B' }], ['ListAbc123']),
    });
    expect(res.status).toBe(202);
    expect(res.json.data).toMatchObject({ type: 'profile-bulk-import-job', attributes: { status: 'queued', total_count: 4 } });
    const jobId = res.json.data.id as string;

    const job = await call(`/api/profile-bulk-import-jobs/${jobId}`);
    expect(job.status).toBe(200);
    expect(job.json.data.attributes).toMatchObject({ status: 'complete', total_count: 4, completed_count: 2, failed_count: 2 });

    const errors = await call(`/api/profile-bulk-import-jobs/${jobId}/import-errors`);
    expect(errors.status).toBe(200);
    expect(errors.json.data.map((e: { attributes: { source: { pointer: string } } }) => e.attributes.source.pointer)).toEqual([
      '/data/attributes/profiles/data/1/attributes/email',
      '/data/attributes/profiles/data/2/attributes',
    ]);
    expect(errors.json.data[0].attributes.original_payload).toEqual({ email: 'bad-email' });
    expect(errors.json.data[1].meta.index).toBe(2);

    const account = srv.sim.account(ACCOUNT)!;
    expect(account.lists.get('ListAbc123')?.size).toBe(2);
    expect(srv.sim.profileByEmail(ACCOUNT, 'b@example.com')?.attributes.first_name).toBe('B');
  });

  it('404s an unknown job', async () => {
    expect((await call('/api/profile-bulk-import-jobs/01UNKNOWNJOB0000000000000')).status).toBe(404);
  });

  it('processes after bulkImportDelayMs when configured', async () => {
    const slow = await startSimulator({ port: 0, bulkImportDelayMs: 150 });
    try {
      const c = gateway(slow.url, { connection: 'slow' });
      const res = await c('/api/profile-bulk-import-jobs', { body: jobBody([{ email: 'a@example.com' }]) });
      const jobId = res.json.data.id as string;
      expect((await c(`/api/profile-bulk-import-jobs/${jobId}`)).json.data.attributes.status).toBe('queued');
      expect(slow.sim.profileByEmail('slow', 'a@example.com')).toBeUndefined();
      await slow.sim.waitFor(() => slow.sim.profileByEmail('slow', 'a@example.com'), 2000);
      expect((await c(`/api/profile-bulk-import-jobs/${jobId}`)).json.data.attributes.status).toBe('complete');
    } finally {
      await slow.close();
    }
  });
});
