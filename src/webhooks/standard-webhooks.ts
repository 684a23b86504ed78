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

function keyOf(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8');
}

export function standardSignature(secret: string, id: string, timestamp: string, rawBody: string): string {
  return `v1,${createHmac('sha256', keyOf(secret)).update(`${id}.${timestamp}.${rawBody}`).digest('base64')}`;
}

export function verifyStandardWebhook(input: StandardWebhookInput): StandardWebhookResult {
  const { id, timestamp, signature } = input;
  if (!id || !timestamp || !signature) return { ok: false, reason: 'missing_header' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'bad_timestamp' };
  if (Math.abs((input.now ?? Date.now()) - Number(timestamp) * 1000) > (input.toleranceMs ?? 5 * 60_000)) return { ok: false, reason: 'stale_timestamp' };
  const given = signature.split(' ').filter((s) => s.startsWith('v1,')).map((s) => Buffer.from(s, 'utf8'));
  for (let i = 0; i < input.secrets.length; i++) {
    const expected = Buffer.from(standardSignature(input.secrets[i]!, id, timestamp, input.rawBody), 'utf8');
    if (given.some((g) => g.length === expected.length && timingSafeEqual(g, expected))) return { ok: true, secretIndex: i };
  }
  return { ok: false, reason: 'bad_signature' };
}
