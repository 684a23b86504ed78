/**
 * Encryption at rest of job payloads (issue 16): AES-256-GCM over what an item carries about a
 * person — an event, a profile operation, a webhook item (`e`, `o`, `w` in src/job-data.ts) — so a
 * Redis snapshot, replica or `MONITOR` holds no readable personal data. Item keys, ids, the
 * per-profile order fields and the job's origin stay readable: Lua, dedupe and ops read them, and
 * none of them is personal data (item and order keys are hashes).
 *
 * Sealed form: `enc1.<key id>.<base64url(iv ‖ tag ‖ ciphertext)>` in place of the field's JSON. The
 * key id names the key that sealed it, so keys rotate: put the new key first in RELAY_PAYLOAD_KEYS
 * and keep the old one listed until nothing sealed with it is left (completed jobs and dead letters
 * expire on their own, src/config.ts retention). A 96-bit random IV per seal (NIST SP 800-38D §8.2.2:
 * fine far beyond the 2^32 seals per key a relay makes in years).
 *
 * Process-wide, set once by the service at start (`usePayloadCipher`): the codecs in
 * src/job-data.ts, which every writer and reader of stored items goes through, seal and open with
 * it, and they are called from places that share no dependencies (ingest, spool, workers, ops).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface PayloadKey {
  readonly id: string;
  readonly key: Buffer;
}

const PREFIX = 'enc1.';
/** What a sealed payload looks like inside stored JSON: a job whose raw data lacks it holds no sealed payload. */
export const SEALED_MARK = `"${PREFIX}`;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** RELAY_PAYLOAD_KEYS → keys; each problem is added to `problems` (src/config.ts reports them all at once). */
export function parsePayloadKeys(text: string, problems: string[]): PayloadKey[] {
  const keys: PayloadKey[] = [];
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const colon = part.indexOf(':');
    const id = colon > 0 ? part.slice(0, colon) : '';
    const key = Buffer.from(colon > 0 ? part.slice(colon + 1) : '', 'base64');
    if (!KEY_ID.test(id)) problems.push('RELAY_PAYLOAD_KEYS: each entry is <key id>:<key>, the id letters, digits, _ and - (at most 32)');
    else if (key.length !== 32) problems.push(`RELAY_PAYLOAD_KEYS: key ${id} must be 32 bytes in base64 (e.g. openssl rand -base64 32)`);
    else if (keys.some((k) => k.id === id)) problems.push(`RELAY_PAYLOAD_KEYS: key id ${id} is listed twice`);
    else keys.push({ id, key });
  }
  return keys;
}

export class PayloadCipher {
  private readonly byId: Map<string, Buffer>;
  private readonly sealing: PayloadKey;

  constructor(keys: readonly PayloadKey[]) {
    if (keys.length === 0) throw new Error('a payload cipher needs at least one key');
    this.sealing = keys[0]!;
    this.byId = new Map(keys.map((k) => [k.id, k.key]));
  }

  seal(value: unknown): string {
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', this.sealing.key, iv);
    const ct = Buffer.concat([c.update(JSON.stringify(value), 'utf8'), c.final()]);
    return `${PREFIX}${this.sealing.id}.${Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64url')}`;
  }

  open(sealed: string): unknown {
    const dot = sealed.indexOf('.', PREFIX.length);
    const id = sealed.slice(PREFIX.length, dot);
    const key = this.byId.get(id);
    if (!key) throw new PayloadKeyMissingError(id);
    const raw = Buffer.from(sealed.slice(dot + 1), 'base64url');
    const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    d.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return JSON.parse(Buffer.concat([d.update(raw.subarray(IV_BYTES + TAG_BYTES)), d.final()]).toString('utf8'));
  }
}

/** A payload sealed with a key this process does not have (not listed in RELAY_PAYLOAD_KEYS). */
export class PayloadKeyMissingError extends Error {
  override readonly name = 'PayloadKeyMissingError';
  constructor(readonly keyId: string) {
    super(`a job payload is sealed with key ${JSON.stringify(keyId)}, which RELAY_PAYLOAD_KEYS does not list`);
  }
}

let current: PayloadCipher | undefined;

/** The service's start sets it (undefined: payloads are stored as plain JSON). */
export function usePayloadCipher(cipher: PayloadCipher | undefined): void {
  current = cipher;
}

export function isSealed(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(PREFIX);
}

/** A payload as it is to be stored: sealed when a cipher is in use. */
export function sealPayload<T>(value: T): T {
  return (current ? current.seal(value) : value) as T;
}

/**
 * A stored payload as the code uses it. Payloads stored before encryption was turned on stay
 * plain and are read as they are; a sealed one needs its key listed (README: rotating keys).
 */
export function openPayload<T>(value: T): T {
  if (!isSealed(value)) return value;
  if (!current) throw new PayloadKeyMissingError(value.slice(PREFIX.length, value.indexOf('.', PREFIX.length)));
  return current.open(value) as T;
}
