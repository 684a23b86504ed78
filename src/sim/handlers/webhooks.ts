/**
 * The Webhooks API (system webhooks): get_webhook_topics, get_webhooks, create_webhook,
 * get_webhook, update_webhook, delete_webhook. Deliveries are webhook-deliveries.ts's.
 *
 * As recorded live (docs/klaviyo-and-maton.md §5): an account without system-webhook access
 * (Advanced KDP) gets 403 `permission_denied` on every operation; answers carry the webhook's
 * topics in `relationships` and its `endpoint_url` truncated to the origin followed by `/*****`;
 * topics have empty `attributes`. The secret is never answered.
 *
 * Assumptions, marked where they are made: at most 10 webhooks per account (`maxWebhooks`;
 * UNCONFIRMED: a third-party quote only) — the 11th create answers 400; an unknown topic answers 400; a PATCH
 * whose `data.id` is not the path's answers 409 (JSON:API's rule). Klaviyo requires an https
 * `endpoint_url`; the simulator also takes http on a loopback host, because the sandbox relay
 * listens on http://127.0.0.1.
 */
import { KlaviyoHttpError } from '../json-api.ts';
import { ulid } from '../ids.ts';
import type { SimAccount, SimWebhook } from '../state.ts';
import { klaviyoTime } from '../time.ts';
import { arr, obj, type Handler, type HandlerContext } from './context.ts';

/**
 * Klaviyo's own topics, as a live get_webhook_topics answered them (recorded 2026-09-04 by
 * nickdnk/klaviyo-php-sdk, `tests/fixtures/responses/get_webhook_topics.200.json`). An account
 * also lists `event:api.*` and integrations' topics; the simulator has Klaviyo's only.
 */
export const SYSTEM_TOPICS: readonly string[] = [
  'bounced_email',
  'bounced_push',
  'clicked_email',
  'clicked_email_to_unsubscribe',
  'clicked_sms',
  'dropped_email',
  'failed_to_deliver_sms',
  'manually_suppressed_from_email_marketing',
  'manually_unsuppressed_from_email_marketing',
  'marked_email_as_spam',
  'merged_profile',
  'opened_email',
  'opened_push',
  'received_email',
  'received_push',
  'received_sms',
  'sent_sms',
  'skipped_send',
  'subscribed_to_back_in_stock',
  'subscribed_to_email_marketing',
  'subscribed_to_list',
  'subscribed_to_sms_marketing',
  'unsubscribed_from_email_marketing',
  'unsubscribed_from_list',
  'unsubscribed_from_sms_marketing',
  'updated_email_preferences',
].map((t) => `event:klaviyo.${t}`);
const KNOWN_TOPICS = new Set(SYSTEM_TOPICS);

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

function requireAccess(account: SimAccount): void {
  // The recorded answer, word for word (docs/klaviyo-and-maton.md §5).
  if (!account.webhookAccess)
    throw KlaviyoHttpError.of(403, 'You must have Advanced KDP enabled to use this endpoint.', { code: 'permission_denied', source: { pointer: '/data/' } });
}

/** `https://relay.example.com/webhooks/klaviyo` → `https://relay.example.com/*****`, as answers show it. */
export function truncatedUrl(url: string): string {
  return `${new URL(url).origin}/*****`;
}

function checkUrl(value: unknown, pointer: string): string {
  const bad = (detail: string) => KlaviyoHttpError.of(400, detail, { source: { pointer } });
  if (typeof value !== 'string' || !URL.canParse(value)) throw bad('endpoint_url must be a URL.');
  const u = new URL(value);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.test(u.hostname))) throw bad('endpoint_url must be https.');
  return value;
}

function checkTopics(data: unknown, pointer: string): string[] {
  const items = arr(data);
  if (items.length === 0) throw KlaviyoHttpError.of(400, 'A webhook needs at least one topic.', { source: { pointer } });
  const topics: string[] = [];
  items.forEach((t, i) => {
    const id = obj(t)['id'];
    // UNCONFIRMED: the answer to a topic the account does not have.
    if (typeof id !== 'string' || !KNOWN_TOPICS.has(id))
      throw KlaviyoHttpError.of(400, `Unknown webhook topic ${JSON.stringify(id)}.`, { source: { pointer: `${pointer}/${i}/id` } });
    if (!topics.includes(id)) topics.push(id);
  });
  return topics;
}

function topicResource(id: string, origin: string) {
  return { type: 'webhook-topic', id, attributes: [], links: { self: `${origin}/api/webhook-topics/${id}/` } };
}

export function webhookResource(w: SimWebhook, origin: string) {
  return {
    type: 'webhook',
    id: w.id,
    attributes: {
      name: w.name,
      description: w.description,
      endpoint_url: truncatedUrl(w.endpointUrl),
      enabled: w.enabled,
      created_at: klaviyoTime(w.createdAt),
      updated_at: klaviyoTime(w.updatedAt),
    },
    relationships: {
      'webhook-topics': {
        data: w.topics.map((id) => ({ type: 'webhook-topic', id })),
        links: {
          self: `${origin}/api/webhooks/${w.id}/relationships/webhook-topics/`,
          related: `${origin}/api/webhooks/${w.id}/webhook-topics/`,
        },
      },
    },
    links: { self: `${origin}/api/webhooks/${w.id}/` },
  };
}

