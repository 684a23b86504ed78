/**
 * Verifies a Standard Webhooks signature (standardwebhooks.com, the scheme Svix uses):
 *
 *   webhook-signature: "v1,<base64 HMAC-SHA256(key, `${webhook-id}.${webhook-timestamp}.${body}`)>" (space-separated list)
 *   key = base64-decoded secret after the `whsec_` prefix
 *
 * Fixed order: headers present → timestamp (unix seconds) within tolerance → HMAC per secret →
 * constant-time compare against each listed v1 signature.
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

export type StandardWebhookResult = { ok: true; secretIndex: number } | { ok: false; reason: 'missing_header' | 'bad_timestamp' | 'stale_timestamp' | 'bad_signature' };

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
  const b64 = secret.slice(6).replace(/=+$/, '');
  const key = Buffer.from(b64, 'base64');
  if (!/^[A-Za-z0-9+/]*$/.test(b64) || key.toString('base64').replace(/=+$/, '') !== b64) return { problem: 'is not valid base64 after "whsec_"' };
  if (key.length < MIN_SIGNING_KEY_BYTES) {
    return { problem: `decodes to ${key.length} bytes; use at least ${MIN_SIGNING_KEY_BYTES} random bytes (e.g. "whsec_$(openssl rand -base64 32)")` };
  }
  return { key };
}

function keyOf(secret: string): Buffer | undefined {
  const k = signingKey(secret);
  return 'key' in k ? k.key : undefined;
}

export function standardSignature(secret: string, id: string, timestamp: string, rawBody: string): string {
  const key = keyOf(secret);
  if (!key) throw new TypeError(`not a usable Standard Webhooks secret: ${(signingKey(secret) as { problem: string }).problem}`);
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${rawBody}`).digest('base64')}`;
}

export function verifyStandardWebhook(input: StandardWebhookInput): StandardWebhookResult {
  const { id, timestamp, signature } = input;
  if (!id || !timestamp || !signature) return { ok: false, reason: 'missing_header' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'bad_timestamp' };
  if (Math.abs((input.now ?? Date.now()) - Number(timestamp) * 1000) > (input.toleranceMs ?? 5 * 60_000)) return { ok: false, reason: 'stale_timestamp' };
  const given = signature.split(' ').filter((s) => s.startsWith('v1,')).map((s) => Buffer.from(s, 'utf8'));
  for (let i = 0; i < input.secrets.length; i++) {
    if (!keyOf(input.secrets[i]!)) continue; // a weak or malformed secret verifies nothing
    const expected = Buffer.from(standardSignature(input.secrets[i]!, id, timestamp, input.rawBody), 'utf8');
    if (given.some((g) => g.length === expected.length && timingSafeEqual(g, expected))) return { ok: true, secretIndex: i };
  }
  return { ok: false, reason: 'bad_signature' };
}
