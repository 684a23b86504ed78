/**
 * Klaviyo's own webhooks.
 *
 * POST /webhooks/klaviyo — system webhooks, signed (src/webhooks/klaviyo-signature.ts). A
 *   delivery is a batch; each item whose topic some rule listens to becomes one job, deduped on
 *   Klaviyo's `external_id`. Items no rule listens to are acknowledged and counted. Anything
 *   failing verification gets 401 and nothing is enqueued. The secrets tried are the config
 *   file's and those the relay made for the webhook the delivery names (`relay webhooks create`,
 *   kept in Redis: src/webhooks/klaviyo-secrets.ts), looked up before the body is read.
 * POST /webhooks/klaviyo/flows/{name} — flow webhook actions, unsigned by Klaviyo, authenticated
 *   by the flow's shared-secret header. The item id is the body's `id` if it has one, else a
 *   hash of the body: Klaviyo's retries of the same action (up to 17 in 24 h) are recognised.
 *
 * Klaviyo only needs a 2xx, fast; the work happens in the workers.
 *
 * Nothing of a body is read before what can be checked without it passed — the flow's name and
 * secret header; a system webhook's headers and timestamp — so an unauthenticated sender can
 * neither make the API buffer a body nor make it HMAC one.
 */
import { createHash } from 'node:crypto';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { webhookItemKey } from '../../item-keys.ts';
import { nestedDeeperThan } from '../../model/json-limits.ts';
import type { Ingest } from '../../ingest/ingest.ts';
import type { WebhookItem } from '../../job-data.ts';
import type { Rule } from '../../relay-config.ts';
import { triggers } from '../../rules/engine.ts';
import { checkKlaviyoHeaders, verifyKlaviyoBody } from '../../webhooks/klaviyo-signature.ts';
import type { AcceptedSecrets, KlaviyoWebhookSecrets } from '../../webhooks/klaviyo-secrets.ts';
import { sharedSecretMatches } from '../../webhooks/shared-secret.ts';
import { flowSource, KLAVIYO_WEBHOOK_SOURCE } from '../../sources.ts';
import { jsonError } from '../errors.ts';
import { type EnqueueOr503Deps, enqueueOr503 } from '../enqueue-or-503.ts';
import { rawBody, type JsonBodyEnv } from '../middleware/json-body.ts';

// Source ids live with the other sources' (src/sources.ts), so ingest limits can name them too.
export { KLAVIYO_WEBHOOK_SOURCE, flowSource };
/**
 * How deep what a webhook job stores (a Klaviyo item's payload, a flow's body) may nest. Any JSON
 * parses, but a job is stored with JSON.stringify, which overflows the stack a few thousand levels
 * down: such a body would be a 5xx (or a spooled record that never reaches Redis). Klaviyo's own
 * payloads nest a handful of levels around event properties (which the relay limits to 32).
 */
export const MAX_WEBHOOK_DEPTH = 64;
const tooDeep = (field: string) => [{ field, message: `is nested deeper than ${MAX_WEBHOOK_DEPTH} levels` }];

export interface WebhookSettings {
  /** Klaviyo system webhooks (`secrets`: the config file's); absent = the route answers 404. */
  readonly klaviyo?: { readonly secrets: readonly string[]; readonly toleranceMs: number; readonly lane: string };
  /** The secrets the relay made, per webhook (absent: only the config file's). */
  readonly klaviyoSecrets?: KlaviyoWebhookSecrets;
  readonly flows: Readonly<Record<string, { readonly header: string; readonly secret: string; readonly lane: string }>>;
  readonly rules: readonly Rule[];
}

export interface WebhookRouteDeps extends EnqueueOr503Deps {
  readonly ingest: Pick<Ingest, 'webhooks'>;
  readonly webhooks: WebhookSettings;
  readonly maxBodyBytes: number;
  /** Counters kept in Redis (shared by every API process): webhook topics matched, unmatched… */
  readonly count: (counter: string, fields: Readonly<Record<string, number>>) => Promise<void>;
}

type KlaviyoEnv = JsonBodyEnv & { Variables: { accepted: AcceptedSecrets } };

