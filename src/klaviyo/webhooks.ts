/**
 * Klaviyo's Webhooks API (system webhooks), on the one Klaviyo client (gateway or direct, revision
 * header, timeout: client.ts): topics, list, get, create, update, delete.
 *
 * Every operation is Klaviyo's XS tier, 1/s and 15/min per account (docs/klaviyo-and-maton.md §5),
 * and shares the gateway's 10/s with the workers. So each call first takes a token from the
 * pacer — the quota governor in the relay (workers/quota-governor.ts), atomic in Redis — and feeds
 * the answer's rate-limit headers back: a burst of operations waits its turn instead of collecting
 * 429s. A 429 anyway (someone else using the account's quota) is waited out once, then returned.
 *
 * Accounts without system-webhook access (Advanced KDP) answer 403 `permission_denied` to every
 * operation: `isPermissionDenied` tells, `PERMISSION_DENIED_HELP` says what to do instead.
 */
import { z } from 'zod';
import { KlaviyoApiError } from '../errors.ts';
import type { KlaviyoClient, RateLimitInfo } from './client.ts';
import type { EndpointName } from './endpoints.ts';
import type { WEBHOOK_ENDPOINTS } from './endpoints.ts';

export type WebhookEndpoint = (typeof WEBHOOK_ENDPOINTS)[number];

export interface WebhookPacer {
  /** Resolves once a call to `endpoint` may leave, having taken its token; rejects when `signal` aborts (the wait only: a call that left is answered). */
  take(endpoint: WebhookEndpoint, signal?: AbortSignal): Promise<{ sent(): void }>;
  /** An answer's rate-limit headers (a 429's Retry-After holds the endpoint). */
  observe(endpoint: WebhookEndpoint, info: RateLimitInfo & { status: number; origin?: 'gateway' | 'klaviyo' }): Promise<void>;
}

/** A webhook as Klaviyo answers it: the URL truncated (`https://host/*****`), no secret. */
export interface KlaviyoWebhook {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly endpointUrl: string;
  readonly enabled: boolean;
  readonly topics: readonly string[];
  readonly createdAt: string | null;
  readonly updatedAt: string | null;
}

export interface NewWebhook {
  readonly name: string;
  readonly description?: string;
  readonly endpointUrl: string;
  readonly secret: string;
  readonly topics: readonly string[];
}

export interface WebhookChange {
  readonly name?: string;
  readonly description?: string | null;
  readonly endpointUrl?: string;
  readonly secret?: string;
  readonly enabled?: boolean;
  readonly topics?: readonly string[];
}

export interface WebhooksApi {
  topics(signal?: AbortSignal): Promise<string[]>;
  list(signal?: AbortSignal): Promise<KlaviyoWebhook[]>;
  get(id: string, signal?: AbortSignal): Promise<KlaviyoWebhook>;
  create(w: NewWebhook, signal?: AbortSignal): Promise<KlaviyoWebhook>;
  update(id: string, change: WebhookChange, signal?: AbortSignal): Promise<KlaviyoWebhook>;
  remove(id: string, signal?: AbortSignal): Promise<void>;
}

export const PERMISSION_DENIED_HELP =
  "This Klaviyo account has no access to system webhooks (Klaviyo answered 403 permission_denied: the Webhooks API needs Advanced KDP, or an app's OAuth install with the webhooks scopes). " +
  'Either ask Klaviyo to enable it, or use a flow webhook instead: add a Webhook action to a Klaviyo flow that POSTs to https://<relay>/webhooks/klaviyo/flows/<name> ' +
  'with a shared-secret header, configured under `flows` in RELAY_CONFIG (README: POST /webhooks/klaviyo/flows/{name}).';

export function isPermissionDenied(err: unknown): boolean {
  return err instanceof KlaviyoApiError && err.status === 403 && err.origin === 'klaviyo' && err.code === 'permission_denied';
}

// Lenient about what is not used (`.loose()`); topic resources have `attributes: []` live.
const WebhookResource = z
  .object({
    type: z.literal('webhook'),
    id: z.string(),
    attributes: z
      .object({
        name: z.string(),
        description: z.string().nullish(),
        endpoint_url: z.string(),
        enabled: z.boolean(),
        created_at: z.string().nullish(),
        updated_at: z.string().nullish(),
      })
      .loose(),
    relationships: z
      .object({
        'webhook-topics': z
          .object({ data: z.array(z.object({ id: z.string() }).loose()).optional() })
          .loose()
          .optional(),
      })
      .loose()
      .optional(),
  })
  .loose();
