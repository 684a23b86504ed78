/**
 * /ops — the operators' API (admin token): dead letters (list, show, replay with a dry run), lanes,
 * Klaviyo webhook subscriptions (ops-webhooks.ts) and the audit log. Writes take JSON bodies only (ops-body.ts); with Basic credentials only from our
 * own pages (admin-auth.ts).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { jobRef } from '../../item-keys.ts';
import { JOB_KINDS } from '../../queues.ts';
import { PRIORITY_CLASSES } from '../../priority.ts';
import type { DeadLetters } from '../../ops/dead-letters.ts';
import type { AuditEntry } from '../../ops/audit.ts';
import type { Status } from '../../ops/status.ts';
import { adminAuth, type AdminEnv } from '../middleware/admin-auth.ts';
import { jsonError, zodIssues } from '../errors.ts';
import { readOpsBody } from '../ops-body.ts';
import { type OpsWebhooksDeps, opsWebhookRoutes } from './ops-webhooks.ts';

export interface OpsDeps {
  readonly adminToken?: string;
  readonly deadLetters: DeadLetters;
  readonly audit: (count: number) => Promise<(AuditEntry & { at: string })[]>;
  readonly status: () => Promise<Status>;
  readonly lanes: readonly string[];
  readonly pause: (lane: string, actor: string) => Promise<void>;
  readonly resume: (lane: string, actor: string) => Promise<void>;
  readonly find: (q: { id?: string; email?: string; phone_number?: string; external_id?: string }) => Promise<unknown[]>;
  /** Bull Board, mounted at /ops/queues behind the same token. */
  readonly dashboard?: Hono;
  /** Klaviyo system-webhook subscriptions, at /ops/webhooks. */
  readonly klaviyoWebhooks?: OpsWebhooksDeps;
}

const time = z.union([z.coerce.number().int().nonnegative(), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))]);

export const FilterSchema = z
  .object({
    kind: z.enum(JOB_KINDS).optional(),
    lane: z
      .string()
      .regex(/^[a-z0-9_-]{1,32}$/)
      .optional(),
    class: z.enum(PRIORITY_CLASSES).optional(),
    code: z.string().min(1).max(100).optional(),
    status: z.coerce.number().int().min(0).max(599).optional(),
    source: z.string().min(1).max(100).optional(),
    since: time.optional(),
    until: time.optional(),
  })
  .strict();

export const ReplaySchema = FilterSchema.extend({
  ids: z.array(z.string().min(3).max(300)).min(1).max(10_000).optional(),
  /** Say what would be sent; change nothing. */
  dryRun: z.boolean().default(false),
  /** Required to replay every dead letter (no filter, no ids): an accident should cost nothing. */
  all: z.boolean().optional(),
  /** The class the jobs go back as: bulk unless "live" is asked for (src/priority.ts). */
  priority: z.enum(PRIORITY_CLASSES).optional(),
}).strict();

export const FindSchema = z
  .object({
    id: z.string().min(1).max(255).optional(),
    email: z.string().min(3).max(254).optional(),
    phone_number: z.string().min(3).max(20).optional(),
    external_id: z.string().min(1).max(255).optional(),
  })
  .strict()
  .refine((q) => Object.keys(q).length > 0, 'give one of id, email, phone_number, external_id');

/** The body of a lane pause or resume. */
export const EmptySchema = z.object({}).strict();

/** `limit` (1–1000, default 100) and `offset` (default 0) of GET /ops/dead-letters. */
export const PageSchema = z.object({
  limit: z.coerce.number().int('must be a whole number').min(1, 'must be at least 1').max(1000, 'must be at most 1000').default(100),
  offset: z.coerce.number().int('must be a whole number').min(0, 'must not be negative').default(0),
});

export function opsRoutes(deps: OpsDeps) {
  const app = new Hono<AdminEnv>();
  app.use('*', adminAuth(deps.adminToken));

  app.get('/dead-letters', async (c) => {
    const { limit, offset, ...query } = c.req.query();
    const f = FilterSchema.safeParse(query);
    if (!f.success) return jsonError(c, 400, 'validation_failed', 'The filter is not valid', zodIssues(f.error));
    const page = PageSchema.safeParse({ limit, offset });
    if (!page.success) return jsonError(c, 400, 'validation_failed', 'The page is not valid', zodIssues(page.error));
    return c.json(await deps.deadLetters.list(f.data, page.data.limit, page.data.offset));
  });

  app.get('/dead-letters/:queue/:jobId', async (c) => {
    const dl = await deps.deadLetters.show(jobRef(c.req.param('queue'), c.req.param('jobId')));
    return dl ? c.json(dl) : jsonError(c, 404, 'not_found', 'No dead letter with that reference');
  });

  app.post('/dead-letters/replay', async (c) => {
    const read = await readOpsBody(c, 'a filter, "ids", or "all": true ("dryRun": true to preview)');
    if (!read.ok) return read.response;
    if (read.body === undefined)
      return jsonError(c, 400, 'invalid_json', 'Send a JSON body: a filter, "ids", or "all": true; "dryRun": true to preview', [
        { field: '(body)', message: 'is required' },
      ]);
    const r = ReplaySchema.safeParse(read.body);
    if (!r.success) return jsonError(c, 400, 'validation_failed', 'The replay request is not valid', zodIssues(r.error));
    const { dryRun, all, priority, ...filter } = r.data;
    if (Object.keys(filter).length === 0 && !all) {
      return jsonError(c, 400, 'validation_failed', 'Name what to replay: a filter, "ids", or "all": true', [
        { field: 'all', message: 'is required to replay every dead letter' },
      ]);
    }
    return c.json(await deps.deadLetters.replay(filter, { dryRun, actor: c.get('actor'), priority }));
  });

  app.get('/status', async (c) => c.json(await deps.status()));

  for (const action of ['pause', 'resume'] as const) {
    app.post(`/lanes/:lane/${action}`, async (c) => {
      const lane = c.req.param('lane');
      if (!deps.lanes.includes(lane)) return jsonError(c, 404, 'not_found', `No lane named ${JSON.stringify(lane)} (known: ${deps.lanes.join(', ')})`);
      // `{}` (or, with a Bearer token, no body): a pause is a write like any other, so that a
      // browser's form cannot trigger one.
      const read = await readOpsBody(c, '{}');
      if (!read.ok) return read.response;
      const empty = read.body === undefined ? undefined : EmptySchema.safeParse(read.body);
      if (empty && !empty.success) return jsonError(c, 400, 'validation_failed', `A ${action} takes no parameters: send {}`, zodIssues(empty.error));
      await deps[action](lane, c.get('actor'));
      return c.json({ lane, [action === 'pause' ? 'paused' : 'resumed']: true });
    });
  }

  app.get('/find', async (c) => {
    const f = FindSchema.safeParse(c.req.query());
    if (!f.success) return jsonError(c, 400, 'validation_failed', 'Give one of id, email, phone_number, external_id', zodIssues(f.error));
    return c.json({ query: f.data, jobs: await deps.find(f.data) });
  });

  if (deps.dashboard) app.route('/queues', deps.dashboard);
  if (deps.klaviyoWebhooks) app.route('/webhooks', opsWebhookRoutes(deps.klaviyoWebhooks));

  app.get('/audit', async (c) => c.json({ entries: await deps.audit(Math.min(1000, Number(c.req.query('limit') ?? 100) || 100)) }));

  return app;
}
