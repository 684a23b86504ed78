/**
 * The relay's OpenAPI 3.1 document, built from the RouteDocs (route-doc.ts): request schemas are
 * the routes' own zod schemas turned into JSON Schema by zod (`z.toJSONSchema`, the input side:
 * what a caller sends), so validation and documentation are one source. Built once per process
 * (GET /openapi.json serves the same object).
 */
import { z } from 'zod';
import { ErrorSchema, type ResponseDoc, type RouteDoc, type SecurityScheme } from './route-doc.ts';

/** OpenAPI's JSON Schema dialect is 2020-12; `$schema` on each fragment is noise there. */
function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }) as Record<string, unknown>;
  return rest;
}

const SECURITY_SCHEMES: Readonly<Record<SecurityScheme, Record<string, unknown>>> = {
  relayKey: {
    type: 'http',
    scheme: 'bearer',
    description: 'A relay API key (RELAY_API_KEYS, or a source key in RELAY_CONFIG): `Authorization: Bearer <key>`. Checked before the body is read.',
  },
  standardWebhooks: {
    type: 'apiKey',
    in: 'header',
    name: 'webhook-signature',
    description:
      'Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp` (seconds, within 5 minutes) and `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` with a source\'s `whsec_` secret. A replayed webhook-id gets 202 `{"replayed": true}` and creates nothing.',
  },
  writeKeyBasic: {
    type: 'http',
    scheme: 'basic',
    description: 'Segment-style write key: `Authorization: Basic base64("<relay key>:")` (Bearer works too), or `writeKey` in the body.',
  },
  klaviyoSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'Klaviyo-Signature',
    description:
      'Klaviyo system webhooks: `Klaviyo-Signature: hex(HMAC-SHA256(secret, body + Klaviyo-Timestamp))`, with `Klaviyo-Timestamp` and `Klaviyo-Webhook-Id`.',
  },
  flowSecret: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Relay-Flow-Secret',
    description: "A flow webhook's shared secret, in the header its `flows.<name>.header` names in RELAY_CONFIG (any header name).",
  },
  adminToken: { type: 'http', scheme: 'bearer', description: 'RELAY_ADMIN_TOKEN: `Authorization: Bearer <token>` (scripts, the CLI).' },
  adminBasic: {
    type: 'http',
    scheme: 'basic',
    description: "RELAY_ADMIN_TOKEN as the Basic password (a browser's login); writes only from the relay's own pages, as JSON.",
  },
  metricsToken: { type: 'http', scheme: 'bearer', description: 'RELAY_METRICS_TOKEN, when set: `Authorization: Bearer <token>`.' },
};

/** The error shape, once in components: every operation has several error answers. */
const ERROR_REF = { $ref: '#/components/schemas/Error' };

function response(r: ResponseDoc): Record<string, unknown> {
  if (!r.schema && !r.contentType) return { description: r.description };
  if (r.schema === ErrorSchema) return { description: r.description, content: { 'application/json': { schema: ERROR_REF } } };
  const type = r.contentType ?? 'application/json';
  const fallback = type === 'application/json' ? { type: 'object' } : { type: 'string' };
  return { description: r.description, content: { [type]: { schema: r.schema ? jsonSchema(r.schema) : fallback } } };
}

function parameters(where: 'path' | 'query', shape: z.ZodObject | undefined) {
  if (!shape) return [];
  return Object.entries(shape.shape).map(([name, s]) => {
    const schema = s as z.ZodType;
    return {
      name,
      in: where,
      required: where === 'path' || !schema.safeParse(undefined).success,
      schema: jsonSchema(schema),
      ...(schema.description ? { description: schema.description } : {}),
    };
  });
}

