/**
 * Profile upserts through profile-import (201 created / 200 updated).
 *
 * A 409 `duplicate_profile` means the identifiers sent belong to two different profiles (e.g.
 * the email is A's and the phone number B's; klaviyo-api-node #75). It is resolved, not failed:
 * the conflicting profile is looked up, the identifiers it owns are left out, and the import is
 * sent again — the profile that owns the primary identifier gets every other attribute. What was
 * left out is logged.
 */
import { KlaviyoApiError } from '../../src/errors.ts';
import { profileImportBody } from '../../src/klaviyo/profile-payloads.ts';
import { ProfileResponseSchema, ProfilesPageSchema } from '../../src/klaviyo/schemas.ts';
import type { ProfileItem } from '../../src/job-data.ts';
import { callWithQuota, type CallDeps } from '../klaviyo-call.ts';
import { DELIVERED, outcomeOf, type ItemOutcome } from '../retry-policy.ts';
import type { IdCache } from './id-cache.ts';

const IDENTIFIERS = ['email', 'phone_number', 'external_id'] as const;
const MAX_CONFLICTS = 3;

const norm = (field: string, v: unknown) => (typeof v === 'string' ? (field === 'email' ? v.trim().toLowerCase() : v.trim()) : v);

export async function upsertProfile(deps: CallDeps, cache: IdCache, lane: string, item: ProfileItem): Promise<ItemOutcome> {
  if (item.operation.op !== 'upsert') throw new TypeError('not an upsert');
  const profile = item.operation.profile;
  const drop: string[] = [];
  for (let round = 0; ; round++) {
    try {
      const res = await callWithQuota(deps, {
        endpoint: 'create_or_update_profile',
        body: profileImportBody(profile, { drop }),
        schema: ProfileResponseSchema,
      });
      const kept = Object.fromEntries(Object.entries(profile).filter(([k]) => !drop.includes(k)));
      await cache.set(lane, [kept], res.data.data.id);
      return DELIVERED;
    } catch (err) {
      const dupId = err instanceof KlaviyoApiError && err.status === 409 ? err.errors[0]?.meta?.duplicate_profile_id : undefined;
      if (typeof dupId !== 'string' || round >= MAX_CONFLICTS) return outcomeOf(err);
      let owned: string[];
      try {
        const page = await callWithQuota(deps, {
          endpoint: 'get_profiles',
          query: { filter: `equals(id,"${dupId.replace(/"/g, '')}")` },
          schema: ProfilesPageSchema,
        });
        const other = page.data.data[0]?.attributes ?? {};
        owned = IDENTIFIERS.filter((f) => !drop.includes(f) && profile[f] != null && norm(f, other[f]) === norm(f, profile[f]));
      } catch (lookupErr) {
        return outcomeOf(lookupErr);
      }
      if (owned.length === 0) return outcomeOf(err);
      deps.log.warn(
        { item: item.key, duplicateProfileId: dupId, leftOut: owned },
        'profile-import 409: identifiers belong to another profile; importing without them',
      );
      drop.push(...owned);
    }
  }
}