export function webhookRoutes(deps: WebhookRouteDeps) {
  const app = new Hono<KlaviyoEnv>();
  const { rules } = deps.webhooks;
  // Klaviyo's content type is not documented well enough to insist on it; the signature is the check.
  const readRaw = rawBody<KlaviyoEnv>(deps.maxBodyBytes, { requireJsonType: false });
  const rejected = async (c: Context, reason: string, known = false) => {
    await deps.count('webhooks', { [`rejected:${reason}`]: 1 }).catch(() => undefined);
    if (c.req.path.endsWith('/klaviyo')) await deps.webhooks.klaviyoSecrets?.refused(c.req.header('klaviyo-webhook-id'), known);
    return jsonError(c, 401, 'unauthorized', `Webhook verification failed: ${reason}`);
  };

  const klaviyoHeaders: MiddlewareHandler<KlaviyoEnv> = async (c, next) => {
    const cfg = deps.webhooks.klaviyo;
    if (!cfg) return jsonError(c, 404, 'not_configured', 'Klaviyo system webhooks are not configured (klaviyoWebhooks in RELAY_CONFIG)');
    const checked = checkKlaviyoHeaders({
      signature: c.req.header('klaviyo-signature'),
      timestamp: c.req.header('klaviyo-timestamp'),
      webhookId: c.req.header('klaviyo-webhook-id'),
      toleranceMs: cfg.toleranceMs,
    });
    if (!checked.ok) return rejected(c, checked.reason);
    // The webhook's own secrets, before a byte of the body is read: an id with none (and no config
    // secret) is refused without reading it.
    const accepted = (await deps.webhooks.klaviyoSecrets?.accepted(c.req.header('klaviyo-webhook-id')!)) ?? { secrets: [], known: false };
    if (accepted.secrets.length === 0 && cfg.secrets.length === 0) return rejected(c, 'unknown_webhook');
    c.set('accepted', accepted);
    await next();
  };

  app.post('/klaviyo', klaviyoHeaders, readRaw, async (c) => {
    const cfg = deps.webhooks.klaviyo!;
    const accepted = c.get('accepted');
    const webhookId = c.req.header('klaviyo-webhook-id')!;
    const v = verifyKlaviyoBody({
      rawBody: c.get('rawBody'),
      signature: c.req.header('klaviyo-signature')!,
      timestamp: c.req.header('klaviyo-timestamp')!,
      webhookId,
      secrets: [...accepted.secrets.map((s) => s.value), ...cfg.secrets],
    });
    if (!v.ok) return rejected(c, v.reason, accepted.known);
    // The relay's own `webhooks test` delivery (signed with a secret only the relay holds): not Klaviyo's.
    const selfTest = v.body.meta['relay_self_test'] === true;
    await deps.webhooks.klaviyoSecrets?.verified(webhookId, accepted.secrets[v.secretIndex]?.fingerprint, selfTest);
    const lane = accepted.lane ?? cfg.lane;
    const deep = v.body.data.findIndex((d) => nestedDeeperThan(d.payload, MAX_WEBHOOK_DEPTH));
    if (deep >= 0) return jsonError(c, 400, 'validation_failed', 'The delivery is not valid; nothing was accepted', tooDeep(`data[${deep}].payload`));
    const items: WebhookItem[] = [];
    const counts: Record<string, number> = {};
    for (const d of v.body.data) {
      const known = rules.some((r) => triggers(r, { topic: d.topic }));
      counts[`${known ? 'matched' : 'unmatched'}:${d.topic}`] = (counts[`${known ? 'matched' : 'unmatched'}:${d.topic}`] ?? 0) + 1;
      if (known) items.push({ key: webhookItemKey(KLAVIYO_WEBHOOK_SOURCE, d.external_id), id: d.external_id, webhook: { topic: d.topic, payload: d.payload } });
    }
    return enqueueOr503(c, deps, async () => {
      // The items that make work carry their share of the delivery's bytes.
      const bytes = (c.get('bodyBytes') * items.length) / Math.max(1, v.body.data.length);
      const result = items.length > 0 ? await deps.ingest.webhooks({ id: KLAVIYO_WEBHOOK_SOURCE, lane }, items, bytes) : { duplicates: 0, enqueued: 0 };
      await deps.count('webhooks', counts).catch(() => undefined);
      return c.json(
        { received: v.body.data.length, enqueued: result.enqueued, duplicates: result.duplicates, unmatched: v.body.data.length - items.length },
        200,
      );
    });
  });

  const flowSecret: MiddlewareHandler<KlaviyoEnv> = async (c, next) => {
    const name = c.req.param('name') ?? '';
    const flow = Object.hasOwn(deps.webhooks.flows, name) ? deps.webhooks.flows[name] : undefined;
    if (!flow) return jsonError(c, 404, 'not_found', `No flow webhook named ${JSON.stringify(name)} is configured`);
    if (!sharedSecretMatches(c.req.header(flow.header), flow.secret))
      return jsonError(c, 401, 'unauthorized', `Send the flow's shared secret in the ${flow.header} header`);
    await next();
  };

  app.post('/klaviyo/flows/:name', flowSecret, readRaw, async (c) => {
    const name = c.req.param('name');
    const flow = deps.webhooks.flows[name]!;
    let body: unknown;
    try {
      body = JSON.parse(c.get('rawBody'));
    } catch (err) {
      return jsonError(c, 400, 'invalid_json', `The body is not valid JSON: ${(err as Error).message}`, [{ field: '(body)', message: 'is not valid JSON' }]);
    }
    if (nestedDeeperThan(body, MAX_WEBHOOK_DEPTH)) return jsonError(c, 400, 'validation_failed', 'The request body is not valid', tooDeep('(body)'));
    const given =
      body && typeof body === 'object' && typeof (body as Record<string, unknown>).id === 'string'
        ? ((body as Record<string, unknown>).id as string)
        : undefined;
    const id = given ?? `sha256:${createHash('sha256').update(c.get('rawBody')).digest('hex').slice(0, 32)}`;
    const known = rules.some((r) => triggers(r, { flow: name }));
    const origin = { id: flowSource(name), lane: flow.lane };
    return enqueueOr503(c, deps, async () => {
      const result = known
        ? await deps.ingest.webhooks(origin, [{ key: webhookItemKey(origin.id, id), id, webhook: { flow: name, body } }], c.get('bodyBytes'))
        : { duplicates: 0, enqueued: 0 };
      await deps.count('webhooks', { [`${known ? 'matched' : 'unmatched'}:flow:${name}`]: 1 }).catch(() => undefined);
      return c.json({ received: 1, enqueued: result.enqueued, duplicates: result.duplicates, unmatched: known ? 0 : 1 }, 200);
    });
  });

  return app;
}
