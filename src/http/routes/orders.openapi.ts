/** POST /v1/orders in the OpenAPI document (src/http/openapi/route-doc.ts). */
import { z } from 'zod';
import { OrderSchema } from '../../model/order.ts';
import { type RouteDoc, spooledField, V1_ERRORS } from '../openapi/route-doc.ts';
import { singleOrBatchSchema } from '../parse-batch.ts';
import { MAX_ORDERS_PER_REQUEST } from './orders.ts';

const OrdersAcceptedSchema = z.object({
  accepted: z.number().int().meta({ description: 'Orders in the request' }),
  ids: z.array(z.string()),
  events: z.number().int().meta({ description: 'Klaviyo events they became (Placed Order, one Ordered Product per line, a status event)' }),
  duplicates: z.number().int(),
  spooled: spooledField,
});

export const ordersDocs: RouteDoc[] = [
  {
    method: 'post',
    path: '/v1/orders',
    summary: 'Record one order, or up to 100',
    description:
      'Each order becomes "Placed Order", one "Ordered Product" per line and, for fulfilled/cancelled/refunded, that event. Posting the same order again with a new status adds only the status event.',
    tags: ['ingest'],
    security: ['relayKey', 'standardWebhooks'],
    body: singleOrBatchSchema('orders', OrderSchema, MAX_ORDERS_PER_REQUEST),
    responses: { 202: { description: 'Redis (or the spool) holds every event', schema: OrdersAcceptedSchema }, ...V1_ERRORS },
    examples: [
      {
        summary: 'An order of two lines',
        status: 202,
        body: {
          id: 'order-1001',
          profile: { email: 'ada@example.com' },
          value: 59.98,
          currency: 'USD',
          items: [
            { product_id: 'p-1', name: 'Mug', quantity: 1, price: 19.99 },
            { product_id: 'p-2', name: 'Tea', quantity: 2, price: 19.995 },
          ],
        },
      },
      { summary: 'No lines', status: 400, body: { id: 'order-1002', profile: { email: 'ada@example.com' }, value: 0, currency: 'USD', items: [] } },
    ],
  },
];
