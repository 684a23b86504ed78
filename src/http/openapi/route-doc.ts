/**
 * How a route describes itself for the OpenAPI document (issue 20). Each route module has a
 * sibling `<route>.openapi.ts` exporting its RouteDoc[]: the request schemas are the very zod
 * schemas the route validates with (so the document cannot drift from the checks), the response
 * schemas are checked against live answers by test/contract/relay-openapi.test.ts, and every
 * example is sent to the live API there and must get its `status`.
 *
 * Adding a route's documentation: write its RouteDoc next to the route, add the array to
 * ROUTE_DOCS (src/http/openapi/routes.ts). test/contract/relay-openapi.test.ts fails while a route
 * of the app has no RouteDoc.
 */
import { z } from 'zod';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** The security schemes of the document (src/http/openapi/document.ts spells each out). */
export type SecurityScheme =
  | 'relayKey'
  | 'standardWebhooks'
  | 'writeKeyBasic'
  | 'klaviyoSignature'
  | 'flowSecret'
  | 'adminToken'
  | 'adminBasic'
  | 'metricsToken';

/** One request the contract test sends to the live API, and the status it must get. */
export interface RouteExample {
  readonly summary: string;
  readonly status: number;
  readonly params?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  /** false: sent without credentials (an example of the 401). */
  readonly auth?: false;
}

export interface ResponseDoc {
  readonly description: string;
  /** The JSON body; absent for a body that is not JSON (`contentType`) or none. */
  readonly schema?: z.ZodType;
  /** Default application/json. */
  readonly contentType?: string;
}

export interface RouteDoc {
  readonly method: HttpMethod;
  /** OpenAPI form: `/v1/lists/{listId}/members`. */
  readonly path: string;
  readonly summary: string;
  readonly description?: string;
  readonly tags: readonly string[];
  /** Alternatives: any one of them admits the request. Empty: open. */
  readonly security: readonly SecurityScheme[];
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly body?: z.ZodType;
  /** Default application/json. */
  readonly bodyType?: string;
  /** Other content types the route accepts besides `bodyType`, each with its schema (examples stay under `bodyType`). */
  readonly otherBodies?: Readonly<Record<string, z.ZodType>>;
  readonly responses: Readonly<Record<number, ResponseDoc>>;
  readonly examples: readonly RouteExample[];
}

/** Every error the API returns (src/http/errors.ts). */
export const ErrorSchema = z
  .object({
    error: z.string().meta({ description: 'A stable code, e.g. validation_failed, unauthorized, not_found' }),
    message: z.string().meta({ description: 'A sentence for a human' }),
    issues: z
      .array(
        z.object({
          field: z.string().meta({ description: 'The field, with its place in a batch: events[3].profile.email' }),
          message: z.string(),
          index: z.number().int().optional().meta({ description: 'The item of the batch' }),
        }),
      )
      .optional(),
  })
  .meta({ description: 'Every error has this shape' });

export const errorResponse = (description: string): ResponseDoc => ({ description, schema: ErrorSchema });

/** The answers every /v1 write can give besides its own 2xx. */
export const V1_ERRORS: Readonly<Record<number, ResponseDoc>> = {
  400: errorResponse('The body is not valid JSON or fails validation; `issues` names each field (and item). Nothing was accepted'),
  401: errorResponse('No key, an unknown key, or a signature that does not verify'),
  409: errorResponse('A signed request with this webhook-id is being processed now (Retry-After)'),
  413: errorResponse('The body is larger than RELAY_MAX_BODY_BYTES'),
  415: errorResponse('The body is not declared as application/json'),
  429: errorResponse("The source's rate or queued-bytes limit is reached (Retry-After)"),
  503: errorResponse('The relay cannot take work now (backlog limit, or Redis and the spool unavailable); retry after Retry-After'),
};

/** The answers every /ops route can give besides its own. */
export const OPS_ERRORS: Readonly<Record<number, ResponseDoc>> = {
  401: errorResponse('No admin token, or the wrong one'),
  403: errorResponse('A write with Basic credentials from another site'),
  503: errorResponse('RELAY_ADMIN_TOKEN is not set: the operations API is closed'),
};

/** What an ingest route answers once Redis (or the spool) holds the work. */
export const spooledField = z
  .boolean()
  .optional()
  .meta({ description: 'true: Redis was unavailable; the work is in the local spool and moves to Redis later' });
