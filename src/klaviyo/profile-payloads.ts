/**
 * Profile, list and consent operations → Klaviyo's JSON:API bodies (docs/klaviyo-and-maton.md
 * §2; OpenAPI ProfileUpsertQuery, ListMembersAddQuery, SubscriptionCreateJobCreateQuery,
 * SubscriptionDeleteJobCreateQuery).
 */
import type { Channel, ProfileOp, ProfileRef } from '../model/profile-operation.ts';

type UpsertProfile = Extract<ProfileOp, { op: 'upsert' }>['profile'];

const UPSERT_ATTRIBUTES = [
  'email',
  'phone_number',
  'external_id',
  'first_name',
  'last_name',
  'organization',
  'title',
  'locale',
  'image',
  'location',
  'properties',
] as const;

/** POST /api/profile-import. `null` clears a field, an absent one is left alone (Klaviyo's semantics). */
export function profileImportBody(p: UpsertProfile, opts: { id?: string; drop?: readonly string[] } = {}): unknown {
  const attributes: Record<string, unknown> = {};
  for (const k of UPSERT_ATTRIBUTES) {
    if (opts.drop?.includes(k)) continue;
    const v = (p as Record<string, unknown>)[k];
    if (v !== undefined) attributes[k] = v;
  }
  const id = opts.id ?? p.kid;
  return { data: { type: 'profile', ...(id ? { id } : {}), attributes } };
}

/** Only the identifier: resolves (and creates if needed) a profile without changing it. */
export function identifierOnly(ref: ProfileRef): UpsertProfile {
  if (ref.email) return { email: ref.email };
  if (ref.phone_number) return { phone_number: ref.phone_number };
  if (ref.external_id) return { external_id: ref.external_id };
  throw new TypeError('no identifier Klaviyo can look up');
}

/** POST/DELETE /api/lists/{id}/relationships/profiles. */
export function listMembersBody(profileIds: readonly string[]): unknown {
  return { data: profileIds.map((id) => ({ type: 'profile', id })) };
}

function channelsOf(channels: readonly Channel[], consent: 'SUBSCRIBED' | 'UNSUBSCRIBED'): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const ch of channels) out[ch] = { marketing: { consent } };
  return out;
}

function consentProfile(ref: ProfileRef, channels: readonly Channel[], consent: 'SUBSCRIBED' | 'UNSUBSCRIBED'): unknown {
  const attributes: Record<string, unknown> = { subscriptions: channelsOf(channels, consent) };
  if (ref.email) attributes.email = ref.email;
  if (ref.phone_number) attributes.phone_number = ref.phone_number;
  return { type: 'profile', attributes };
}

/** POST /api/profile-subscription-bulk-create-jobs (≤1,000 profiles). */
export function subscribeBody(
  members: readonly { ref: ProfileRef; channels: readonly Channel[] }[],
  listId: string | null,
  source: string | undefined,
): unknown {
  return {
    data: {
      type: 'profile-subscription-bulk-create-job',
      attributes: {
        ...(source ? { custom_source: source } : {}),
        profiles: { data: members.map((m) => consentProfile(m.ref, m.channels, 'SUBSCRIBED')) },
      },
      ...(listId ? { relationships: { list: { data: { type: 'list', id: listId } } } } : {}),
    },
  };
}

/**
 * POST /api/profile-subscription-bulk-delete-jobs (≤100 profiles). Without a list Klaviyo
 * unsubscribes account-wide ("Profiles not in the specified list will be globally
 * unsubscribed", OpenAPI); callers pass null only when a global unsubscribe was asked for.
 */
export function unsubscribeBody(members: readonly { ref: ProfileRef; channels: readonly Channel[] }[], listId: string | null): unknown {
  return {
    data: {
      type: 'profile-subscription-bulk-delete-job',
      attributes: { profiles: { data: members.map((m) => consentProfile(m.ref, m.channels, 'UNSUBSCRIBED')) } },
      ...(listId ? { relationships: { list: { data: { type: 'list', id: listId } } } } : {}),
    },
  };
}

/** Klaviyo filter for one profile: `equals(email,"a@b.co")`. Quotes and backslashes are escaped. */
export function profileFilter(ref: ProfileRef): string {
  const q = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  if (ref.email) return `equals(email,${q(ref.email)})`;
  if (ref.phone_number) return `equals(phone_number,${q(ref.phone_number)})`;
  if (ref.external_id) return `equals(external_id,${q(ref.external_id)})`;
  throw new TypeError('no identifier Klaviyo can filter on');
}

/** POST /api/profile-bulk-import-jobs (≤10,000 profiles, ≤5 MB). */
export function bulkImportBody(profiles: readonly UpsertProfile[]): unknown {
  return {
    data: {
      type: 'profile-bulk-import-job',
      attributes: { profiles: { data: profiles.map((p) => (profileImportBody(p) as { data: unknown }).data) } },
    },
  };
}

/** `/data/attributes/profiles/data/12/attributes/email` → 12. */
export function bulkImportIndex(pointer: string | undefined): number | undefined {
  const m = pointer ? /^\/data\/attributes\/profiles\/data\/(\d+)(?:\/|$)/.exec(pointer) : null;
  return m ? Number(m[1]) : undefined;
}

/** POST /api/profile-suppression-bulk-create-jobs or …-delete-jobs (≤100 emails; email only, OAS). */
export function suppressionBody(emails: readonly string[], suppress: boolean): unknown {
  return {
    data: {
      type: suppress ? 'profile-suppression-bulk-create-job' : 'profile-suppression-bulk-delete-job',
      attributes: { profiles: { data: emails.map((email) => ({ type: 'profile', attributes: { email } })) } },
    },
  };
}

/** POST /api/data-privacy-deletion-jobs: exactly one identifier (email, phone number or Klaviyo id). */
export function deletionBody(ref: ProfileRef): unknown {
  const data = ref.kid
    ? { type: 'profile', id: ref.kid, attributes: {} }
    : { type: 'profile', attributes: ref.email ? { email: ref.email } : { phone_number: ref.phone_number } };
  return { data: { type: 'data-privacy-deletion-job', attributes: { profile: { data } } } };
}
