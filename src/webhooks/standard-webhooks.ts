/**
 * Verifies a Standard Webhooks signature (standardwebhooks.com, the scheme Svix uses):
 *
 *   webhook-signature: "v1,<base64 HMAC-SHA256(key, `${webhook-id}.${webhook-timestamp}.${body}`)>" (space-separated list)
 *   key = base64-decoded secret after the `whsec_` prefix
 *
 * Fixed order, in two steps so that a request can be refused before its body is read:
 *   checkStandardHeaders: headers present and well-formed → timestamp (unix seconds) within tolerance
 *   verifyStandardBody:   HMAC per secret → constant-time compare against each listed v1 signature.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface StandardWebhookInput {
  readonly rawBody: string;
  readonly id: string | undefined;
  readonly timestamp: string | undefined;
  readonly signature: string | undefined;
  readonly secrets: readonly string[];
  readonly toleranceMs?: number;
  readonly now?: number;
}

export type StandardWebhookFailure = 'missing_header' | 'bad_id' | 'bad_timestamp' | 'stale_timestamp' | 'bad_signature';

export type StandardWebhookResult = { ok: true; secretIndex: number } | { ok: false; reason: StandardWebhookFailure };

/** The spec's default tolerance, and the relay's: ±5 minutes. */
export const STANDARD_TOLERANCE_MS = 5 * 60_000;

/** What the headers say, once they are known to be well-formed and timely. */
export interface StandardHeaders {
  readonly id: string;
  readonly timestamp: string;
  /** The listed v1 signatures (32-byte HMACs in base64); malformed entries are dropped. */
  readonly signatures: readonly Buffer[];
}

/** A message id is printable ASCII (Svix: `msg_…`); it keys the replay cache, so its length is bounded. */
const ID = /^[\x21-\x7e]{1,256}$/;
const V1 = /^v1,[A-Za-z0-9+/]{43}=$/;

/** Everything that can be checked without the body. */
export function checkStandardHeaders(
  input: Omit<StandardWebhookInput, 'rawBody' | 'secrets'>,
): { ok: true; headers: StandardHeaders } | { ok: false; reason: StandardWebhookFailure } {
  const { id, timestamp, signature } = input;
  if (!id || !timestamp || !signature) return { ok: false, reason: 'missing_header' };
  if (!ID.test(id)) return { ok: false, reason: 'bad_id' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'bad_timestamp' };
  if (Math.abs((input.now ?? Date.now()) - Number(timestamp) * 1000) > (input.toleranceMs ?? STANDARD_TOLERANCE_MS))
    return { ok: false, reason: 'stale_timestamp' };
  const signatures = signature
    .split(' ')
    .filter((s) => V1.test(s))
    .map((s) => Buffer.from(s, 'utf8'));
  if (signatures.length === 0) return { ok: false, reason: 'bad_signature' };
  return { ok: true, headers: { id, timestamp, signatures } };
}

/** The index of the secret whose signature is listed, or -1. One HMAC of the body per secret. */
export function verifyStandardBody(headers: StandardHeaders, rawBody: string, secrets: readonly string[]): number {
  for (let i = 0; i < secrets.length; i++) {
    const key = keyOf(secrets[i]!);
    if (!key) continue; // a weak or malformed secret verifies nothing
    const expected = Buffer.from(sign(key, headers.id, headers.timestamp, rawBody), 'utf8');
    if (headers.signatures.some((g) => g.length === expected.length && timingSafeEqual(g, expected))) return i;
  }
  return -1;
}

/** The spec's secrets are 24 to 64 random bytes; fewer make the HMAC guessable, none forgeable. */
export const MIN_SIGNING_KEY_BYTES = 24;

/**
 * The HMAC key of a `whsec_<base64>` secret, or why it cannot be one. Buffer.from(…, 'base64')
 * skips what is not base64, so `whsec_` alone, or garbage after it, gave a zero-length key: any
 * sender could sign with it. Used at load (src/relay-config.ts) and again here, so no such key is
 * ever used whoever built the registry.
 */
export function signingKey(secret: string): { key: Buffer } | { problem: string } {
  if (!secret.startsWith('whsec_')) return { problem: 'must be a Standard Webhooks secret: "whsec_" followed by base64' };
  const b64 = withoutPadding(secret.slice(6));
  const key = Buffer.from(b64, 'base64');
  if (!/^[A-Za-z0-9+/]*$/.test(b64) || withoutPadding(key.toString('base64')) !== b64) return { problem: 'is not valid base64 after "whsec_"' };
  if (key.length < MIN_SIGNING_KEY_BYTES) {
    return { problem: `decodes to ${key.length} bytes; use at least ${MIN_SIGNING_KEY_BYTES} random bytes (e.g. "whsec_$(openssl rand -base64 32)")` };
  }
  return { key };
}

/** Trailing '=' removed by a loop: `/=+$/` backtracks quadratically on a long run of '=' (recheck). */
function withoutPadding(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 61 /* '=' */) end--;
  return s.slice(0, end);
}

function keyOf(secret: string): Buffer | undefined {
  const k = signingKey(secret);
  return 'key' in k ? k.key : undefined;
}

export function standardSignature(secret: string, id: string, timestamp: string, rawBody: string): string {
  const key = keyOf(secret);
  if (!key) throw new TypeError(`not a usable Standard Webhooks secret: ${(signingKey(secret) as { problem: string }).problem}`);
  return sign(key, id, timestamp, rawBody);
}

function sign(key: Buffer, id: string, timestamp: string, rawBody: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${rawBody}`).digest('base64')}`;
}

export function verifyStandardWebhook(input: StandardWebhookInput): StandardWebhookResult {
  const checked = checkStandardHeaders(input);
  if (!checked.ok) return checked;
  const secretIndex = verifyStandardBody(checked.headers, input.rawBody, input.secrets);
  return secretIndex >= 0 ? { ok: true, secretIndex } : { ok: false, reason: 'bad_signature' };
}
