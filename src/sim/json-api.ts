/**
 * Error bodies, in the two shapes a relay sees through the Maton gateway:
 * - Klaviyo's JSON:API errors, `{"errors":[{id,status,code,title,detail,source,links,meta}]}`
 *   (docs/klaviyo-and-maton.md §3; OAS requires id/code/title/detail; `status` as in recorded responses).
 * - The gateway's own errors, a flat `{"error":"…"}` (docs/klaviyo-and-maton.md §4: only the text
 *   "Invalid API key" is documented; the shape is our assumption, deliberately NOT JSON:API so a
 *   client must tell the two apart).
 */
import { uuid } from './ids.ts';

export const JSON_API_TYPE = 'application/vnd.api+json';

export interface ErrorSource {
  pointer?: string;
  parameter?: string;
  header?: string;
}

export interface KlaviyoErrorObject {
  id: string;
  status: number;
  code: string;
  title: string;
  detail: string;
  source: ErrorSource;
  links: Record<string, never> | never[];
  meta: Record<string, unknown>;
}

export interface KlaviyoErrorBody {
  errors: KlaviyoErrorObject[];
}

const TITLES: Record<number, [code: string, title: string]> = {
  400: ['invalid', 'Invalid input.'],
  401: ['not_authenticated', 'Authentication credentials were not provided.'],
  403: ['permission_denied', 'You do not have permission to perform this action.'],
  404: ['not_found', 'Not found.'],
  405: ['method_not_allowed', 'Method not allowed.'],
  409: ['conflict', 'Conflict.'],
  410: ['gone', 'Gone.'],
  413: ['request_too_large', 'Request entity too large.'],
  415: ['unsupported_media_type', 'Unsupported media type.'],
  429: ['throttled', 'Request was throttled.'],
  500: ['error', 'A server error occurred.'],
  502: ['bad_gateway', 'Bad gateway.'],
  503: ['service_unavailable', 'Service unavailable.'],
  504: ['gateway_timeout', 'Gateway timeout.'],
};

export function defaultCode(status: number): string {
  return TITLES[status]?.[0] ?? (status >= 500 ? 'error' : 'invalid');
}

export function defaultTitle(status: number): string {
  return TITLES[status]?.[1] ?? (status >= 500 ? 'A server error occurred.' : 'Invalid input.');
}

export function klaviyoError(
  status: number,
  detail: string,
  opts: { code?: string; title?: string; source?: ErrorSource; meta?: Record<string, unknown> } = {},
): KlaviyoErrorObject {
  return {
    id: uuid(),
    status,
    code: opts.code ?? defaultCode(status),
    title: opts.title ?? defaultTitle(status),
    detail,
    source: opts.source ?? {},
    links: {},
    meta: opts.meta ?? {},
  };
}

/** Klaviyo's 429 body (as recorded live; docs/klaviyo-and-maton.md §3). */
export function throttledBody(retryAfterS: number): KlaviyoErrorBody {
  const unit = retryAfterS === 1 ? 'second' : 'seconds';
  return {
    errors: [
      klaviyoError(429, `Request was throttled. Expected available in ${retryAfterS} ${unit}.`, {
        code: 'throttled',
        title: 'Request was throttled.',
      }),
    ],
  };
}

/** A thrown Klaviyo-style error; the API pipeline turns it into a JSON:API response. */
export class KlaviyoHttpError extends Error {
  readonly status: number;
  readonly errors: KlaviyoErrorObject[];
  constructor(status: number, errors: KlaviyoErrorObject[]) {
    super(errors[0]?.detail ?? `HTTP ${status}`);
    this.status = status;
    this.errors = errors;
  }
  static of(status: number, detail: string, opts?: Parameters<typeof klaviyoError>[2]): KlaviyoHttpError {
    return new KlaviyoHttpError(status, [klaviyoError(status, detail, opts)]);
  }
}
