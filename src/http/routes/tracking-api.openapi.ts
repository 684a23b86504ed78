/** Segment's tracking API (/v1/batch, /v1/track…) in the OpenAPI document (src/http/openapi/route-doc.ts). */
import { z } from 'zod';
import { BatchEnvelopeSchema, MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, MESSAGE_TYPES, SegmentMessageSchema } from '../../model/segment-message.ts';
import { errorResponse, type RouteDoc, spooledField, type RouteExample } from '../openapi/route-doc.ts';

const writeKey = z.string().optional().meta({ description: 'The relay key, when no Authorization header is sent' });
const MessageSchema = SegmentMessageSchema.extend({ type: z.enum(MESSAGE_TYPES).optional(), writeKey });
const BatchSchema = BatchEnvelopeSchema.extend({ batch: z.array(SegmentMessageSchema).min(1), writeKey });

const TrackingAcceptedSchema = z.object({
  success: z.literal(true),
  accepted: z.number().int(),
  ids: z.array(z.string()),
  duplicates: z.number().int(),
  ignored: z.number().int().optional().meta({ description: 'Messages the source’s tracking settings drop (e.g. page views)' }),
  rejected: z
    .array(z.object({ field: z.string(), message: z.string(), index: z.number().int().optional() }))
    .optional()
    .meta({ description: 'Messages that cannot be taken, named (the SDKs do not retry a 400, so the good ones are taken)' }),
  spooled: spooledField,
});

const responses = {
  200: { description: 'The messages that can be taken are in Redis (or the spool)', schema: TrackingAcceptedSchema },
  400: errorResponse('None of the messages can be taken'),
  401: errorResponse('No write key, or not a relay key'),
  413: errorResponse(`A message above ${MAX_MESSAGE_BYTES / 1024} KB or a batch above ${MAX_BATCH_BYTES / 1024} KB`),
  429: errorResponse("The source's limits are reached (Retry-After)"),
  503: errorResponse('The relay cannot take work now (Retry-After)'),
};

const SINGLE_EXAMPLES: Readonly<Record<(typeof MESSAGE_TYPES)[number], Record<string, unknown>>> = {
  track: { userId: 'cust-42', event: 'Order Completed', properties: { order_id: 'o-77', revenue: 29.99, currency: 'USD' } },
  identify: { userId: 'cust-42', traits: { email: 'ada@example.com', firstName: 'Ada' } },
  page: { userId: 'cust-42', name: 'Pricing', properties: { url: 'https://shop.example.com/pricing' } },
  screen: { userId: 'cust-42', name: 'Cart' },
  group: { userId: 'cust-42', groupId: 'team-9', traits: { name: 'Example Inc.' } },
  alias: { userId: 'cust-42', previousId: 'anon-7' },
};

export const trackingDocs: RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/batch',
    summary: 'Segment batch: the SDKs’ endpoint',
    description:
      'What `@segment/analytics-node` and `@rudderstack/rudder-sdk-node` send; point their host at the relay. Gzip bodies are accepted. A bad message does not fail the batch: it is named in `rejected`.',
    tags: ['tracking'],
    security: ['writeKeyBasic'],
    body: BatchSchema,
    responses,
    examples: [
      {
        summary: 'Two messages',
        status: 200,
        body: {
          batch: [
            { type: 'identify', ...SINGLE_EXAMPLES.identify },
            { type: 'track', ...SINGLE_EXAMPLES.track },
          ],
        },
      },
      { summary: 'Nothing that can be taken', status: 400, body: { batch: [{ type: 'track', userId: 'cust-42' }] } },
      { summary: 'No write key', status: 401, auth: false, body: { batch: [{ type: 'track', ...SINGLE_EXAMPLES.track }] } },
    ],
  },
  ...MESSAGE_TYPES.map(
    (type): RouteDoc => ({
      method: 'post',
      path: `/v1/${type}`,
      summary: `Segment ${type}: one message`,
      tags: ['tracking'],
      security: ['writeKeyBasic'],
      body: MessageSchema,
      responses,
      examples: [{ summary: `One ${type}`, status: 200, body: SINGLE_EXAMPLES[type] } satisfies RouteExample],
    }),
  ),
];
