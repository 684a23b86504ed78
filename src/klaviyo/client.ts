/**
 * The one function that talks to Klaviyo, through the Maton gateway or directly.
 *
 * - Gateway mode: `{gateway}/klaviyo/api/...`, `Authorization: Bearer <MATON_API_KEY>`, and
 *   `Maton-Connection` to pin the Klaviyo account (the gateway's docs since 2026-04 say to always
 *   send it; without it the gateway picks a default connection).
 * - Direct mode: `{base}/api/...`, `Authorization: Klaviyo-API-Key <private key>`.
 * - Every call carries Klaviyo's `revision` header and the JSON:API content type, and has a timeout.
 * - No retries here: BullMQ owns retries, two layers would multiply attempts.
 * - Redirects are not followed: the gateway passes upstream 3xx through, and following one would
 *   leave the gateway (and its auth) behind.
 */
import type { z } from 'zod';
import { ENDPOINTS, KLAVIYO_ID, type EndpointName } from './endpoints.ts';
import { ErrorBodySchema } from './schemas.ts';
import { KlaviyoApiError, KlaviyoResponseError, KlaviyoTransportError, type ErrorOrigin } from '../errors.ts';

export interface KlaviyoTarget {
  readonly mode: 'gateway' | 'direct';
  /** Gateway root (`https://api.maton.ai`) in gateway mode, Klaviyo's (`https://a.klaviyo.com`) in direct mode. */
  readonly baseUrl: string;
  /** The Maton API key (gateway) or the Klaviyo private key (direct). */
  readonly apiKey: string;
  readonly connectionId?: string;
  readonly revision: string;
  readonly timeoutMs: number;
}

export interface RateLimitInfo {
  readonly limit?: number;
  readonly remaining?: number;
  /** Time until the current window resets, in ms (from `RateLimit-Reset`, seconds). */
  readonly resetMs?: number;
  readonly retryAfterMs?: number;
}

export interface KlaviyoResponse<T> {
  readonly status: number;
  readonly data: T;
  readonly rateLimit: RateLimitInfo;
}

export interface RequestOptions<S extends z.ZodType | undefined> {
  readonly endpoint: EndpointName;
  readonly pathParams?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string>>;
  /** A JSON value, or an already serialized one (a string), sent as is. */
  readonly body?: unknown;
  /** Parses a 2xx body; omit for operations answering 202/204 with no body. */
  readonly schema?: S;
  readonly signal?: AbortSignal;
  /** Absolute URL to call instead of the endpoint's path (pagination). Must already point at our base. */
  readonly url?: string;
  /** The quota token this request spends (src/quota/governor.ts `Grant`): told the moment the request leaves. */
  readonly grant?: { sent(): void };
}

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface KlaviyoClient {
  readonly target: KlaviyoTarget;
  request<S extends z.ZodType | undefined = undefined>(opts: RequestOptions<S>): Promise<KlaviyoResponse<S extends z.ZodType ? z.infer<S> : undefined>>;
  /** Follows `links.next` page by page, through the gateway when in gateway mode. */
  paginate<S extends z.ZodType<{ links?: { next?: string | null | undefined } | undefined }>>(
    opts: RequestOptions<S> & { schema: S },
  ): AsyncGenerator<z.infer<S>>;
  /** Where a `links.next` URL must be sent to stay on our route to Klaviyo. */
  rebaseLink(link: string): string;
}

const CONTENT_TYPE = 'application/vnd.api+json';

