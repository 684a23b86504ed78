/**
 * Klaviyo profile ids by identifier. List membership calls take profile ids only (OpenAPI
 * ListMembersAddQuery), so every id learned from a profile-import or a lookup is kept here,
 * shared by all workers, to spare the next list operation for that person a call.
 */
import type { RedisClient as Redis } from '../../src/redis.ts';
import { profileIdKey } from '../../src/redis-keys.ts';
import { primaryIdentifier, type ProfileRef } from '../../src/model/profile-operation.ts';
import { identifierDigest } from '../../src/privacy/identifier-digest.ts';

/** RELAY_PROFILE_ID_CACHE_TTL_S's default. */
export const DEFAULT_TTL_S = 30 * 86_400;

export interface IdCache {
  get(lane: string, ref: ProfileRef): Promise<string | null>;
  set(lane: string, refs: readonly ProfileRef[], kid: string): Promise<void>;
  forget(lane: string, ref: ProfileRef): Promise<void>;
}

export function createIdCache(redis: Redis, prefix: string, ttlS = DEFAULT_TTL_S): IdCache {
  const key = (lane: string, field: string, value: string) =>
    // The lane is the hash tag: one pipeline writes several identifiers' keys (Redis Cluster).
    profileIdKey(prefix, lane, identifierDigest(field, value));
  const keyOf = (lane: string, ref: ProfileRef) => {
    const id = primaryIdentifier(ref);
    return id && id.field !== 'kid' ? key(lane, id.field, id.value) : undefined;
  };
  return {
    async get(lane, ref) {
      const k = keyOf(lane, ref);
      return k ? redis.get(k) : null;
    },
    async set(lane, refs, kid) {
      const pipe = redis.pipeline();
      for (const ref of refs) {
        for (const field of ['email', 'phone_number', 'external_id'] as const) {
          const v = ref[field];
          if (typeof v === 'string' && v !== '') pipe.set(key(lane, field, field === 'email' ? v.trim().toLowerCase() : v.trim()), kid, 'EX', ttlS);
        }
      }
      await pipe.exec();
    },
    async forget(lane, ref) {
      const k = keyOf(lane, ref);
      if (k) await redis.del(k);
    },
  };
}
