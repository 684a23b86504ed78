/**
 * The few typed errors the service branches on. Workers map them to job outcomes in one place
 * (workers/retry-policy.ts). Elsewhere a status only picks a recovery first: a bulk 400 is
 * narrowed to the items it names (workers/klaviyo-call.ts, bulk-import.ts), a 409 duplicate
 * profile is resolved (upsert.ts), a 429 tells the quota governor.
 */

/** One entry of Klaviyo's JSON:API error array. */
export interface KlaviyoErrorItem {
  readonly id?: string;
  readonly status?: number;
  readonly code?: string;
  readonly title?: string;
  readonly detail?: string;
  readonly source?: { readonly pointer?: string; readonly parameter?: string };
  readonly meta?: Record<string, unknown>;
}

/** Who produced an error response, as far as can be told (the gateway publishes no error schema). */
export type ErrorOrigin = 'gateway' | 'klaviyo';

/** A non-2xx answer from Klaviyo or the Maton gateway. */
export class KlaviyoApiError extends Error {
  override readonly name = 'KlaviyoApiError';
  constructor(
    readonly status: number,
    readonly origin: ErrorOrigin,
    /** Klaviyo's first error code (`throttled`, `invalid`, `duplicate_profile`, ...) or the gateway's text. */
    readonly code: string | undefined,
    readonly detail: string | undefined,
    /** `Retry-After` converted to milliseconds, when the response carried one. */
    readonly retryAfterMs: number | undefined,
    readonly errors: readonly KlaviyoErrorItem[],
    readonly endpoint: string,
  ) {
    super(`${endpoint}: ${origin} answered ${status}${code ? ` ${code}` : ''}${detail ? `: ${detail}` : ''}`);
  }
}

/** The request never got an HTTP answer: connection refused or reset, DNS, or our own timeout. */
export class KlaviyoTransportError extends Error {
  override readonly name = 'KlaviyoTransportError';
  constructor(
    readonly kind: 'timeout' | 'network',
    readonly endpoint: string,
    options?: { cause?: unknown },
  ) {
    const cause = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(`${endpoint}: ${kind === 'timeout' ? 'timed out' : 'network error'}${cause}`, options);
  }
}

/** A 2xx answer whose body does not have the shape we rely on. */
export class KlaviyoResponseError extends Error {
  override readonly name = 'KlaviyoResponseError';
  constructor(
    readonly endpoint: string,
    readonly status: number,
    message: string,
  ) {
    super(`${endpoint}: unexpected ${status} response body: ${message}`);
  }
}