export function createKlaviyoClient(target: KlaviyoTarget, fetchImpl: FetchLike = fetch): KlaviyoClient {
  const apiRoot = target.mode === 'gateway' ? `${target.baseUrl}/klaviyo` : target.baseUrl;
  const headers: Record<string, string> = {
    authorization: target.mode === 'gateway' ? `Bearer ${target.apiKey}` : `Klaviyo-API-Key ${target.apiKey}`,
    revision: target.revision,
    accept: CONTENT_TYPE,
    'content-type': CONTENT_TYPE,
  };
  if (target.mode === 'gateway' && target.connectionId) headers['maton-connection'] = target.connectionId;

  function buildUrl(endpoint: EndpointName, pathParams: Readonly<Record<string, string>> = {}, query?: Readonly<Record<string, string>>): string {
    const path = ENDPOINTS[endpoint].path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = pathParams[name];
      // Ids are checked here too (not only at ingest) so that nothing can steer a path on the gateway.
      if (value === undefined || !KLAVIYO_ID.test(value)) throw new TypeError(`${endpoint}: invalid path parameter ${name}`);
      return value;
    });
    const qs = query ? new URLSearchParams(query).toString() : '';
    return `${apiRoot}${path}${qs ? `?${qs}` : ''}`;
  }

  function rebaseLink(link: string): string {
    // The gateway does not rewrite Klaviyo's absolute links (docs/klaviyo-and-maton.md §4), and in
    // direct mode against a sandbox the host differs too: keep path and query, swap the origin.
    const u = new URL(link);
    if (!u.pathname.startsWith('/api/')) throw new TypeError(`refusing to follow a link outside /api/: ${u.pathname}`);
    return `${apiRoot}${u.pathname}${u.search}`;
  }

  async function request<S extends z.ZodType | undefined>(opts: RequestOptions<S>) {
    const spec = ENDPOINTS[opts.endpoint];
    const url = opts.url ?? buildUrl(opts.endpoint, opts.pathParams, opts.query);
    const timeout = AbortSignal.timeout(target.timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    let res: Response;
    let text: string;
    try {
      opts.grant?.sent();
      res = await fetchImpl(url, { method: spec.method, headers, body, signal, redirect: 'manual' });
      text = await res.text();
    } catch (err) {
      if (timeout.aborted) throw new KlaviyoTransportError('timeout', opts.endpoint, { cause: err });
      if (opts.signal?.aborted) throw opts.signal.reason ?? err;
      throw new KlaviyoTransportError('network', opts.endpoint, { cause: err });
    }
    const rateLimit = readRateLimit(res.headers);
    const json = parseJson(text);
    if (res.status < 200 || res.status >= 300) throw toApiError(opts.endpoint, res.status, json, text, rateLimit, target.mode);
    let data: unknown;
    if (opts.schema) {
      const parsed = opts.schema.safeParse(json);
      if (!parsed.success) throw new KlaviyoResponseError(opts.endpoint, res.status, parsed.error.message);
      data = parsed.data;
    }
    return { status: res.status, data, rateLimit } as KlaviyoResponse<S extends z.ZodType ? z.infer<S> : undefined>;
  }

  async function* paginate<S extends z.ZodType<{ links?: { next?: string | null | undefined } | undefined }>>(
    opts: RequestOptions<S> & { schema: S },
  ): AsyncGenerator<z.infer<S>> {
    let url: string | undefined = opts.url;
    for (let first = true; ; first = false) {
      // The grant is the first page's: a later page must not move its entry again.
      const page = await request({ ...opts, url, grant: first ? opts.grant : undefined });
      yield page.data as z.infer<S>;
      const next = (page.data as { links?: { next?: string | null } }).links?.next;
      if (!next) return;
      url = rebaseLink(next);
    }
  }

  return { target, request, paginate, rebaseLink } as KlaviyoClient;
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function toApiError(
  endpoint: EndpointName,
  status: number,
  json: unknown,
  text: string,
  rateLimit: RateLimitInfo,
  mode: KlaviyoTarget['mode'],
): KlaviyoApiError {
  const parsed = ErrorBodySchema.safeParse(json);
  if (parsed.success) {
    const first = parsed.data.errors[0];
    return new KlaviyoApiError(status, 'klaviyo', first?.code, first?.detail ?? first?.title, rateLimit.retryAfterMs, parsed.data.errors, endpoint);
  }
  // Not JSON:API. Through the gateway that is taken as the gateway's own answer (its 400/401/429/500
  // bodies are undocumented; telling them apart by the missing `errors[]` is a heuristic,
  // docs/klaviyo-and-maton.md §4). Direct, it is Klaviyo's edge (e.g. a 502 page).
  const origin: ErrorOrigin = mode === 'gateway' ? 'gateway' : 'klaviyo';
  const message = gatewayMessage(json) ?? (text.slice(0, 300) || undefined);
  return new KlaviyoApiError(status, origin, undefined, message, rateLimit.retryAfterMs, [], endpoint);
}

function gatewayMessage(json: unknown): string | undefined {
  if (json && typeof json === 'object') {
    const o = json as Record<string, unknown>;
    for (const key of ['error', 'message', 'detail']) {
      const v = o[key];
      if (typeof v === 'string') return v;
      if (v && typeof v === 'object' && typeof (v as Record<string, unknown>).message === 'string') {
        return (v as Record<string, string>).message;
      }
    }
  }
  return undefined;
}

/** `Retry-After` is seconds or an HTTP-date (RFC 9110 §10.2.3); `RateLimit-*` per Klaviyo's docs. */
export function readRateLimit(h: Headers, now = Date.now()): RateLimitInfo {
  const num = (name: string): number | undefined => {
    const raw = h.get(name);
    if (raw === null) return undefined;
    // Klaviyo's live form is `ratelimit-limit: 75, 75;w=1, 750;w=60`: the first number is the one in force.
    const n = Number.parseFloat(raw.split(',')[0] ?? '');
    return Number.isFinite(n) ? n : undefined;
  };
  let retryAfterMs: number | undefined;
  const ra = h.get('retry-after');
  if (ra !== null) {
    const secs = Number(ra.trim());
    if (Number.isFinite(secs)) retryAfterMs = Math.max(0, secs * 1000);
    else {
      const at = Date.parse(ra);
      if (Number.isFinite(at)) retryAfterMs = Math.max(0, at - now);
    }
  }
  const reset = num('ratelimit-reset');
  return {
    limit: num('ratelimit-limit'),
    remaining: num('ratelimit-remaining'),
    resetMs: reset === undefined ? undefined : reset * 1000,
    retryAfterMs,
  };
}
