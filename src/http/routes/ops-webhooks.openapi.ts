/** /ops/webhooks (Klaviyo system-webhook subscriptions) in the OpenAPI document (src/http/openapi/route-doc.ts). */
import { z } from 'zod';
import { errorResponse, OPS_ERRORS, type ResponseDoc, type RouteDoc } from '../openapi/route-doc.ts';
import { EmptySchema } from './ops.ts';
import { CreateSchema, DeleteSchema, LANE, RotateSchema } from './ops-webhooks.ts';

const ops = { tags: ['ops'], security: ['adminToken', 'adminBasic'] } as const;
const laneQuery = z.object({ lane: LANE.optional().meta({ description: 'The account (default: default)' }) });
const idParams = z.object({ id: z.string().meta({ description: "Klaviyo's webhook id" }) });

const WebhookSchema = z.object({ id: z.string(), url: z.string(), topics: z.array(z.string()) }).loose();
const SecretSchema = z.object({
  fingerprint: z.string(),
  value: z.string().optional().meta({ description: 'Only with "reveal": true' }),
});

/** What a call to Klaviyo's Webhooks API can answer besides success. */
const KLAVIYO_ERRORS: Readonly<Record<number, ResponseDoc>> = {
  400: errorResponse('The request is not valid, or Klaviyo rejected it (`issues`: its errors)'),
  403: errorResponse('webhooks_not_enabled: the account has no access to Klaviyo’s Webhooks API (use flow webhooks)'),
  404: errorResponse('No such webhook'),
  502: errorResponse('Klaviyo or the gateway failed or did not answer'),
  503: errorResponse('quota_wait: no call of Klaviyo’s quota (1/s, 15/min) was free in time (Retry-After); or the operations API is closed'),
  401: OPS_ERRORS[401]!,
};

export const opsWebhooksDocs: RouteDoc[] = [
  {
    ...ops,
    method: 'get',
    path: '/ops/webhooks/topics',
    summary: "The account's webhook topics",
    query: laneQuery,
    responses: { 200: { description: 'Topics', schema: z.object({ lane: z.string(), topics: z.array(z.string()) }) }, ...KLAVIYO_ERRORS },
    examples: [{ summary: 'Default account', status: 200 }],
  },
  {
    ...ops,
    method: 'get',
    path: '/ops/webhooks',
    summary: "Klaviyo's webhooks, with what the relay holds of each",
    query: laneQuery,
    responses: { 200: { description: 'Webhooks', schema: z.object({ lane: z.string(), webhooks: z.array(WebhookSchema) }) }, ...KLAVIYO_ERRORS },
    examples: [
      { summary: 'Default account', status: 200 },
      { summary: 'Not a lane name', status: 400, query: { lane: 'Not A Lane' } },
    ],
  },
  {
    ...ops,
    method: 'get',
    path: '/ops/webhooks/local',
    summary: 'What the relay holds (secrets’ fingerprints, deliveries), without calling Klaviyo',
    responses: { 200: { description: 'Webhooks known here', schema: z.object({ webhooks: z.array(z.object({ id: z.string() }).loose()) }) }, ...OPS_ERRORS },
    examples: [{ summary: 'Now', status: 200 }],
  },
  {
    ...ops,
    method: 'get',
    path: '/ops/webhooks/{id}',
    summary: 'One webhook',
    params: idParams,
    query: laneQuery,
    responses: { 200: { description: 'The webhook', schema: z.object({ webhook: WebhookSchema }) }, ...KLAVIYO_ERRORS },
    examples: [{ summary: 'An id Klaviyo does not know', status: 404, params: { id: '01JNOSUCHWEBHOOK' } }],
  },
  {
    ...ops,
    method: 'post',
    path: '/ops/webhooks',
    summary: 'Make a Klaviyo webhook to this relay, with a secret the relay keeps',
    body: CreateSchema,
    responses: {
      201: {
        description: 'Made: the secret is answered as a fingerprint ("reveal": true adds its value)',
        schema: z.object({ webhook: WebhookSchema, secret: SecretSchema }),
      },
      ...KLAVIYO_ERRORS,
      415: errorResponse('The body is not JSON'),
    },
    examples: [
      {
        summary: 'Unsubscribes to this relay',
        status: 201,
        body: { url: 'https://relay.example.com/webhooks/klaviyo', topics: ['event:klaviyo.unsubscribed_from_email_marketing'], name: 'relay' },
      },
      { summary: 'An http URL', status: 400, body: { url: 'http://relay.example.com/webhooks/klaviyo', topics: ['event:klaviyo.clicked_email'] } },
    ],
  },
  {
    ...ops,
    method: 'post',
    path: '/ops/webhooks/{id}/rotate',
    summary: "Rotate a webhook's secret (the old one stays accepted for `grace` seconds)",
    params: idParams,
    body: RotateSchema,
    responses: {
      200: { description: 'Rotated', schema: z.object({ webhook: WebhookSchema, secret: SecretSchema, retiring: z.array(z.unknown()) }) },
      ...KLAVIYO_ERRORS,
      415: errorResponse('The body is not JSON'),
    },
    examples: [{ summary: 'A negative grace', status: 400, params: { id: '01JNOSUCHWEBHOOK' }, body: { grace: -1 } }],
  },
  {
    ...ops,
    method: 'post',
    path: '/ops/webhooks/{id}/test',
    summary: 'Send a signed self-test delivery to the webhook’s URL',
    params: idParams,
    body: EmptySchema,
    responses: {
      200: { description: 'What the delivery got', schema: z.object({ test: z.unknown() }) },
      ...KLAVIYO_ERRORS,
      415: errorResponse('The body is not JSON'),
    },
    examples: [{ summary: 'A webhook the relay does not hold', status: 404, params: { id: '01JNOSUCHWEBHOOK' }, body: {} }],
  },
  {
    ...ops,
    method: 'delete',
    path: '/ops/webhooks/{id}',
    summary: 'Delete a webhook at Klaviyo and its secrets here',
    params: idParams,
    body: DeleteSchema,
    responses: {
      200: { description: 'Deleted', schema: z.object({ deleted: z.string(), atKlaviyo: z.boolean() }) },
      ...KLAVIYO_ERRORS,
      415: errorResponse('The body is not JSON'),
    },
    examples: [{ summary: 'An unknown field', status: 400, params: { id: '01JNOSUCHWEBHOOK' }, body: { force: true } }],
  },
];
