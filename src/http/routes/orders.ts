/**
 * POST /v1/orders — one order, or {"orders": [...]} with up to 100. Each becomes "Placed Order",
 * one "Ordered Product" per line and, for a fulfilled/cancelled/refunded status, that event
 * (src/model/order-events.ts). Posting the same order again with a new status adds only the
 * status event: the others are recognised as already accepted.
 */
import { Hono } from 'hono';
import { orderEventId, orderEventKey } from '../../item-keys.ts';
import { OrderSchema } from '../../model/order.ts';
import { orderEvents } from '../../model/order-events.ts';
import type { EventItem } from '../../job-data.ts';
import type { V1Env } from '../middleware/v1.ts';
import type { Ingest } from '../../ingest/ingest.ts';
import { jsonError } from '../errors.ts';
import { type EnqueueOr503Deps, enqueueOr503, spooled } from '../enqueue-or-503.ts';
import { parseSingleOrBatch } from '../parse-batch.ts';
import { type ClassDeps, classInputs, ingestByClass } from '../ingest-by-class.ts';
import { itemClass } from '../../priority.ts';

export const MAX_ORDERS_PER_REQUEST = 100;

/** What POST /v1/orders needs: ingest, and what decides the items' class and answers a failed enqueue. */
export interface OrdersRouteDeps extends EnqueueOr503Deps, ClassDeps {
  readonly ingest: Ingest;
}

export function ordersRoutes(deps: OrdersRouteDeps) {
  const app = new Hono<V1Env>();

  app.post('/', async (c) => {
    const parsed = parseSingleOrBatch(c.get('body'), 'orders', OrderSchema, MAX_ORDERS_PER_REQUEST);
    if (!parsed.ok) return jsonError(c, 400, 'validation_failed', parsed.message, parsed.issues);
    const source = c.get('source');
    const items: EventItem[] = parsed.items.flatMap((order) =>
      orderEvents(order).map(({ part, event }) => ({ key: orderEventKey(source.id, order.id, part), id: orderEventId(order.id, part), event })),
    );
    // An order's events share its class: a backfill order (history import) is bulk.
    const classes = classInputs(c, deps);
    return enqueueOr503(c, deps, async () => {
      const result = await ingestByClass(deps.ingest, 'events', source, items, (it) => itemClass(classes, it.event.backfill), c.get('bodyBytes'));
      return c.json(
        { accepted: parsed.items.length, ids: parsed.items.map((o) => o.id), events: items.length, duplicates: result.duplicates, ...spooled(result) },
        202,
      );
    });
  });

  return app;
}
