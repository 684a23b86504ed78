/**
 * Klaviyo's flow webhook actions are not signed (hookdeck verification notes), so they are
 * authenticated by a shared secret the flow sends in a header. Compared as SHA-256 digests with
 * timingSafeEqual: equal lengths whatever the input, so the time taken says nothing about it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export function sharedSecretMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
