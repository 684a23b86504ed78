/** POST /v1/events in the OpenAPI document (src/http/openapi/route-doc.ts). */
import { z } from 'zod';
import { EventSchema, MAX_EVENTS_PER_REQUEST } from '../../model/event.ts';
import { type RouteDoc, spooledField, V1_ERRORS } from '../openapi/route-doc.ts';
import { singleOrBatchSchema } from '../parse-batch.ts';

export const AcceptedSchema = z.object({
  accepted: z.number().int().meta({ description: 'Items in the request' }),
  ids: z.array(z.string()).meta({ description: 'Their ids (yours, or generated)' }),
  duplicates: z.number().int().meta({ description: 'Items accepted before (same source and id): not queued again' }),
  spooled: spooledField,
});

export const eventsDocs: RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/events',
    summary: 'Track one event, or up to 1,000',
    description:
      `One event, or \`{"events": [...]}\` with up to ${MAX_EVENTS_PER_REQUEST}. Validated whole: one bad item fails the request with every problem named, and nothing is queued. ` +
      'The same `id` from the same key is accepted once. `X-Relay-Priority: live|bulk` asks for a class; `backfill: true` is always bulk and triggers no flows.',
    tags: ['ingest'],
    security: ['relayKey', 'standardWebhooks'],
    body: singleOrBatchSchema('events', EventSchema, MAX_EVENTS_PER_REQUEST),
    responses: { 202: { description: 'Redis (or the spool) holds every item', schema: AcceptedSchema }, ...V1_ERRORS },
    examples: [
      {
        summary: 'One event',
        status: 202,
        body: { id: 'order-1001', event: 'Placed Order', profile: { email: 'ada@example.com' }, value: 29.99, value_currency: 'USD' },
      },
      {
        summary: 'A batch',
        status: 202,
        body: {
          events: [
            { id: 'view-1', event: 'Viewed Product', profile: { external_id: 'cust-42' }, properties: { sku: 'SKU-1' } },
            { id: 'view-2', event: 'Viewed Product', profile: { phone_number: '+15005550006' }, properties: { sku: 'SKU-2' } },
          ],
        },
      },
      { summary: 'A profile without an identifier', status: 400, body: { event: 'Placed Order', profile: {} } },
      { summary: 'No key', status: 401, auth: false, body: { event: 'Placed Order', profile: { email: 'ada@example.com' } } },
    ],
  },
];
