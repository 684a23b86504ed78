/**
 * A system-webhook delivery sent to the relay as Klaviyo sends it: one event under `topic`, signed
 * with `secret` (HMAC over the body and timestamp, src/webhooks/klaviyo-signature.ts).
 */
import { randomUUID } from 'node:crypto';
import { klaviyoSignature } from '../../src/webhooks/klaviyo-signature.ts';
import { readReply } from './harness.ts';

export interface SignedDelivery {
  readonly topic?: string;
  readonly meta?: Record<string, unknown>;
}

export async function deliverSigned(
  relayUrl: string,
  webhookId: string,
  secret: string,
  { topic = 'event:klaviyo.opened_email', meta = {} }: SignedDelivery = {},
): Promise<{ status: number; body: any }> {
  const body = JSON.stringify({
    data: [{ topic, external_id: randomUUID(), payload: { data: { type: 'event', id: 'e1' } } }],
    meta: { klaviyo_webhook_id: webhookId, ...meta },
  });
  const ts = new Date().toUTCString();
  const res = await fetch(`${relayUrl}/webhooks/klaviyo`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'klaviyo-webhook-id': webhookId,
      'klaviyo-timestamp': ts,
      'klaviyo-signature': klaviyoSignature(secret, body, ts),
    },
    body,
  });
  return readReply(res);
}