const Links = z.object({ next: z.string().nullish() }).loose().optional();
const WebhookDocument = z.object({ data: WebhookResource }).loose();
const WebhookCollection = z.object({ data: z.array(WebhookResource), links: Links }).loose();
const TopicCollection = z.object({ data: z.array(z.object({ id: z.string() }).loose()), links: Links }).loose();

function fromResource(r: z.infer<typeof WebhookResource>): KlaviyoWebhook {
  return {
    id: r.id,
    name: r.attributes.name,
    description: r.attributes.description ?? null,
    endpointUrl: r.attributes.endpoint_url,
    enabled: r.attributes.enabled,
    topics: r.relationships?.['webhook-topics']?.data?.map((t) => t.id) ?? [],
    createdAt: r.attributes.created_at ?? null,
    updatedAt: r.attributes.updated_at ?? null,
  };
}

const topicRefs = (topics: readonly string[]) => ({ data: topics.map((id) => ({ type: 'webhook-topic', id })) });

export function createWebhooksApi(client: KlaviyoClient, pacer: WebhookPacer): WebhooksApi {
  /** One paced call; a 429 is waited out once (the pacer holds the endpoint for its Retry-After). */
  async function call<S extends z.ZodType | undefined>(
    endpoint: WebhookEndpoint & EndpointName,
    opts: { pathParams?: Record<string, string>; query?: Record<string, string>; body?: unknown; schema?: S; url?: string },
    signal?: AbortSignal,
  ) {
    for (let attempt = 0; ; attempt++) {
      const grant = await pacer.take(endpoint, signal);
      try {
        // Not aborted once sent: a change Klaviyo may have applied must be known (the client's timeout still ends it).
        const res = await client.request({ endpoint, ...opts, grant });
        await pacer.observe(endpoint, { ...res.rateLimit, status: res.status });
        return res;
      } catch (err) {
        if (err instanceof KlaviyoApiError) {
          await pacer.observe(endpoint, { status: err.status, origin: err.origin, retryAfterMs: err.retryAfterMs });
          if (err.status === 429 && attempt === 0) continue;
        }
        throw err;
      }
    }
  }

  return {
    async topics(signal) {
      const out: string[] = [];
      let url: string | undefined;
      do {
        const page = (await call('get_webhook_topics', { schema: TopicCollection, url }, signal)).data;
        out.push(...page.data.map((t) => t.id));
        url = page.links?.next ? client.rebaseLink(page.links.next) : undefined;
      } while (url);
      return out;
    },
    async list(signal) {
      const out: KlaviyoWebhook[] = [];
      let url: string | undefined;
      do {
        const page = (await call('get_webhooks', { schema: WebhookCollection, query: { include: 'webhook-topics' }, url }, signal)).data;
        out.push(...page.data.map(fromResource));
        url = page.links?.next ? client.rebaseLink(page.links.next) : undefined;
      } while (url);
      return out;
    },
    async get(id, signal) {
      return fromResource((await call('get_webhook', { pathParams: { id }, query: { include: 'webhook-topics' }, schema: WebhookDocument }, signal)).data.data);
    },
    async create(w, signal) {
      const body = {
        data: {
          type: 'webhook',
          attributes: {
            name: w.name,
            ...(w.description !== undefined ? { description: w.description } : {}),
            endpoint_url: w.endpointUrl,
            secret_key: w.secret,
          },
          relationships: { 'webhook-topics': topicRefs(w.topics) },
        },
      };
      return fromResource((await call('create_webhook', { body, schema: WebhookDocument }, signal)).data.data);
    },
    async update(id, change, signal) {
      const attributes: Record<string, unknown> = {};
      if (change.name !== undefined) attributes.name = change.name;
      if (change.description !== undefined) attributes.description = change.description;
      if (change.endpointUrl !== undefined) attributes.endpoint_url = change.endpointUrl;
      if (change.secret !== undefined) attributes.secret_key = change.secret;
      if (change.enabled !== undefined) attributes.enabled = change.enabled;
      const body = {
        data: { type: 'webhook', id, attributes, ...(change.topics !== undefined ? { relationships: { 'webhook-topics': topicRefs(change.topics) } } : {}) },
      };
      return fromResource((await call('update_webhook', { pathParams: { id }, body, schema: WebhookDocument }, signal)).data.data);
    },
    async remove(id, signal) {
      await call('delete_webhook', { pathParams: { id } }, signal);
    },
  };
}
