/**
 * Erasure outside the queues (issue 16): the profile-id cache and the audit stream. One function
 * per store, each returning what it removed.
 */
import type { RedisClient as Redis } from '../redis.ts';
import { auditKey, profileIdKey } from '../redis-keys.ts';
import { identifierDigest } from './identifier-digest.ts';
import type { Person, PersonMatcher } from './person.ts';

/**
 * The person's cached Klaviyo profile ids, in every lane: the entry of the identifier, and every
 * other entry naming the same profile (the person's other identifiers). A profile-id erasure finds
 * its entries by value. SCAN walks the lane's cache (one tag per lane): bounded by its TTL.
 */
export async function purgeProfileIdCache(redis: Redis, prefix: string, lanes: readonly string[], p: Person): Promise<number> {
  let removed = 0;
  for (const lane of lanes) {
    const kids = new Set<string>();
    if (p.field === 'profile_id') kids.add(p.value);
    else {
      const key = profileIdKey(prefix, lane, identifierDigest(p.field, p.value));
      const kid = await redis.get(key);
      if (kid !== null) {
        kids.add(kid);
        removed += await redis.del(key);
      }
    }
    if (kids.size === 0) continue;
    const pattern = profileIdKey(prefix, lane, '*');
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      const values = await Promise.all(keys.map((k) => redis.get(k)));
      const mine = keys.filter((_, i) => values[i] !== null && kids.has(values[i]!));
      if (mine.length > 0) removed += await Promise.all(mine.map((k) => redis.del(k))).then((n) => n.reduce((a, b) => a + b, 0));
    } while (cursor !== '0');
  }
  return removed;
}

/**
 * Audit entries that mention the person (an operator's find or replay may quote an identifier).
 * They are deleted; the erasure's own entry, written after, says how many, under the subject hash.
 */
export async function purgeAudit(redis: Redis, prefix: string, matcher: PersonMatcher): Promise<number[]> {
  const counts = matcher.people.map(() => 0);
  const rows = await redis.xrange(auditKey(prefix), '-', '+');
  const ids: string[] = [];
  for (const [id, fields] of rows) {
    const who = matcher.which(fields.join('\n'));
    if (who < 0) continue;
    counts[who]!++;
    ids.push(id);
  }
  if (ids.length > 0) await redis.xdel(auditKey(prefix), ...ids);
  return counts;
}
