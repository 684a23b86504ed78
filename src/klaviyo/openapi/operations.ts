/**
 * Typed access to `operations.json`, the subset of Klaviyo's OpenAPI spec
 * (klaviyo/openapi stable.json, revision 2026-07-15, MIT — see LICENSE here) that this project
 * calls. Regenerate with `npx tsx scripts/extract-openapi.ts`. Which operations, and which carry
 * a body, is endpoints.ts's to say (ENDPOINTS, BODY_ENDPOINTS); the types here derive from it.
 */
import { BODY_ENDPOINTS, type EndpointName, type OperationIdOf, operationIdOf } from '../endpoints.ts';
import operationsFile from './operations.json' with { type: 'json' };

/** operationIds that carry a request body, i.e. the ones `validateRequestBody` accepts. */
export type BodyOperationId = OperationIdOf<(typeof BODY_ENDPOINTS)[number]>;

/** Every operationId this project calls (one per endpoint of endpoints.ts). */
export type OperationId = OperationIdOf<EndpointName>;

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

export const BODY_OPERATION_IDS: readonly BodyOperationId[] = BODY_ENDPOINTS.map(operationIdOf);
