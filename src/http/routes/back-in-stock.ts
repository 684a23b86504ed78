/**
 * POST /v1/back-in-stock — one subscription, or {"subscriptions": [...]} with up to 1,000
 * (src/model/back-in-stock.ts). Each becomes a Klaviyo back-in-stock subscription
 * (workers/back-in-stock/processor.ts). A subscription already accepted (same person, variant
 * and channels, under any request id) counts as a duplicate.
 */
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { backInStockKey } from '../../item-keys.ts';
import { BackInStockSchema, MAX_BACK_IN_STOCK_PER_REQUEST, toSubscription } from '../../model/back-in-stock.ts';
import type { BackInStockItem } from '../../job-data.ts';
import type { Ingest } from '../../ingest/ingest.ts';
import type { V1Env } from '../middleware/v1.ts';
import { jsonError } from '../errors.ts';
import { type EnqueueOr503Deps, enqueueOr503, spooled } from '../enqueue-or-503.ts';
import { parseSingleOrBatch } from '../parse-batch.ts';

export interface BackInStockRouteDeps extends EnqueueOr503Deps {
  readonly ingest: Ingest;
}

export function backInStockRoutes(deps: BackInStockRouteDeps) {
  const app = new Hono<V1Env>();

  app.post('/', async (c) => {
    const parsed = parseSingleOrBatch(c.get('body'), 'subscriptions', BackInStockSchema, MAX_BACK_IN_STOCK_PER_REQUEST);
    if (!parsed.ok) return jsonError(c, 400, 'validation_failed', parsed.message, parsed.issues);
    const source = c.get('source');
    const fallbackId = randomUUID();
    const items: BackInStockItem[] = parsed.items.map((input) => {
      const subscription = toSubscription(input);
      return { key: backInStockKey(source.id, subscription), id: input.id ?? fallbackId, subscription };
    });
    const ids = [...new Set(items.map((it) => it.id))];
    return enqueueOr503(c, deps, async () => {
      // One queue per lane: a subscription is a shopper's click, served as it comes (no classes).
      const result = await deps.ingest.backInStock({ id: source.id, lane: source.lane }, items, c.get('bodyBytes'));
      return c.json({ accepted: items.length, ids, duplicates: result.duplicates, ...spooled(result) }, 202);
    });
  });

  return app;
}
