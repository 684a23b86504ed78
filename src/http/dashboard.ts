/**
 * The queue dashboard: Bull Board (@bull-board/hono) mounted under /ops/queues, behind the admin
 * token like the rest of /ops. Profile identifiers in job data are masked unless
 * RELAY_DASHBOARD_PII is set, and RELAY_DASHBOARD_READONLY removes every button that changes a
 * queue (retries, cleans, promotes).
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { HonoAdapter } from '@bull-board/hono';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import { maskIdentifiers } from '../mask-pii.ts';

/** Masks identifier values (emails, phone numbers) anywhere in job data, in linear time. */
export function maskJobData(data: unknown): unknown {
  return maskIdentifiers(data ?? null);
}

export function dashboardRoutes(queues: readonly Queue[], opts: { basePath: string; readOnly: boolean; showPii: boolean }) {
  const serverAdapter = new HonoAdapter(serveStatic).setBasePath(opts.basePath);
  createBullBoard({
    queues: queues.map((q) => {
      const adapter = new BullMQAdapter(q, { readOnlyMode: opts.readOnly, allowRetries: !opts.readOnly, description: `klaviyo-relay ${q.name}` });
      if (!opts.showPii) {
        adapter.setFormatter('data', maskJobData);
        adapter.setFormatter('returnValue', maskJobData);
      }
      return adapter;
    }),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'klaviyo-relay' } },
  });
  return serverAdapter.registerPlugin();
}
