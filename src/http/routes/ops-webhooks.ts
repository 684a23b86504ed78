/**
 * /ops/webhooks — Klaviyo system-webhook subscriptions for automation (admin token, mounted by
 * ops.ts behind its auth and CSRF rules; writes take JSON, or no body with Bearer):
 *
 *   GET    /ops/webhooks/topics[?lane=]     the account's topics
 *   GET    /ops/webhooks[?lane=]            Klaviyo's webhooks, with what the relay holds of each
 *   GET    /ops/webhooks/local              what the relay holds only (no Klaviyo call: `relay doctor`)
 *   GET    /ops/webhooks/{id}[?lane=]
 *   POST   /ops/webhooks                    {url, topics, name?, description?, lane?, reveal?} → 201
 *   POST   /ops/webhooks/{id}/rotate        {grace?, lane?, reveal?}
 *   POST   /ops/webhooks/{id}/test          a signed self-test delivery to its URL
 *   DELETE /ops/webhooks/{id}               {lane?}
 *
 * Secrets are answered as fingerprints; `"reveal": true` adds the new secret's value to that one
 * answer (to keep a copy elsewhere). Klaviyo's calls wait for their quota (1/s, 15/min) up to
 * QUOTA_WAIT_MS, then 503 `quota_wait` with Retry-After. A 403 `permission_denied` becomes
 * 403 `webhooks_not_enabled` explaining the flow-webhook alternative.
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { KlaviyoApiError, KlaviyoResponseError, KlaviyoTransportError } from '../../errors.ts';
import { KLAVIYO_ID } from '../../klaviyo/endpoints.ts';
import { isPermissionDenied, PERMISSION_DENIED_HELP } from '../../klaviyo/webhooks.ts';
import { DEFAULT_GRACE_MS, type KlaviyoWebhookAdmin, WebhookAdminError } from '../../ops/klaviyo-webhooks.ts';
import type { StoredSecret } from '../../webhooks/secret-store.ts';
import { jsonError, zodIssues } from '../errors.ts';
import type { AdminEnv } from '../middleware/admin-auth.ts';
import { readOpsBody } from '../ops-body.ts';

export interface OpsWebhooksDeps {
  readonly admin: KlaviyoWebhookAdmin;
  /** How long a call may wait for Klaviyo's quota before 503 (default QUOTA_WAIT_MS). */
  readonly quotaWaitMs?: number;
}

/** Longer than the 60 s steady window: the 16th call of a minute is waited for, not refused. */
export const QUOTA_WAIT_MS = 75_000;

export const LANE = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'must be a lane (account) name');
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

/** https, or http on this machine (the sandbox); no credentials in it (Klaviyo would show them). One check: zod runs every refinement. */
const PublicUrl = z
  .string()
  .max(2048)
  .superRefine((u, ctx) => {
    if (!URL.canParse(u)) return void ctx.addIssue({ code: 'custom', message: 'must be a URL, e.g. https://relay.example.com/webhooks/klaviyo' });
    const p = new URL(u);
    if (!(p.protocol === 'https:' || (p.protocol === 'http:' && LOOPBACK.test(p.hostname))))
      ctx.addIssue({ code: 'custom', message: 'must be https (Klaviyo delivers to https only; http only on a loopback host, for the sandbox)' });
    else if (p.username !== '' || p.password !== '') ctx.addIssue({ code: 'custom', message: 'must not carry credentials' });
  });

const Topic = z
  .string()
  .min(3)
  .max(200)
  .regex(/^[a-z][a-z0-9_-]*:[A-Za-z0-9_.-]+$/, 'must be a topic id, e.g. event:klaviyo.unsubscribed_from_email_marketing');

export const CreateSchema = z
  .object({
    url: PublicUrl,
    topics: z.array(Topic).min(1).max(100),
    name: z.string().trim().min(1).max(100).optional(),
    description: z.string().max(1000).optional(),
    lane: LANE.default('default'),
    reveal: z.boolean().default(false),
  })
  .strict();

export const RotateSchema = z
  .object({
    /** Seconds the old secret stays accepted (default 600; 0: until the first delivery with the new one, plus a minute). */
    grace: z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400)
      .optional(),
    lane: LANE.optional(),
    reveal: z.boolean().default(false),
  })
  .strict();

export const DeleteSchema = z.object({ lane: LANE.optional() }).strict();
const EmptySchema = z.object({}).strict();

function secretOut(s: StoredSecret, reveal: boolean) {
  return { fingerprint: s.fingerprint, ...(reveal ? { value: s.value } : {}) };
}

