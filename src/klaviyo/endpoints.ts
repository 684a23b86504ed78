/**
 * The Klaviyo operations this project calls, with their documented rate limits.
 *
 * Limits come from each operation's `x-klaviyo-ratelimit` in Klaviyo's OpenAPI spec
 * (klaviyo/openapi stable.json, revision 2026-07-15): a fixed 1 s "burst" window and a
 * fixed 60 s "steady" window, per Klaviyo account. The simulator enforces them and the
 * quota governor stays under them; both read this one table.
 *
 * This file owns the list of operations: scripts/extract-openapi.ts extracts the spec subset
 * (src/klaviyo/openapi/operations.json) for exactly these endpoints, with a request-body schema
 * for those in BODY_ENDPOINTS, and src/klaviyo/openapi/operations.ts derives its operationId
 * types from them.
 */
export interface EndpointSpec {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Path template under the API root, `{id}` for a path parameter. */
  readonly path: string;
  /** Requests per fixed 1-second window, per account. */
  readonly burst: number;
  /** Requests per fixed 60-second window, per account. */
  readonly steady: number;
  /** Largest number of items one request may carry, where the operation is a bulk one. */
  readonly maxItems?: number;
}

const TABLE = {
  create_event: { method: 'POST', path: '/api/events', burst: 350, steady: 3500 },
  bulk_create_events: { method: 'POST', path: '/api/event-bulk-create-jobs', burst: 10, steady: 150, maxItems: 1000 },
  create_or_update_profile: { method: 'POST', path: '/api/profile-import', burst: 75, steady: 750 },
  create_profile: { method: 'POST', path: '/api/profiles', burst: 75, steady: 750 },
  update_profile: { method: 'PATCH', path: '/api/profiles/{id}', burst: 75, steady: 750 },
  bulk_import_profiles: { method: 'POST', path: '/api/profile-bulk-import-jobs', burst: 10, steady: 150, maxItems: 10000 },
  get_bulk_import_profiles_job: { method: 'GET', path: '/api/profile-bulk-import-jobs/{id}', burst: 10, steady: 150 },
  get_bulk_import_profiles_job_errors: { method: 'GET', path: '/api/profile-bulk-import-jobs/{id}/import-errors', burst: 10, steady: 150 },
  add_profiles_to_list: { method: 'POST', path: '/api/lists/{id}/relationships/profiles', burst: 10, steady: 150, maxItems: 1000 },
  remove_profiles_from_list: { method: 'DELETE', path: '/api/lists/{id}/relationships/profiles', burst: 10, steady: 150, maxItems: 1000 },
  bulk_subscribe_profiles: { method: 'POST', path: '/api/profile-subscription-bulk-create-jobs', burst: 75, steady: 750, maxItems: 1000 },
  bulk_unsubscribe_profiles: { method: 'POST', path: '/api/profile-subscription-bulk-delete-jobs', burst: 75, steady: 750, maxItems: 100 },
  // Suppression ("stop emailing this person", without erasing them) takes emails only, ≤100 per job (OAS; issue 16).
  bulk_suppress_profiles: { method: 'POST', path: '/api/profile-suppression-bulk-create-jobs', burst: 75, steady: 750, maxItems: 100 },
  bulk_unsuppress_profiles: { method: 'POST', path: '/api/profile-suppression-bulk-delete-jobs', burst: 75, steady: 750, maxItems: 100 },
  // Erasure: one person (exactly one of email, phone number, profile id) per request; asynchronous at Klaviyo.
  request_profile_deletion: { method: 'POST', path: '/api/data-privacy-deletion-jobs', burst: 3, steady: 60 },
  get_profiles: { method: 'GET', path: '/api/profiles', burst: 75, steady: 750 },
  get_accounts: { method: 'GET', path: '/api/accounts', burst: 1, steady: 15 },
  // System webhooks (Webhooks API): Klaviyo's XS tier, for every operation (docs/klaviyo-and-maton.md §5).
  get_webhook_topics: { method: 'GET', path: '/api/webhook-topics', burst: 1, steady: 15 },
  get_webhooks: { method: 'GET', path: '/api/webhooks', burst: 1, steady: 15 },
  create_webhook: { method: 'POST', path: '/api/webhooks', burst: 1, steady: 15 },
  get_webhook: { method: 'GET', path: '/api/webhooks/{id}', burst: 1, steady: 15 },
  update_webhook: { method: 'PATCH', path: '/api/webhooks/{id}', burst: 1, steady: 15 },
  delete_webhook: { method: 'DELETE', path: '/api/webhooks/{id}', burst: 1, steady: 15 },
  // Catalog bulk jobs (issue 15): ≤ 100 per request, 5 MB, at most 500 jobs in progress per account
  // (OAS descriptions). Polling a job of items or variants (create, update) shares the POSTs' tier.
  bulk_create_catalog_items: { method: 'POST', path: '/api/catalog-item-bulk-create-jobs', burst: 75, steady: 750, maxItems: 100 },
  get_bulk_create_catalog_items_job: { method: 'GET', path: '/api/catalog-item-bulk-create-jobs/{id}', burst: 75, steady: 750 },
  bulk_update_catalog_items: { method: 'POST', path: '/api/catalog-item-bulk-update-jobs', burst: 75, steady: 750, maxItems: 100 },
  get_bulk_update_catalog_items_job: { method: 'GET', path: '/api/catalog-item-bulk-update-jobs/{id}', burst: 75, steady: 750 },
  bulk_delete_catalog_items: { method: 'POST', path: '/api/catalog-item-bulk-delete-jobs', burst: 75, steady: 750, maxItems: 100 },
  get_bulk_delete_catalog_items_job: { method: 'GET', path: '/api/catalog-item-bulk-delete-jobs/{id}', burst: 350, steady: 3500 },
  bulk_create_catalog_variants: { method: 'POST', path: '/api/catalog-variant-bulk-create-jobs', burst: 75, steady: 750, maxItems: 100 },
  get_bulk_create_variants_job: { method: 'GET', path: '/api/catalog-variant-bulk-create-jobs/{id}', burst: 75, steady: 750 },
  bulk_update_catalog_variants: { method: 'POST', path: '/api/catalog-variant-bulk-update-jobs', burst: 75, steady: 750, maxItems: 100 },
  get_bulk_update_variants_job: { method: 'GET', path: '/api/catalog-variant-bulk-update-jobs/{id}', burst: 75, steady: 750 },
  bulk_delete_catalog_variants: { method: 'POST', path: '/api/catalog-variant-bulk-delete-jobs', burst: 75, steady: 750, maxItems: 100 },
  get_bulk_delete_variants_job: { method: 'GET', path: '/api/catalog-variant-bulk-delete-jobs/{id}', burst: 350, steady: 3500 },
  bulk_create_catalog_categories: { method: 'POST', path: '/api/catalog-category-bulk-create-jobs', burst: 75, steady: 750, maxItems: 100 },
  get_bulk_create_categories_job: { method: 'GET', path: '/api/catalog-category-bulk-create-jobs/{id}', burst: 350, steady: 3500 },
  bulk_update_catalog_categories: { method: 'POST', path: '/api/catalog-category-bulk-update-jobs', burst: 75, steady: 750, maxItems: 100 },
  get_bulk_update_categories_job: { method: 'GET', path: '/api/catalog-category-bulk-update-jobs/{id}', burst: 350, steady: 3500 },
  bulk_delete_catalog_categories: { method: 'POST', path: '/api/catalog-category-bulk-delete-jobs', burst: 75, steady: 750, maxItems: 100 },
  get_bulk_delete_categories_job: { method: 'GET', path: '/api/catalog-category-bulk-delete-jobs/{id}', burst: 350, steady: 3500 },
  // Commerce (issue 15): one subscription per call; coupon codes in async jobs of ≤ 1,000 codes,
  // "at most 100 jobs queued at once" (OAS bulk_create_coupon_codes; MAX_QUEUED_COUPON_JOBS).
  create_back_in_stock_subscription: { method: 'POST', path: '/api/back-in-stock-subscriptions', burst: 350, steady: 3500 },
  bulk_create_coupon_codes: { method: 'POST', path: '/api/coupon-code-bulk-create-jobs', burst: 75, steady: 750, maxItems: 1000 },
  get_bulk_create_coupon_codes_job: { method: 'GET', path: '/api/coupon-code-bulk-create-jobs/{id}', burst: 75, steady: 750 },
} satisfies Record<string, EndpointSpec>;

