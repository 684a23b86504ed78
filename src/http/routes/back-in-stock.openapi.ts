/** POST /v1/back-in-stock in the OpenAPI document (src/http/openapi/route-doc.ts). */
import { BackInStockSchema, MAX_BACK_IN_STOCK_PER_REQUEST } from '../../model/back-in-stock.ts';
import { type RouteDoc, V1_ERRORS } from '../openapi/route-doc.ts';
import { singleOrBatchSchema } from '../parse-batch.ts';
import { AcceptedSchema } from './events.openapi.ts';

export const backInStockDocs: RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/back-in-stock',
    summary: 'Subscribe people to back-in-stock notices for a variant, one or up to 1,000',
    description:
      `One subscription, or \`{"subscriptions": [...]}\` with up to ${MAX_BACK_IN_STOCK_PER_REQUEST}. Checked as Klaviyo checks one: an email or a phone number, at least one channel, ` +
      'an email for `email` and a phone number for `sms` and `whatsapp`. A `variant_id` without ":::" is your variant id in the custom catalog; a full catalog variant id (`integrationType:::catalogId:::externalId`) is sent as given. ' +
      'A subscription already accepted (same person, variant and channels, under any request id) counts as a duplicate.',
    tags: ['commerce'],
    security: ['relayKey', 'standardWebhooks'],
    body: singleOrBatchSchema('subscriptions', BackInStockSchema, MAX_BACK_IN_STOCK_PER_REQUEST),
    responses: { 202: { description: 'Redis (or the spool) holds every subscription', schema: AcceptedSchema }, ...V1_ERRORS },
    examples: [
      { summary: 'One subscription', status: 202, body: { id: 'bis-1', email: 'ada@example.com', variant_id: 'SKU-1-M', channels: ['email'] } },
      {
        summary: 'A batch, email and SMS',
        status: 202,
        body: {
          subscriptions: [{ email: 'ada@example.com', phone_number: '+15005550006', variant_id: '$custom:::$default:::SKU-2-L', channels: ['email', 'sms'] }],
        },
      },
      { summary: 'SMS without a phone number', status: 400, body: { email: 'ada@example.com', variant_id: 'SKU-1-M', channels: ['sms'] } },
      { summary: 'No key', status: 401, auth: false, body: { email: 'ada@example.com', variant_id: 'SKU-1-M', channels: ['email'] } },
    ],
  },
];
