/** PUT|DELETE /v1/catalog/{items|variants|categories} and POST /v1/catalog/sync in the OpenAPI document (src/http/openapi/route-doc.ts). */
import { z } from 'zod';
import { CatalogDeleteSchema, type CatalogType, MAX_CATALOG_PER_REQUEST, PLURAL, SCHEMA_OF, SyncLineSchema } from '../../model/catalog.ts';
import { errorResponse, type RouteDoc, V1_ERRORS } from '../openapi/route-doc.ts';
import { singleOrBatchSchema } from '../parse-batch.ts';
import { JsonSyncSchema, MAX_LINE_BYTES, SyncQuerySchema } from './catalog.ts';

const CatalogAcceptedSchema = z.object({
  accepted: z.number().int().meta({ description: 'Operations in the request, queued in the order given' }),
});

const NOT_SERVED = errorResponse('The catalog is not served by this relay');

const EXAMPLES: Readonly<Record<CatalogType, { upsert: Record<string, unknown>; invalid: Record<string, unknown> }>> = {
  item: {
    upsert: {
      id: 'SKU-1',
      title: 'Linen shirt',
      description: 'A shirt of washed linen',
      url: 'https://shop.example.com/p/sku-1',
      price: 49,
      categories: ['shirts'],
    },
    invalid: { id: 'SKU-1', title: 'Linen shirt', url: 'https://shop.example.com/p/sku-1' },
  },
  variant: {
    upsert: {
      id: 'SKU-1-M',
      item_id: 'SKU-1',
      title: 'Linen shirt, M',
      description: 'Size M',
      sku: 'SKU-1-M',
      inventory_quantity: 12,
      price: 49,
      url: 'https://shop.example.com/p/sku-1?size=m',
    },
    invalid: {
      id: 'SKU-1-M',
      item_id: 'SKU-1',
      title: 'Linen shirt, M',
      description: 'Size M',
      sku: 'SKU-1-M',
      price: 49,
      url: 'https://shop.example.com/p/sku-1',
    },
  },
  category: {
    upsert: { id: 'shirts', name: 'Shirts', items: ['SKU-1'] },
    invalid: { id: 'a:::b', name: 'Shirts' },
  },
};

function docsOf(type: CatalogType): RouteDoc[] {
  const plural = PLURAL[type];
  const path = `/v1/catalog/${plural}`;
  const common = { path, tags: ['catalog'], security: ['relayKey', 'standardWebhooks'] } as const;
  const responses = (what: string) => ({ 202: { description: what, schema: CatalogAcceptedSchema }, ...V1_ERRORS, 404: NOT_SERVED });
  const ex = EXAMPLES[type];
  return [
    {
      ...common,
      method: 'put',
      summary: `Create or update one catalog ${type}, or up to 1,000`,
      description:
        `One ${type}, or \`{"${plural}": [...]}\` with up to ${MAX_CATALOG_PER_REQUEST}. Field names are Klaviyo's; \`id\` is your id (Klaviyo's \`external_id\`, without ":::"). ` +
        'The fields Klaviyo needs to create one are required, since an upsert may turn out a create. Validated whole: one bad item fails the request with every problem named. ' +
        'Catalog operations are applied in the order they were accepted (one queue per lane), sent to Klaviyo in bulk jobs.',
      body: singleOrBatchSchema(plural, SCHEMA_OF[type], MAX_CATALOG_PER_REQUEST),
      responses: responses('Redis (or the spool) holds every operation'),
      examples: [
        { summary: `One ${type}`, status: 202, body: ex.upsert },
        { summary: `A batch of ${plural}`, status: 202, body: { [plural]: [ex.upsert] } },
        { summary: 'A required field missing, or an id with ":::"', status: 400, body: ex.invalid },
        { summary: 'No key', status: 401, auth: false, body: ex.upsert },
      ],
    },
    {
      ...common,
      method: 'delete',
      summary: `Delete one catalog ${type}, or up to 1,000`,
      description: `\`{"id": "…"}\` or \`{"ids": [...]}\` with up to ${MAX_CATALOG_PER_REQUEST} of your ids. Applied in order with the upserts.`,
      body: CatalogDeleteSchema,
      responses: responses('Redis (or the spool) holds every delete'),
      examples: [
        { summary: `One ${type}`, status: 202, body: { id: ex.upsert.id } },
        { summary: 'Several', status: 202, body: { ids: [ex.upsert.id, `${ex.upsert.id as string}-old`] } },
        { summary: 'An empty list', status: 400, body: { ids: [] } },
      ],
    },
  ];
}

const ProblemSchema = z.object({
  line: z.number().int().meta({ description: 'Line of the request (1-based, blank lines counted), or item index + 1 for JSON' }),
  field: z.string(),
  message: z.string(),
});