/** An endpoint's name: Klaviyo's operationId, but for the renames below. */
export type EndpointName = keyof typeof TABLE;

export const ENDPOINTS: Readonly<Record<EndpointName, EndpointSpec>> = TABLE;

/** The catalog bulk job operations (their resource objects sit at `/data/attributes/<items|variants|categories>/data/<i>`). */
export const CATALOG_BULK_ENDPOINTS = [
  'bulk_create_catalog_items',
  'bulk_update_catalog_items',
  'bulk_delete_catalog_items',
  'bulk_create_catalog_variants',
  'bulk_update_catalog_variants',
  'bulk_delete_catalog_variants',
  'bulk_create_catalog_categories',
  'bulk_update_catalog_categories',
  'bulk_delete_catalog_categories',
] as const satisfies readonly EndpointName[];

/**
 * The endpoints whose request carries a JSON:API body, validated against the spec's schema
 * (src/klaviyo/openapi). The method does not tell: list removal's DELETE has a body,
 * DELETE /api/webhooks/{id} has none.
 */
export const BODY_ENDPOINTS = [
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
  ...CATALOG_BULK_ENDPOINTS,
  'create_back_in_stock_subscription',
  'bulk_create_coupon_codes',
] as const satisfies readonly EndpointName[];

/** Klaviyo's operationId of the endpoints whose name differs from it. */
const OPERATION_ID_RENAMES = {
  get_bulk_import_profiles_job_errors: 'get_errors_for_bulk_import_profiles_job',
} as const satisfies Partial<Record<EndpointName, string>>;