function operation(doc: RouteDoc) {
  const op: Record<string, unknown> = {
    operationId: operationId(doc),
    summary: doc.summary,
    ...(doc.description ? { description: doc.description } : {}),
    tags: doc.tags,
    security: doc.security.map((s) => ({ [s]: [] })),
  };
  const params = [...parameters('path', doc.params), ...parameters('query', doc.query)];
  if (params.length > 0) op.parameters = params;
  if (doc.body) {
    const withBody = doc.examples.filter((e) => e.body !== undefined);
    op.requestBody = {
      required: true,
      content: {
        [doc.bodyType ?? 'application/json']: {
          schema: jsonSchema(doc.body),
          ...(withBody.length > 0
            ? { examples: Object.fromEntries(withBody.map((e, i) => [`example${i + 1}`, { summary: `${e.summary} → ${e.status}`, value: e.body }])) }
            : {}),
        },
        ...Object.fromEntries(Object.entries(doc.otherBodies ?? {}).map(([type, schema]) => [type, { schema: jsonSchema(schema) }])),
      },
    };
  }
  op.responses = Object.fromEntries(Object.entries(doc.responses).map(([status, r]) => [status, response(r)]));
  // The requests the contract test sends, with the status each must get (an extension: tools ignore it).
  op['x-examples'] = doc.examples;
  return op;
}

/** `post /v1/lists/{listId}/members` → `postV1ListsListIdMembers`: stable, for generated clients. */
export function operationId(doc: Pick<RouteDoc, 'method' | 'path'>): string {
  const words = doc.path
    .split(/[/{}_-]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1));
  return doc.method + words.join('');
}

export interface OpenApiInfo {
  readonly version: string;
  /** Where the document is served; relative by default. */
  readonly serverUrl?: string;
}

export function buildOpenApi(docs: readonly RouteDoc[], info: OpenApiInfo) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const doc of docs) {
    paths[doc.path] ??= {};
    const at = paths[doc.path]!;
    if (at[doc.method]) throw new Error(`two RouteDocs for ${doc.method.toUpperCase()} ${doc.path}`);
    at[doc.method] = operation(doc);
  }
  return {
    openapi: '3.1.1',
    info: {
      title: 'klaviyo-relay',
      version: info.version,
      description:
        "The relay's HTTP API: backends post events, profiles, list changes and orders; Klaviyo posts webhooks; operators use /ops. " +
        'Every write is validated whole (one bad item fails the request, every problem named) and answered once Redis holds it. ' +
        'Limits: bodies up to RELAY_MAX_BODY_BYTES (default 5 MiB); 1,000 events, 1,000 profiles, 100 orders, 1,000 catalog resources, 1,000 back-in-stock subscriptions, ' +
        '10,000 coupon codes, 100 deletions or 1,000 suppressed emails per request (a catalog sync as NDJSON: any size); ' +
        'per-source rates and queued bytes as RELAY_CONFIG sets them (429 with Retry-After).',
    },
    servers: [{ url: info.serverUrl ?? '/' }],
    tags: [
      { name: 'ingest', description: 'Work from your backends (bearer key or Standard Webhooks signature)' },
      {
        name: 'catalog',
        description: 'Catalog items, variants and categories, one by one or as a whole sync (bearer key; upserts and deletes also Standard Webhooks)',
      },
      { name: 'commerce', description: 'Back-in-stock subscriptions and coupon codes (bearer key or Standard Webhooks signature)' },
      { name: 'privacy', description: 'Erasing people and suppressing marketing email (bearer key or Standard Webhooks signature)' },
      { name: 'tracking', description: "Segment's HTTP Tracking API, for the Segment and RudderStack SDKs" },
      { name: 'webhooks', description: "Klaviyo's system webhooks and flow webhook actions" },
      { name: 'health', description: 'Liveness and readiness' },
      { name: 'ops', description: 'The operators’ API (admin token)' },
      { name: 'meta', description: 'Metrics and this document' },
    ],
    paths,
    components: { schemas: { Error: jsonSchema(ErrorSchema) }, securitySchemes: SECURITY_SCHEMES },
  };
}

export type OpenApiDocument = ReturnType<typeof buildOpenApi>;
