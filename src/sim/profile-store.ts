/**
 * Profile identity and attribute rules, per account.
 *
 * - Identifiers: email (case-insensitive), phone_number, external_id, anonymous_id, plus the
 *   profile `id`; each is indexed for O(1) matching.
 * - Attribute updates follow profile-import (OAS create_or_update_profile): "setting a field to
 *   `null` will clear out the field, whereas not including a field in your request will leave
 *   it unchanged". `properties` and `location` merge key by key; `meta.patch_properties`
 *   supports append / unappend / unset.
 * - Strict operations (profile-import, create, update) refuse identifiers that belong to a
 *   different profile with 409 `duplicate_profile` (docs/klaviyo-and-maton.md §2; klaviyo/klaviyo-api-node#75).
 *   Lenient ones (events, subscriptions) pick the first matching profile and skip identifiers
 *   owned by another profile, as an asynchronous Klaviyo job cannot answer 409.
 */
import { ulid } from './ids.ts';
import { KlaviyoHttpError } from './json-api.ts';
import { IDENTIFIER_FIELDS, TEXT_ATTRIBUTES, type IdentifierField, type SimAccount, type SimProfile } from './state.ts';
import { klaviyoTime } from './time.ts';

type Obj = Record<string, unknown>;

export interface ProfileInput {
  id?: string | null | undefined;
  attributes?: Obj | null | undefined;
  meta?: Obj | null | undefined;
}

