/**
 * The simulator's privacy endpoints (issue 16): data-privacy-deletion-jobs and the profile
 * suppression jobs — bodies validated against Klaviyo's OpenAPI, their rules (exactly one
 * identifier; ≤100 emails) and their documented limits (deletion 3/s and 60/min; suppression
 * 75/s and 750/min).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../src/sim/index.ts';
import { deletionBody, suppressionBody } from '../../src/klaviyo/profile-payloads.ts';
import { ENDPOINTS } from '../../src/klaviyo/endpoints.ts';
import { direct, fakeClock, gateway, profileImportBody } from './helpers.ts';

let srv: RunningSimulator | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});
const ACCOUNT = 'conn-privacy';

async function start(opts: SimulatorOptions = {}) {
  srv = await startSimulator({ port: 0, ...opts });
  return { s: srv, call: gateway(srv.url, { connection: ACCOUNT }) };
}

describe('simulated privacy endpoints', () => {
  it('a deletion job erases the profile, its list memberships and events (202, empty body)', async () => {
    const { s, call } = await start();
    const made = await call('/api/profile-import', { body: profileImportBody({ email: 'gone@example.com', phone_number: '+15005550006' }) });
    const id = made.json.data.id as string;
    const res = await call('/api/data-privacy-deletion-jobs', { body: deletionBody({ phone_number: '+15005550006' }) });
    expect(res.status).toBe(202);
    expect(res.text).toBe('');
    expect(s.sim.profileByEmail(ACCOUNT, 'gone@example.com')).toBeUndefined();
    expect(s.sim.privacyOps(ACCOUNT)).toEqual([expect.objectContaining({ kind: 'deletion', phone_number: '+15005550006', profileId: id, found: true })]);
    expect((await call('/api/data-privacy-deletion-jobs', { body: deletionBody({ kid: id }) })).status).toBe(202);
    expect(s.sim.privacyOps(ACCOUNT)[1]).toMatchObject({ profileId: id, found: false });
  });

  it('refuses a deletion naming two identifiers, or a body off the OpenAPI schema, pointing at it', async () => {
    const { s, call } = await start();
    const two = await call('/api/data-privacy-deletion-jobs', {
      body: {
        data: {
          type: 'data-privacy-deletion-job',
          attributes: { profile: { data: { type: 'profile', attributes: { email: 'a@example.com', phone_number: '+15005550006' } } } },
        },
      },
    });
    expect(two.status).toBe(400);
    expect(two.json.errors[0].source.pointer).toBe('/data/attributes/profile/data');
    const wrongType = await call('/api/data-privacy-deletion-jobs', {
      body: { data: { type: 'profile', attributes: { profile: { data: { type: 'profile', attributes: {} } } } } },
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json.errors[0].source.pointer).toBe('/data/type');
    expect(s.sim.privacyOps(ACCOUNT)).toEqual([]);
  });

  it('suppresses (creating an unknown address) and unsuppresses by email; more than 100 is refused whole', async () => {
    const { s, call } = await start();
    expect((await call('/api/profile-suppression-bulk-create-jobs', { body: suppressionBody(['new@example.com', 'x@example.com'], true) })).status).toBe(202);
    expect(s.sim.profileByEmail(ACCOUNT, 'new@example.com')?.suppressedAt).toEqual(expect.any(String));
    expect((await call('/api/profile-suppression-bulk-delete-jobs', { body: suppressionBody(['new@example.com', 'never@example.com'], false) })).status).toBe(
      202,
    );
    expect(s.sim.profileByEmail(ACCOUNT, 'new@example.com')?.suppressedAt).toBeNull();
    expect(s.sim.profileByEmail(ACCOUNT, 'never@example.com')).toBeUndefined();
    const many = Array.from({ length: 101 }, (_, i) => `m${i}@example.com`);
    const tooMany = await call('/api/profile-suppression-bulk-create-jobs', { body: suppressionBody(many, true) });
    expect(tooMany.status).toBe(400);
    expect(s.sim.profileByEmail(ACCOUNT, 'm0@example.com')).toBeUndefined();
  });

  it('enforces the documented limits: deletion 3/s and 60/min, suppression 75/s', async () => {
    expect(ENDPOINTS.request_profile_deletion).toMatchObject({ burst: 3, steady: 60 });
    expect(ENDPOINTS.bulk_suppress_profiles).toMatchObject({ burst: 75, steady: 750, maxItems: 100 });
    const clock = fakeClock();
    const { call } = await start({ now: clock.now });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await call('/api/data-privacy-deletion-jobs', { body: deletionBody({ email: `d${i}@example.com` }) })).status);
    expect(statuses).toEqual([202, 202, 202, 429]);
    // 60 in a minute, 3 per second: the 61st in the minute is refused even in a fresh second.
    for (let sec = 1; sec < 20; sec++) {
      clock.advance(1000);
      for (let i = 0; i < 3; i++)
        expect((await call('/api/data-privacy-deletion-jobs', { body: deletionBody({ email: `s${sec}-${i}@example.com` }) })).status).toBe(202);
    }
    clock.advance(1000);
    expect((await call('/api/data-privacy-deletion-jobs', { body: deletionBody({ email: 'late@example.com' }) })).status).toBe(429);
    // Direct to Klaviyo (the gateway's own 10/s per key would refuse first).
    clock.advance(60_000);
    const klaviyo = direct(srv!.url);
    const sup: number[] = [];
    for (let i = 0; i < 76; i++)
      sup.push((await klaviyo('/api/profile-suppression-bulk-create-jobs', { body: suppressionBody([`q${i}@example.com`], true) })).status);
    expect(sup.filter((x) => x === 202)).toHaveLength(75);
    expect(sup[75]).toBe(429);
  });
});
