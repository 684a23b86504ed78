/**
 * The digest an identifier is cached under (`<prefix>:kid:{<lane>}:<digest>`, src/redis-keys.ts):
 * the profile-id cache writes by it (workers/profiles/id-cache.ts) and erasure deletes by it.
 */
import { createHash } from 'node:crypto';

export function identifierDigest(field: string, normalisedValue: string): string {
  return createHash('sha256').update(`${field}\n${normalisedValue}`).digest().subarray(0, 12).toString('base64url');
}
