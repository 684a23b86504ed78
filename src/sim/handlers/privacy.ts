/**
 * request_profile_deletion (POST /api/data-privacy-deletion-jobs) and bulk_suppress_profiles /
 * bulk_unsuppress_profiles (POST /api/profile-suppression-bulk-{create,delete}-jobs): 202, empty body.
 *
 * A deletion names exactly one of email, phone number or profile id (OAS: "Provide exactly one
 * identifier"); Klaviyo runs it later, the simulator at once: the profile, its list memberships and
 * its events go. Suppression takes emails only; suppressing an address Klaviyo has not seen creates
 * its profile (OAS), unsuppressing one it has not seen does nothing. Every request is recorded in
 * `privacyOps`, so a test can show what Klaviyo was asked.
 */
import { findBy, removeFromList, upsertLenient } from '../profile-store.ts';
import type { SimAccount, SimProfile } from '../state.ts';
import { klaviyoTime } from '../time.ts';
import { KlaviyoHttpError } from '../json-api.ts';
import { arr, obj, type Handler } from './context.ts';

function dropProfile(account: SimAccount, profile: SimProfile): void {
  for (const listId of [...profile.lists]) removeFromList(account, listId, profile);
  for (const field of ['email', 'phone_number', 'external_id', 'anonymous_id'] as const) {
    const v = profile[field];
    if (v !== null) account.index[field].delete(v);
  }
  account.profiles.delete(profile.id);
  account.events = account.events.filter((e) => e.profileId !== profile.id);
}

export const requestProfileDeletion: Handler = (ctx) => {
  const p = obj(obj(obj(obj(obj(ctx.body)['data'])['attributes'])['profile'])['data']);
  const pa = obj(p['attributes']);
  const email = typeof pa['email'] === 'string' ? pa['email'] : null;
  const phone = typeof pa['phone_number'] === 'string' ? pa['phone_number'] : null;
  const id = typeof p['id'] === 'string' ? p['id'] : null;
  if ([email, phone, id].filter((v) => v !== null).length !== 1)
    throw KlaviyoHttpError.of(400, 'Provide exactly one identifier: email, phone_number or id.', { source: { pointer: '/data/attributes/profile/data' } });
  const profile =
    (id !== null ? ctx.account.profiles.get(id) : undefined) ??
    (email !== null ? findBy(ctx.account, 'email', email) : undefined) ??
    (phone !== null ? findBy(ctx.account, 'phone_number', phone) : undefined);
  if (profile) dropProfile(ctx.account, profile);
  ctx.account.privacyOps.push({
    at: ctx.now,
    kind: 'deletion',
    email,
    phone_number: phone,
    profileId: id ?? profile?.id ?? null,
    found: profile !== undefined,
  });
  return { status: 202 };
};

const emailsOf = (body: unknown): string[] =>
  arr(obj(obj(obj(obj(body)['data'])['attributes'])['profiles'])['data'])
    .map((item) => obj(obj(item)['attributes'])['email'])
    .filter((e): e is string => typeof e === 'string');

export const bulkSuppressProfiles: Handler = (ctx) => {
  for (const email of emailsOf(ctx.body)) {
    const profile = findBy(ctx.account, 'email', email) ?? upsertLenient(ctx.account, { attributes: { email } }, ctx.now);
    profile.suppressedAt = klaviyoTime(ctx.now);
    ctx.account.privacyOps.push({ at: ctx.now, kind: 'suppress', email, phone_number: null, profileId: profile.id, found: true });
  }
  return { status: 202 };
};

export const bulkUnsuppressProfiles: Handler = (ctx) => {
  for (const email of emailsOf(ctx.body)) {
    const profile = findBy(ctx.account, 'email', email);
    if (profile) profile.suppressedAt = null;
    ctx.account.privacyOps.push({ at: ctx.now, kind: 'unsuppress', email, phone_number: null, profileId: profile?.id ?? null, found: profile !== undefined });
  }
  return { status: 202 };
};
