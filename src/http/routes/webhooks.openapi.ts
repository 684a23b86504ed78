/** Klaviyo's webhooks (/webhooks/klaviyo, /webhooks/klaviyo/flows/{name}) in the OpenAPI document (src/http/openapi/route-doc.ts). */
import { z } from 'zod';
import { KlaviyoDeliverySchema } from '../../webhooks/klaviyo-signature.ts';
import { errorResponse, type RouteDoc } from '../openapi/route-doc.ts';

const ReceivedSchema = z.object({
  received: z.number().int().meta({ description: 'Items in the delivery' }),
  enqueued: z.number().int().meta({ description: 'Items a rule listens to, now queued' }),
  duplicates: z.number().int().meta({ description: 'Items accepted before (Klaviyo retries)' }),
  unmatched: z.number().int().meta({ description: 'Items no rule listens to: acknowledged and counted' }),
});

const common = {
  tags: ['webhooks'],
  responses: {
    200: { description: 'Accepted (Klaviyo needs a 2xx, fast; the work happens in the workers)', schema: ReceivedSchema },
    400: errorResponse('The body is not valid JSON, or nested too deep'),
    401: errorResponse('The signature or shared secret does not verify'),
    404: errorResponse('Not configured (system webhooks), or no flow of that name'),
    413: errorResponse('The body is larger than RELAY_MAX_BODY_BYTES'),
    503: errorResponse('The relay cannot take work now; Klaviyo retries'),
  },
} as const;

/** The delivery the examples send; the contract test signs it with the configured secret. */
export const EXAMPLE_DELIVERY = {
  data: [
    {
      topic: 'event:klaviyo.unsubscribed_from_email_marketing',
      external_id: '01JEXAMPLEUNSUB0001',
      payload: { data: { type: 'event', attributes: { metric_id: 'Ab12Cd', datetime: '2026-11-27T10:00:00+00:00' } } },
    },
  ],
  meta: { klaviyo_webhook_id: '01JEXAMPLEWEBHOOK', version: '2024-10-15' },
};

export const webhooksDocs: RouteDoc[] = [
  {
    ...common,
    method: 'post',
    path: '/webhooks/klaviyo',
    summary: "Klaviyo's system webhooks",
    description:
      'A signed delivery (Klaviyo-Signature, Klaviyo-Timestamp, Klaviyo-Webhook-Id); each item whose topic a rule listens to becomes one job, deduplicated on `external_id`. Headers are checked before the body is read.',
    security: ['klaviyoSignature'],
    body: KlaviyoDeliverySchema,
    examples: [
      { summary: 'An unsubscribe', status: 200, body: EXAMPLE_DELIVERY },
      { summary: 'Unsigned', status: 401, auth: false, body: EXAMPLE_DELIVERY },
    ],
  },
  {
    ...common,
    method: 'post',
    path: '/webhooks/klaviyo/flows/{name}',
    summary: 'A flow webhook action',
    description:
      'Klaviyo does not sign these: the flow’s shared secret comes in its header (RELAY_CONFIG `flows.<name>`). The item id is the body’s `id`, else a hash of the body, so Klaviyo’s retries are recognised.',
    security: ['flowSecret'],
    params: z.object({ name: z.string().meta({ description: 'The flow’s name in RELAY_CONFIG `flows`' }) }),
    body: z.unknown().meta({ description: 'Any JSON the flow sends; a string `id` identifies the call' }),
    examples: [
      { summary: 'A flow call', status: 200, params: { name: 'winback' }, body: { id: 'flow-call-1', email: 'ada@example.com', coupon: 'WELCOME10' } },
      { summary: 'An unknown flow', status: 404, params: { name: 'nowhere' }, body: { id: 'x' } },
      { summary: 'Without the secret', status: 401, auth: false, params: { name: 'winback' }, body: { id: 'flow-call-2' } },
    ],
  },
];
