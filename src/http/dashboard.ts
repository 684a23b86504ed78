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

/** Masks identifier values (emails, phone numbers) anywhere in job data, in linear time. */
export function maskJobData(data: unknown): unknown {
  return maskIdentifiers(data ?? null);
}

export function dashboardRoutes(queues: readonly Queue[], opts: { basePath: string; readOnly: boolean; showPii: boolean }) {
  const readOnly = opts.readOnly || !opts.showPii;
  const serverAdapter = new HonoAdapter(serveStatic).setBasePath(opts.basePath);
  createBullBoard({
    queues: queues.map((q) => {
      const adapter = new BullMQAdapter(q, { readOnlyMode: readOnly, allowRetries: !readOnly, description: `klaviyo-relay ${q.name}` });
      if (!opts.showPii) {
        adapter.setFormatter('data', maskJobData);
        adapter.setFormatter('returnValue', maskJobData);
      }
      return adapter;
    }),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'klaviyo-relay' } },
  });
  const board = serverAdapter.registerPlugin();
  if (!readOnly) return board;
  const guarded = new Hono();
  guarded.use('*', async (c, next) => {
    if (!isWrite(c.req.method)) return next();
    const why = opts.showPii ? 'RELAY_DASHBOARD_READONLY is set' : 'it shows masked data (RELAY_DASHBOARD_PII=false), which an edit would store';
    return jsonError(c, 403, 'dashboard_read_only', `The dashboard is read-only: ${why}. Writable only with RELAY_DASHBOARD_PII=true and RELAY_DASHBOARD_READONLY=false`);
  });
  guarded.route('/', board);
  return guarded;
}