export function normalizeIdentifier(field: IdentifierField, value: string): string {
  return field === 'email' ? value.trim().toLowerCase() : value.trim();
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Identifier values present (non-empty strings) in a set of profile attributes. */
export function identifiersIn(attrs: Obj | null | undefined): Partial<Record<IdentifierField, string>> {
  const out: Partial<Record<IdentifierField, string>> = {};
  if (!attrs) return out;
  for (const field of IDENTIFIER_FIELDS) {
    const v = attrs[field];
    if (typeof v === 'string' && v.trim() !== '') out[field] = normalizeIdentifier(field, v);
  }
  return out;
}

export function findBy(account: SimAccount, field: IdentifierField, value: string): SimProfile | undefined {
  const id = account.index[field].get(normalizeIdentifier(field, value));
  return id === undefined ? undefined : account.profiles.get(id);
}

/** Distinct existing profiles the identifiers point at, in priority order (email first). */
export function matchingProfiles(account: SimAccount, input: ProfileInput): SimProfile[] {
  const found: SimProfile[] = [];
  const push = (p: SimProfile | undefined): void => {
    if (p && !found.includes(p)) found.push(p);
  };
  if (typeof input.id === 'string' && input.id !== '') push(account.profiles.get(input.id));
  const ids = identifiersIn(input.attributes);
  for (const field of IDENTIFIER_FIELDS) {
    const v = ids[field];
    if (v !== undefined) push(findBy(account, field, v));
  }
  return found;
}

export function createProfile(account: SimAccount, now: number): SimProfile {
  const profile: SimProfile = {
    id: ulid(now),
    email: null,
    phone_number: null,
    external_id: null,
    anonymous_id: null,
    attributes: {},
    location: null,
    properties: {},
    lists: new Set(),
    consent: {},
    listSuppressions: [],
    suppressedAt: null,
    created: now,
    updated: now,
    lastEventDate: null,
  };
  account.profiles.set(profile.id, profile);
  return profile;
}

function setIdentifier(account: SimAccount, profile: SimProfile, field: IdentifierField, value: string | null): void {
  const old = profile[field];
  if (old !== null) {
    const key = normalizeIdentifier(field, old);
    if (account.index[field].get(key) === profile.id) account.index[field].delete(key);
  }
  profile[field] = value === null ? null : field === 'email' ? value.trim().toLowerCase() : value.trim();
  if (value !== null) account.index[field].set(normalizeIdentifier(field, value), profile.id);
}

/** Identifiers in `attrs` that already belong to a profile other than `profile`. */
export function conflictingOwners(account: SimAccount, profile: SimProfile | null, attrs: Obj | null | undefined): SimProfile[] {
  const out: SimProfile[] = [];
  const ids = identifiersIn(attrs);
  for (const field of IDENTIFIER_FIELDS) {
    const v = ids[field];
    if (v === undefined) continue;
    const owner = findBy(account, field, v);
    if (owner && owner !== profile && !out.includes(owner)) out.push(owner);
  }
  return out;
}

function patchProperties(profile: SimProfile, patch: Obj): void {
  const props = profile.properties;
  if (isObj(patch['append'])) {
    for (const [k, v] of Object.entries(patch['append'])) {
      const cur = props[k];
      const arr = Array.isArray(cur) ? [...cur] : cur === undefined || cur === null ? [] : [cur];
      for (const item of Array.isArray(v) ? v : [v]) arr.push(item);
      props[k] = arr;
    }
  }
  if (isObj(patch['unappend'])) {
    for (const [k, v] of Object.entries(patch['unappend'])) {
      const cur = props[k];
      if (!Array.isArray(cur)) continue;
      const drop = Array.isArray(v) ? v : [v];
      props[k] = cur.filter((item) => !drop.some((d) => JSON.stringify(d) === JSON.stringify(item)));
    }
  }
  const unset = patch['unset'];
  for (const k of typeof unset === 'string' ? [unset] : Array.isArray(unset) ? unset : []) {
    if (typeof k === 'string') delete props[k];
  }
}

/**
 * Applies attributes (null clears, omitted keeps) to `profile`. Identifiers owned by another
 * profile are skipped — strict callers check `conflictingOwners` first.
 */
export function applyProfileInput(account: SimAccount, profile: SimProfile, input: ProfileInput, now: number): void {
  const attrs = input.attributes ?? {};
  for (const field of IDENTIFIER_FIELDS) {
    if (!(field in attrs)) continue;
    const v = attrs[field];
    if (v === null) setIdentifier(account, profile, field, null);
    else if (typeof v === 'string' && v.trim() !== '') {
      const owner = findBy(account, field, v);
      if (!owner || owner === profile) setIdentifier(account, profile, field, v);
    }
  }
  for (const field of TEXT_ATTRIBUTES) {
    if (!(field in attrs)) continue;
    const v = attrs[field];
    if (v === null) delete profile.attributes[field];
    else if (typeof v === 'string') profile.attributes[field] = v;
  }
  if ('location' in attrs) {
    const loc = attrs['location'];
    if (loc === null) profile.location = null;
    else if (isObj(loc)) {
      const merged: Obj = { ...(profile.location ?? {}) };
      for (const [k, v] of Object.entries(loc)) {
        if (v === null) delete merged[k];
        else merged[k] = v;
      }
      profile.location = merged;
    }
  }
  if ('properties' in attrs) {
    const props = attrs['properties'];
    if (props === null) profile.properties = {};
    else if (isObj(props)) Object.assign(profile.properties, props);
  }
  const patch = input.meta?.['patch_properties'];
  if (isObj(patch)) patchProperties(profile, patch);
  profile.updated = now;
}

function duplicateProfile(existing: SimProfile, pointer = '/data/attributes'): KlaviyoHttpError {
  return KlaviyoHttpError.of(409, 'A profile already exists with one of these identifiers.', {
    code: 'duplicate_profile',
    title: 'Conflict.',
    source: { pointer },
    meta: { duplicate_profile_id: existing.id },
  });
}

/** profile-import: 201 created / 200 updated; 409 when identifiers span two profiles. */
export function upsertStrict(account: SimAccount, input: ProfileInput, now: number): { profile: SimProfile; created: boolean } {
  let target: SimProfile | null = null;
  if (typeof input.id === 'string' && input.id !== '') {
    target = account.profiles.get(input.id) ?? null;
    if (!target) throw KlaviyoHttpError.of(404, `A profile with id ${input.id} does not exist.`, { source: { pointer: '/data/id' } });
  } else {
    target = matchingProfiles(account, input)[0] ?? null;
  }
  const conflicts = conflictingOwners(account, target, input.attributes);
  if (conflicts[0]) throw duplicateProfile(conflicts[0]);
  const created = target === null;
  const profile = target ?? createProfile(account, now);
  applyProfileInput(account, profile, input, now);
  return { profile, created };
}

/** create_profile: 201, or 409 duplicate_profile naming the existing profile. */
export function createStrict(account: SimAccount, input: ProfileInput, now: number): SimProfile {
  const existing = matchingProfiles(account, { attributes: input.attributes })[0];
  if (existing) throw duplicateProfile(existing);
  const profile = createProfile(account, now);
  applyProfileInput(account, profile, input, now);
  return profile;
}

/** update_profile: 200; 409 if a new identifier belongs to another profile. */
export function updateStrict(account: SimAccount, profile: SimProfile, input: ProfileInput, now: number): SimProfile {
  const conflicts = conflictingOwners(account, profile, input.attributes);
  if (conflicts[0]) throw duplicateProfile(conflicts[0]);
  applyProfileInput(account, profile, input, now);
  return profile;
}

/** Events and subscriptions: find (id first, then email, phone, external id, anonymous id) or create. */
export function upsertLenient(account: SimAccount, input: ProfileInput, now: number): SimProfile {
  const profile = matchingProfiles(account, input)[0] ?? createProfile(account, now);
  applyProfileInput(account, profile, input, now);
  return profile;
}

export function addToList(account: SimAccount, listId: string, profile: SimProfile): void {
  let members = account.lists.get(listId);
  if (!members) {
    members = new Set();
    account.lists.set(listId, members);
  }
  members.add(profile.id);
  profile.lists.add(listId);
}

export function removeFromList(account: SimAccount, listId: string, profile: SimProfile): void {
  account.lists.get(listId)?.delete(profile.id);
  profile.lists.delete(listId);
}

export function ensureList(account: SimAccount, listId: string): Set<string> {
  let members = account.lists.get(listId);
  if (!members) {
    members = new Set();
    account.lists.set(listId, members);
  }
  return members;
}

/** JSON:API profile resource object, as profile-import/get_profiles return it. */
export function profileResource(profile: SimProfile, origin: string, withSubscriptions = false): Obj {
  const attributes: Obj = {
    email: profile.email,
    phone_number: profile.phone_number,
    external_id: profile.external_id,
  };
  for (const field of TEXT_ATTRIBUTES) attributes[field] = profile.attributes[field] ?? null;
  attributes['created'] = klaviyoTime(profile.created);
  attributes['updated'] = klaviyoTime(profile.updated);
  attributes['last_event_date'] = profile.lastEventDate === null ? null : klaviyoTime(profile.lastEventDate);
  attributes['location'] = profile.location;
  attributes['properties'] = profile.properties;
  if (withSubscriptions) {
    const channel = (c: 'email' | 'sms'): Obj => {
      const rec = profile.consent[c];
      return {
        marketing: {
          consent: rec?.status ?? 'NEVER_SUBSCRIBED',
          consent_timestamp: rec?.at ?? null,
          method: rec ? 'API' : null,
          method_detail: rec?.source ?? null,
          list_suppressions: profile.listSuppressions
            .filter((s) => s.channel === c)
            .map((s) => ({ list_id: s.listId, reason: 'USER_SUPPRESSED', timestamp: s.at })),
        },
      };
    };
    attributes['subscriptions'] = { email: channel('email'), sms: channel('sms') };
  }
  return {
    type: 'profile',
    id: profile.id,
    attributes,
    links: { self: `${origin}/api/profiles/${profile.id}/` },
  };
}