function included(ctx: HandlerContext, hooks: readonly SimWebhook[]) {
  const include = (ctx.query.get('include') ?? '').split(',');
  if (!include.includes('webhook-topics')) return {};
  const ids = [...new Set(hooks.flatMap((w) => w.topics))];
  return { included: ids.map((id) => topicResource(id, ctx.linkOrigin)) };
}

function find(ctx: HandlerContext): SimWebhook {
  const w = ctx.account.webhooks.get(ctx.params['id'] ?? '');
  if (!w) throw KlaviyoHttpError.of(404, `A webhook with id ${ctx.params['id']} does not exist.`, { source: { parameter: 'id' } });
  return w;
}

export const getWebhookTopics: Handler = (ctx) => {
  requireAccess(ctx.account);
  return {
    status: 200,
    body: {
      data: SYSTEM_TOPICS.map((id) => topicResource(id, ctx.linkOrigin)),
      links: { self: `${ctx.linkOrigin}/api/webhook-topics/`, next: null, prev: null },
    },
  };
};

export const getWebhooks: Handler = (ctx) => {
  requireAccess(ctx.account);
  const hooks = [...ctx.account.webhooks.values()];
  return {
    status: 200,
    body: {
      data: hooks.map((w) => webhookResource(w, ctx.linkOrigin)),
      links: { self: `${ctx.linkOrigin}/api/webhooks/`, next: null, prev: null },
      ...included(ctx, hooks),
    },
  };
};

export const getWebhook: Handler = (ctx) => {
  requireAccess(ctx.account);
  const w = find(ctx);
  return { status: 200, body: { data: webhookResource(w, ctx.linkOrigin), links: { self: `${ctx.linkOrigin}/api/webhooks/${w.id}/` }, ...included(ctx, [w]) } };
};

export const createWebhook: Handler = (ctx) => {
  requireAccess(ctx.account);
  const data = obj(obj(ctx.body)['data']);
  const attrs = obj(data['attributes']);
  if (ctx.account.webhooks.size >= ctx.options.maxWebhooks)
    throw KlaviyoHttpError.of(400, `An account can have at most ${ctx.options.maxWebhooks} webhooks.`, { source: { pointer: '/data' } });
  const name = String(attrs['name']).trim();
  if (name === '') throw KlaviyoHttpError.of(400, 'name must not be empty.', { source: { pointer: '/data/attributes/name' } });
  const secret = String(attrs['secret_key']);
  if (secret === '') throw KlaviyoHttpError.of(400, 'secret_key must not be empty.', { source: { pointer: '/data/attributes/secret_key' } });
  const w: SimWebhook = {
    id: ulid(ctx.now),
    name,
    description: typeof attrs['description'] === 'string' ? attrs['description'] : null,
    endpointUrl: checkUrl(attrs['endpoint_url'], '/data/attributes/endpoint_url'),
    enabled: true,
    topics: checkTopics(obj(obj(data['relationships'])['webhook-topics'])['data'], '/data/relationships/webhook-topics/data'),
    secrets: [{ key: secret, from: ctx.now }],
    createdAt: ctx.now,
    updatedAt: ctx.now,
  };
  ctx.account.webhooks.set(w.id, w);
  return { status: 201, body: { data: webhookResource(w, ctx.linkOrigin), links: { self: `${ctx.linkOrigin}/api/webhooks/` } } };
};

export const updateWebhook: Handler = (ctx) => {
  requireAccess(ctx.account);
  const w = find(ctx);
  const data = obj(obj(ctx.body)['data']);
  if (data['id'] !== w.id)
    throw KlaviyoHttpError.of(409, `The id in the body (${JSON.stringify(data['id'])}) is not the webhook's (${w.id}).`, { source: { pointer: '/data/id' } });
  const attrs = obj(data['attributes']);
  const topics = obj(obj(data['relationships'])['webhook-topics'])['data'];
  // Checked in full before anything changes.
  const url = attrs['endpoint_url'] == null ? undefined : checkUrl(attrs['endpoint_url'], '/data/attributes/endpoint_url');
  const newTopics = topics === undefined ? undefined : checkTopics(topics, '/data/relationships/webhook-topics/data');
  if (typeof attrs['name'] === 'string' && attrs['name'].trim() !== '') w.name = attrs['name'].trim();
  if (attrs['description'] !== undefined) w.description = typeof attrs['description'] === 'string' ? attrs['description'] : null;
  if (url !== undefined) w.endpointUrl = url;
  if (typeof attrs['enabled'] === 'boolean') w.enabled = attrs['enabled'];
  if (newTopics !== undefined) w.topics = newTopics;
  if (typeof attrs['secret_key'] === 'string' && attrs['secret_key'] !== '') {
    // The old secret keeps signing for `webhookSecretSwitchMs` (Klaviyo's propagation is not documented).
    w.secrets = [...w.secrets.filter((s) => s.from <= ctx.now).slice(-1), { key: attrs['secret_key'], from: ctx.now + ctx.options.webhookSecretSwitchMs }];
  }
  w.updatedAt = ctx.now;
  return { status: 200, body: { data: webhookResource(w, ctx.linkOrigin), links: { self: `${ctx.linkOrigin}/api/webhooks/${w.id}/` } } };
};

export const deleteWebhook: Handler = (ctx) => {
  requireAccess(ctx.account);
  ctx.account.webhooks.delete(find(ctx).id);
  return { status: 204 };
};