export function opsWebhookRoutes(deps: OpsWebhooksDeps) {
  const app = new Hono<AdminEnv>();
  const { admin } = deps;
  const waitMs = deps.quotaWaitMs ?? QUOTA_WAIT_MS;

  /** Runs a Klaviyo-calling operation with its quota wait bounded; maps what can go wrong to answers. */
  async function klaviyo(c: Context<AdminEnv>, run: (signal: AbortSignal) => Promise<Response>): Promise<Response> {
    const signal = AbortSignal.timeout(waitMs);
    try {
      return await run(signal);
    } catch (err) {
      if (signal.aborted && (err as Error)?.name === 'TimeoutError') {
        c.header('Retry-After', '60');
        return jsonError(c, 503, 'quota_wait', `Klaviyo's Webhooks API allows 1 call per second and 15 per minute; none was free within ${waitMs / 1000} s`);
      }
      if (err instanceof WebhookAdminError) return jsonError(c, err.status, err.code, err.message);
      if (isPermissionDenied(err)) return jsonError(c, 403, 'webhooks_not_enabled', PERMISSION_DENIED_HELP);
      if (err instanceof KlaviyoApiError) {
        const said = `${err.origin === 'gateway' ? 'the Maton gateway' : 'Klaviyo'} answered ${err.status}${err.code ? ` ${err.code}` : ''}${err.detail ? `: ${err.detail}` : ''}`;
        if (err.status === 404 && err.origin === 'klaviyo') return jsonError(c, 404, 'not_found', said);
        if (err.status === 429) {
          c.header('Retry-After', String(Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000))));
          return jsonError(c, 503, 'quota_wait', said);
        }
        if (err.status >= 400 && err.status < 500 && err.origin === 'klaviyo')
          return jsonError(
            c,
            400,
            'klaviyo_rejected',
            said,
            err.errors.map((e) => ({ field: e.source?.pointer ?? e.source?.parameter ?? '(klaviyo)', message: e.detail ?? e.title ?? e.code ?? '' })),
          );
        return jsonError(c, 502, 'klaviyo_error', said);
      }
      if (err instanceof KlaviyoTransportError)
        return jsonError(c, 502, 'klaviyo_unreachable', `No answer from Klaviyo (${err.kind}): what it did is unknown; \`relay webhooks list\` shows it`);
      if (err instanceof KlaviyoResponseError) return jsonError(c, 502, 'klaviyo_error', err.message);
      throw err;
    }
  }

  const badId = (c: Context<AdminEnv>) => jsonError(c, 404, 'not_found', 'A webhook id is letters, digits, - and _');
  const laneQuery = (c: Context<AdminEnv>) => {
    const l = c.req.query('lane');
    return l === undefined ? { ok: true as const } : LANE.safeParse(l).success ? { ok: true as const, lane: l } : { ok: false as const };
  };
  const badLane = (c: Context<AdminEnv>) =>
    jsonError(c, 400, 'validation_failed', 'The lane is not valid', [{ field: 'lane', message: 'must be a lane (account) name' }]);

  app.get('/topics', async (c) => {
    const q = laneQuery(c);
    if (!q.ok) return badLane(c);
    return klaviyo(c, async (signal) => c.json({ lane: q.lane ?? 'default', topics: await admin.topics(q.lane ?? 'default', signal) }));
  });

  app.get('/local', async (c) => c.json({ webhooks: await admin.local() }));

  app.get('/', async (c) => {
    const q = laneQuery(c);
    if (!q.ok) return badLane(c);
    return klaviyo(c, async (signal) => c.json({ lane: q.lane ?? 'default', webhooks: await admin.list(q.lane ?? 'default', signal) }));
  });

  app.get('/:id', async (c) => {
    const id = c.req.param('id');
    if (!KLAVIYO_ID.test(id)) return badId(c);
    const q = laneQuery(c);
    if (!q.ok) return badLane(c);
    return klaviyo(c, async (signal) => c.json({ webhook: await admin.get(id, q.lane, signal) }));
  });

  app.post('/', async (c) => {
    const read = await readOpsBody(c, '{"url": "https://…/webhooks/klaviyo", "topics": ["event:klaviyo.…"]}');
    if (!read.ok) return read.response;
    const r = CreateSchema.safeParse(read.body === undefined ? {} : read.body);
    if (!r.success) return jsonError(c, 400, 'validation_failed', 'The webhook is not valid', zodIssues(r.error));
    const { reveal, ...input } = r.data;
    return klaviyo(c, async (signal) => {
      const out = await admin.create(input, c.get('actor'), signal);
      return c.json({ webhook: out.webhook, secret: secretOut(out.secret, reveal) }, 201);
    });
  });

  app.post('/:id/rotate', async (c) => {
    const id = c.req.param('id');
    if (!KLAVIYO_ID.test(id)) return badId(c);
    const read = await readOpsBody(c, '{} (or {"grace": <seconds>})');
    if (!read.ok) return read.response;
    const r = RotateSchema.safeParse(read.body === undefined ? {} : read.body);
    if (!r.success) return jsonError(c, 400, 'validation_failed', 'The rotation is not valid', zodIssues(r.error));
    const graceMs = r.data.grace === undefined ? DEFAULT_GRACE_MS : r.data.grace * 1000;
    return klaviyo(c, async (signal) => {
      const out = await admin.rotate(id, { lane: r.data.lane, graceMs }, c.get('actor'), signal);
      return c.json({ webhook: out.webhook, secret: secretOut(out.secret, r.data.reveal), retiring: out.retiring });
    });
  });

  app.post('/:id/test', async (c) => {
    const id = c.req.param('id');
    if (!KLAVIYO_ID.test(id)) return badId(c);
    const read = await readOpsBody(c, '{}');
    if (!read.ok) return read.response;
    const r = EmptySchema.safeParse(read.body === undefined ? {} : read.body);
    if (!r.success) return jsonError(c, 400, 'validation_failed', 'A test takes no parameters: send {}', zodIssues(r.error));
    try {
      return c.json({ test: await admin.test(id) });
    } catch (err) {
      if (err instanceof WebhookAdminError) return jsonError(c, err.status, err.code, err.message);
      throw err;
    }
  });

  app.delete('/:id', async (c) => {
    const id = c.req.param('id');
    if (!KLAVIYO_ID.test(id)) return badId(c);
    const read = await readOpsBody(c, '{}');
    if (!read.ok) return read.response;
    const r = DeleteSchema.safeParse(read.body === undefined ? {} : read.body);
    if (!r.success) return jsonError(c, 400, 'validation_failed', 'A delete takes only "lane"', zodIssues(r.error));
    return klaviyo(c, async (signal) => c.json(await admin.remove(id, r.data.lane, c.get('actor'), signal)));
  });

  return app;
}
