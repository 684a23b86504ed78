/**
 * Typed access to `operations.json`, the subset of Klaviyo's OpenAPI spec
 * (klaviyo/openapi stable.json, revision 2026-07-15, MIT — see LICENSE here) that this project
 * calls. Regenerate with `npx tsx scripts/extract-openapi.ts`.
 */
import operationsFile from './operations.json' with { type: 'json' };

/** operationIds that carry a request body, i.e. the ones `validateRequestBody` accepts. */
export type BodyOperationId =
  | 'create_event'
  | 'bulk_create_events'
  | 'create_or_update_profile'
  | 'create_profile'
  | 'update_profile'
  | 'bulk_import_profiles'
  | 'add_profiles_to_list'
  | 'remove_profiles_from_list'
  | 'bulk_subscribe_profiles'
  | 'bulk_unsubscribe_profiles'
  | 'bulk_suppress_profiles'
  | 'bulk_unsuppress_profiles'
  | 'request_profile_deletion'
  | 'create_webhook'
  | 'update_webhook'
  | 'bulk_create_catalog_items'
  | 'bulk_update_catalog_items'
  | 'bulk_delete_catalog_items'
  | 'bulk_create_catalog_variants'
  | 'bulk_update_catalog_variants'
  | 'bulk_delete_catalog_variants'
  | 'bulk_create_catalog_categories'
  | 'bulk_update_catalog_categories'
  | 'bulk_delete_catalog_categories'
  | 'create_back_in_stock_subscription'
  | 'bulk_create_coupon_codes';

/** Operations without a request body (reads, and DELETE /api/webhooks/{id}). */
export type ReadOperationId =
  | 'get_profiles'
  | 'get_accounts'
  | 'get_bulk_import_profiles_job'
  | 'get_errors_for_bulk_import_profiles_job'
  | 'get_webhook_topics'
  | 'get_webhooks'
  | 'get_webhook'
  | 'delete_webhook'
  | 'get_bulk_create_catalog_items_job'
  | 'get_bulk_update_catalog_items_job'
  | 'get_bulk_delete_catalog_items_job'
  | 'get_bulk_create_variants_job'
  | 'get_bulk_update_variants_job'
  | 'get_bulk_delete_variants_job'
  | 'get_bulk_create_categories_job'
  | 'get_bulk_update_categories_job'
  | 'get_bulk_delete_categories_job'
  | 'get_bulk_create_coupon_codes_job';

export type OperationId = BodyOperationId | ReadOperationId;

export interface OpenApiOperation {
  readonly operationId: OperationId;
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Path template exactly as in the spec (its parameter names, e.g. `{job_id}`). */
  readonly path: string;
  /** Spec strings such as `{ burst: "350/s", steady: "3500/m" }`. */
  readonly 'x-klaviyo-ratelimit': { readonly burst: string; readonly steady: string } | null;
  readonly requestBody?: { readonly contentType: string; readonly schema: unknown };
}

export interface OpenApiSubset {
  readonly source: { readonly repository: string; readonly file: string; readonly revision: string };
  readonly operations: Readonly<Record<OperationId, OpenApiOperation>>;
  readonly components: { readonly schemas: Readonly<Record<string, unknown>> };
}

export const OPENAPI: OpenApiSubset = operationsFile as unknown as OpenApiSubset;

export const BODY_OPERATION_IDS: readonly BodyOperationId[] = [
  'create_event',
  'bulk_create_events',
  'create_or_update_profile',
  'create_profile',
  'update_profile',
  'bulk_import_profiles',
  'add_profiles_to_list',
  'remove_profiles_from_list',
  'bulk_subscribe_profiles',
  'bulk_unsubscribe_profiles',
  'bulk_suppress_profiles',
  'bulk_unsuppress_profiles',
  'request_profile_deletion',
  'create_webhook',
  'update_webhook',
  'bulk_create_catalog_items',
  'bulk_update_catalog_items',
  'bulk_delete_catalog_items',
  'bulk_create_catalog_variants',
  'bulk_update_catalog_variants',
  'bulk_delete_catalog_variants',
  'bulk_create_catalog_categories',
  'bulk_update_catalog_categories',
  'bulk_delete_catalog_categories',
  'create_back_in_stock_subscription',
  'bulk_create_coupon_codes',
];
