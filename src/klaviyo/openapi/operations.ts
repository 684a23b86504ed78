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
  | 'update_webhook';

/** Operations without a request body (reads, and DELETE /api/webhooks/{id}). */
export type ReadOperationId =
  | 'get_profiles'
  | 'get_accounts'
  | 'get_bulk_import_profiles_job'
  | 'get_errors_for_bulk_import_profiles_job'
  | 'get_webhook_topics'
  | 'get_webhooks'
  | 'get_webhook'
  | 'delete_webhook';

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
];
