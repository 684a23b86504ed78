/**
 * Verifies a Klaviyo system webhook (developers.klaviyo.com/en/docs/working_with_system_webhooks):
 *
 *   Klaviyo-Signature = hex(HMAC-SHA256(key = webhook secret, message = raw body + Klaviyo-Timestamp))
 *
 * Pure, and in a fixed order, in two steps so that a delivery can be refused before its body is
 * read:
 *   checkKlaviyoHeaders: headers present (the signature 64 hex digits) → timestamp within tolerance
 *   verifyKlaviyoBody:   HMAC with each accepted secret (rotation) → constant-time compare → only
 *                        then parse the body → `meta.klaviyo_webhook_id` equals `Klaviyo-Webhook-Id`.
 * The timestamp is hashed exactly as received; it may be an HTTP-date or ISO-8601.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

export interface KlaviyoWebhookInput {
  readonly rawBody: string;
  readonly signature: string | undefined;
  readonly timestamp: string | undefined;
  readonly webhookId: string | undefined;
  readonly secrets: readonly string[];
  readonly toleranceMs: number;
  readonly now?: number;
}

export type VerifyFailure = 'missing_header' | 'bad_timestamp' | 'stale_timestamp' | 'bad_signature' | 'invalid_body' | 'webhook_id_mismatch';

/** `secretIndex`: which of the accepted secrets signed it (a rotation learns from it that the new one is in use). */
export type KlaviyoWebhookResult = { ok: true; body: KlaviyoWebhookBody; secretIndex: number } | { ok: false; reason: VerifyFailure };

export interface KlaviyoWebhookItem {
  readonly topic: string;
  readonly external_id: string;
  readonly payload: unknown;
}

export interface KlaviyoWebhookBody {
  readonly data: readonly KlaviyoWebhookItem[];
  readonly meta: { readonly klaviyo_webhook_id: string; readonly [k: string]: unknown };
}

export function parseWebhookTime(value: string): number | undefined {
  const v = value.trim();
  // Unix seconds are not in Klaviyo's examples, but cost nothing to accept.
  if (/^\d{9,11}$/.test(v)) return Number(v) * 1000;
  const ms = Date.parse(v); // HTTP-date ("Tue, 14 Apr 2026 03:50:12 GMT") and ISO-8601 both parse
  return Number.isFinite(ms) ? ms : undefined;
}

export function klaviyoSignature(secret: string, rawBody: string, timestamp: string): string {
  return createHmac('sha256', secret).update(rawBody).update(timestamp).digest('hex');
}

/** A hex HMAC-SHA256, any case, surrounding spaces allowed. */
const HEX_SIGNATURE = /^[0-9a-f]{64}$/;

/** Everything that can be checked without the body. */
export function checkKlaviyoHeaders(input: Omit<KlaviyoWebhookInput, 'rawBody' | 'secrets'>): { ok: true } | { ok: false; reason: VerifyFailure } {
  const { signature, timestamp, webhookId } = input;
  if (!signature || !timestamp || !webhookId) return { ok: false, reason: 'missing_header' };

  const at = parseWebhookTime(timestamp);
  if (at === undefined) return { ok: false, reason: 'bad_timestamp' };
  if (Math.abs((input.now ?? Date.now()) - at) > input.toleranceMs) return { ok: false, reason: 'stale_timestamp' };
  if (!HEX_SIGNATURE.test(signature.trim().toLowerCase())) return { ok: false, reason: 'bad_signature' };
  return { ok: true };
}

/** The HMAC over the body (one per secret), then the body itself. Call after checkKlaviyoHeaders. */
export function verifyKlaviyoBody(
  input: Omit<KlaviyoWebhookInput, 'toleranceMs' | 'now'> & { signature: string; timestamp: string; webhookId: string },
): KlaviyoWebhookResult {
  const { signature, timestamp, webhookId } = input;
  const given = Buffer.from(signature.trim().toLowerCase(), 'utf8');
  let matched = -1;
  input.secrets.forEach((secret, i) => {
    const expected = Buffer.from(klaviyoSignature(secret, input.rawBody, timestamp), 'utf8');
    // Length first (timingSafeEqual needs equal lengths); a truncated signature fails here. Every
    // secret is tried, matched or not.
    if (given.length === expected.length && timingSafeEqual(given, expected) && matched < 0) matched = i;
  });
  if (matched < 0) return { ok: false, reason: 'bad_signature' };

  let body: unknown;
  try {
    body = JSON.parse(input.rawBody);
  } catch {
    return { ok: false, reason: 'invalid_body' };
  }
  if (!isWebhookBody(body)) return { ok: false, reason: 'invalid_body' };
  if (body.meta.klaviyo_webhook_id !== webhookId) return { ok: false, reason: 'webhook_id_mismatch' };
  return { ok: true, body, secretIndex: matched };
}

export function verifyKlaviyoWebhook(input: KlaviyoWebhookInput): KlaviyoWebhookResult {
  const checked = checkKlaviyoHeaders(input);
  if (!checked.ok) return checked;
  return verifyKlaviyoBody({ ...input, signature: input.signature!, timestamp: input.timestamp!, webhookId: input.webhookId! });
}

/**
 * A delivery's shape, once its signature matched (also the OpenAPI document's request schema for
 * POST /webhooks/klaviyo). Loose: Klaviyo may add fields.
 */
export const KlaviyoDeliverySchema = z.looseObject({
  data: z.array(z.looseObject({ topic: z.string(), external_id: z.string(), payload: z.unknown() })),
  meta: z.looseObject({ klaviyo_webhook_id: z.string() }),
});

function isWebhookBody(b: unknown): b is KlaviyoWebhookBody {
  return KlaviyoDeliverySchema.safeParse(b).success;
}
