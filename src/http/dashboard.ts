/**
 * The queue dashboard: Bull Board (@bull-board/hono) mounted under /ops/queues, behind the admin
 * token like the rest of /ops. Profile identifiers in job data are masked unless
 * RELAY_DASHBOARD_PII is set, and RELAY_DASHBOARD_READONLY removes every button that changes a
 * queue (retries, cleans, promotes).
 *
 * While it shows masked data the dashboard is read-only whatever RELAY_DASHBOARD_READONLY says:
 * Bull Board's "edit" and "duplicate" start from the data it shows, so they would store
 * `a***@example.com` into a job that is then sent. The server refuses every write itself (the
 * buttons are hidden too, but a hidden button is no guard).
 *
 * Queues appear while the service runs (one per source and class, src/queue-catalog.ts): the
 * board's list is brought up to date from the catalog when it is looked at, at most every 5 s.
 * The board lists them by queue name (`events.default.bulk.key-1a2b…`: kind, lane, class, source)
 * and shows under each queue's title a description in words, with the source's configured name.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import { Hono } from 'hono';
import { jsonError } from './errors.ts';
import { isWrite } from './middleware/same-origin.ts';
import { maskIdentifiers } from '../mask-pii.ts';
import { parseQueueName, type QueueRef } from '../queue-catalog.ts';

/** Masks identifier values (emails, phone numbers) anywhere in job data, in linear time. */
export function maskJobData(data: unknown): unknown {
  return maskIdentifiers(data ?? null);
}

/** How often the board's queue list may be refreshed from the catalog. */
const REFRESH_MS = 5000;

export function dashboardRoutes(
  queues: readonly Queue[],
  opts: { basePath: string; readOnly: boolean; showPii: boolean; describe?: (ref: QueueRef) => string },
  /** Every queue now (the catalog's); new ones are added to the board. */
  current?: () => Promise<readonly Queue[]>,
) {
  const readOnly = opts.readOnly || !opts.showPii;
  const serverAdapter = new HonoAdapter(serveStatic).setBasePath(opts.basePath);
  const adapt = (q: Queue) => {
    const ref = parseQueueName(q.name);
    const description = ref && opts.describe ? opts.describe(ref) : `klaviyo-relay ${q.name}`;
    const adapter = new BullMQAdapter(q, { readOnlyMode: readOnly, allowRetries: !readOnly, description });
    if (!opts.showPii) {
      adapter.setFormatter('data', maskJobData);
      adapter.setFormatter('returnValue', maskJobData);
    }
    return adapter;
  };
  const shown = new Set(queues.map((q) => q.name));
  const api = createBullBoard({ queues: queues.map(adapt), serverAdapter, options: { uiConfig: { boardTitle: 'klaviyo-relay' } } });
  let refreshedAt = 0;
  let refreshing: Promise<void> | undefined;
  async function refresh(): Promise<void> {
    if (!current || Date.now() - refreshedAt < REFRESH_MS) return;
    refreshing ??= current()
      .then((all) => {
        refreshedAt = Date.now();
        for (const q of all) {
          if (shown.has(q.name)) continue;
          shown.add(q.name);
          api.addQueue(adapt(q));
        }
      })
      .catch(() => undefined) // Redis away: the board shows what it knew
      .finally(() => (refreshing = undefined));
    await refreshing;
  }
  const board = new Hono();
  board.use('*', async (_c, next) => {
    await refresh();
    return next();
  });
  board.route('/', serverAdapter.registerPlugin());
  if (!readOnly) return board;
  const guarded = new Hono();
  guarded.use('*', async (c, next) => {
    if (!isWrite(c.req.method)) return next();
    const why = opts.showPii ? 'RELAY_DASHBOARD_READONLY is set' : 'it shows masked data (RELAY_DASHBOARD_PII=false), which an edit would store';
    return jsonError(
      c,
      403,
      'dashboard_read_only',
      `The dashboard is read-only: ${why}. Writable only with RELAY_DASHBOARD_PII=true and RELAY_DASHBOARD_READONLY=false`,
    );
  });
  guarded.route('/', board);
  return guarded;
}