const summaryFields = {
  sync_id: z.string().meta({ description: 'The sync (yours, or generated): chunks of one sync share it' }),
  complete: z.boolean().meta({ description: 'The sync is over (its last chunk, or a single request)' }),
  received: z.number().int().meta({ description: 'Lines (items) read by this request, blank lines skipped' }),
  unchanged: z.number().int().meta({ description: 'Resources the relay already sent with this content: not sent again' }),
  upserts: z.number().int().meta({ description: 'New or changed resources accepted as upserts' }),
  deletes: z.number().int().meta({ description: 'Resources the sync did not name, accepted for deletion (deletes=true, final chunk)' }),
  invalid: z.number().int().meta({ description: 'Lines not valid: not accepted' }),
  problems: z.array(ProblemSchema).optional().meta({ description: 'The first 100 problems' }),
  deletes_skipped: z.string().optional().meta({ description: 'Why deletes were asked for and not made' }),
};
const SyncSummarySchema = z.object(summaryFields);
const SyncInvalidSchema = z.object({ error: z.literal('invalid_lines'), message: z.string(), ...summaryFields });

/** The content types the sync reads as NDJSON (src/http/routes/catalog.ts), each line a SyncLineSchema. */
const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/jsonlines'];
const syncLine = SyncLineSchema.meta({ description: 'One line of the body: a resource with its `type` (item, variant or category), one JSON object a line' });

const syncDoc: RouteDoc = {
  method: 'post',
  path: '/v1/catalog/sync',
  summary: 'Sync the whole catalog: upload it, the relay sends what changed',
  description:
    'The whole catalog as NDJSON (`application/x-ndjson`, also `application/ndjson`, `application/jsonl`, `application/x-jsonlines`, `application/jsonlines`): one resource a line with its `type`, read as it arrives, any size, ' +
    `a line up to ${MAX_LINE_BYTES} bytes; or \`application/json\` \`{"items": [...]}\` (each item a line, as in NDJSON) up to RELAY_MAX_BODY_BYTES and 100,000 items. ` +
    'Only resources that are new or changed since the relay last sent them are queued. Valid lines are accepted as they are read; invalid ones are listed (422, the first 100) and the others still taken. ' +
    'Without `sync_id` the request is a whole sync; with one, a chunk of it until `final=true`. `deletes=true` on the final chunk deletes the resources the sync did not name (none when a line of the sync was invalid). ' +
    'Bearer key only: a signature covers the whole body, which a streamed sync does not wait for.',
  tags: ['catalog'],
  security: ['relayKey'],
  query: SyncQuerySchema,
  body: JsonSyncSchema,
  otherBodies: Object.fromEntries(NDJSON_TYPES.map((t) => [t, syncLine])),
  responses: {
    202: { description: 'Every line was valid; the changed resources are queued', schema: SyncSummarySchema },
    400: errorResponse(
      'The query is not valid, the JSON is not valid or not `{"items": [...]}`, the NDJSON is not UTF-8 (the lines before were taken), or a signature instead of a bearer key',
    ),
    401: V1_ERRORS[401]!,
    404: NOT_SERVED,
    413: errorResponse('A JSON body larger than RELAY_MAX_BODY_BYTES (send NDJSON, or chunks with a sync_id)'),
    415: errorResponse('Neither NDJSON nor application/json'),
    422: { description: 'Some lines were not valid: those are listed and not accepted; the valid ones were', schema: SyncInvalidSchema },
    429: V1_ERRORS[429]!,
    503: V1_ERRORS[503]!,
  },
  examples: [
    {
      summary: 'A small catalog as JSON',
      status: 202,
      body: {
        items: [
          { type: 'category', ...EXAMPLES.category.upsert },
          { type: 'item', ...EXAMPLES.item.upsert },
          { type: 'variant', ...EXAMPLES.variant.upsert },
        ],
      },
    },
    {
      summary: 'A chunk of a sync',
      status: 202,
      query: { sync_id: 'nightly-2026-12-03', final: 'false' },
      body: { items: [{ type: 'item', ...EXAMPLES.item.upsert }] },
    },
    {
      summary: 'A line that is not valid',
      status: 422,
      body: {
        items: [
          { type: 'item', ...EXAMPLES.item.upsert },
          { type: 'item', id: 'SKU-2' },
        ],
      },
    },
    { summary: 'A sync id that is not one', status: 400, query: { sync_id: 'not one' }, body: { items: [] } },
    { summary: 'No key', status: 401, auth: false, body: { items: [] } },
  ],
};

export const catalogDocs: RouteDoc[] = [...docsOf('item'), ...docsOf('variant'), ...docsOf('category'), syncDoc];
