/**
 * Identifier generators shaped like Klaviyo's: profile and job ids are 26-character
 * Crockford-base32 ULIDs (e.g. `01M1PAAR5HBCRHA3NN9NG5WRTA`; docs/klaviyo-and-maton.md §1), error ids
 * are UUIDs, account/public keys are 6 base62 characters.
 */
import { randomBytes, randomUUID, createHash } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

let lastMs = -1;
let counter = 0;

/** A ULID-shaped id: 10 chars of millisecond time, 5 of a per-millisecond counter, 11 random. */
export function ulid(nowMs: number): string {
  let time = '';
  let t = Math.max(0, Math.floor(nowMs));
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32] + time;
    t = Math.floor(t / 32);
  }
  if (nowMs === lastMs) counter++;
  else {
    lastMs = nowMs;
    counter = 0;
  }
  const rand = randomBytes(11);
  let tail = '';
  for (let i = 0; i < 11; i++) tail += CROCKFORD[(rand[i] ?? 0) % 32];
  // The counter follows the time so ids sort in creation order.
  let c = counter;
  let suffix = '';
  for (let i = 0; i < 5; i++) {
    suffix = CROCKFORD[c % 32] + suffix;
    c = Math.floor(c / 32);
  }
  return time + suffix + tail;
}

export function uuid(): string {
  return randomUUID();
}

/** Deterministic 6-char base62 id derived from `seed` (stable public id for an account). */
export function shortId(seed: string, length = 6): string {
  const digest = createHash('sha256').update(seed).digest();
  let out = '';
  for (let i = 0; i < length; i++) out += BASE62[(digest[i] ?? 0) % 62];
  return out;
}

export function randomToken(length = 32): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += BASE62[(bytes[i] ?? 0) % 62];
  return out;
}

/**
 * cyrb53, a fast 53-bit string hash. Used for dedupe keys when event bodies are not retained
 * (million-event benchmarks): a Set of numbers is far smaller than a Set of long strings, and
 * at 1e6 keys the collision chance is about 1e-4.
 */
export function hash53(str: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