/** Klaviyo's operationId of an endpoint (its key in the OpenAPI spec and in operations.json). */
export type OperationIdOf<N extends EndpointName> = N extends keyof typeof OPERATION_ID_RENAMES ? (typeof OPERATION_ID_RENAMES)[N] : N;

export function operationIdOf<N extends EndpointName>(name: N): OperationIdOf<N> {
  return ((OPERATION_ID_RENAMES as Partial<Record<EndpointName, string>>)[name] ?? name) as OperationIdOf<N>;
}

/** Klaviyo's cap on coupon-code bulk create jobs queued at once, per account (OAS bulk_create_coupon_codes). */
export const MAX_QUEUED_COUPON_JOBS = 100;

/** The Webhooks API's operations (the relay calls them from /ops/webhooks, never from the workers). */
export const WEBHOOK_ENDPOINTS = [
  'get_webhook_topics',
  'get_webhooks',
  'create_webhook',
  'get_webhook',
  'update_webhook',
  'delete_webhook',
] as const satisfies readonly EndpointName[];

/** The gateway's own limit: requests per second per Maton API key, across all connections. */
export const GATEWAY_REQUESTS_PER_SECOND = 10;

/** Klaviyo's documented payload limits (OpenAPI descriptions of the event and profile operations). */
export const KLAVIYO_LIMITS = {
  maxRequestBytes: 5 * 1024 * 1024,
  maxStringBytes: 100 * 1024,
  maxEventProperties: 400,
  maxMetricNameLength: 127,
  maxProfileBytes: 100 * 1024,
} as const;

/** Klaviyo's list, profile and job ids: base62-ish, no slashes, dots or query characters. */
export const KLAVIYO_ID = /^[A-Za-z0-9_-]{1,64}$/;
