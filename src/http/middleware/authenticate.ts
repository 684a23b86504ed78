/**
 * Who sent a /v1 request: `Authorization: Bearer <key>` (looked up by digest), or — for sources
 * configured with a signing secret — a Standard Webhooks signature over the raw body
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature`). Anything else is 401.
 *
 * Everything that does not need the body is checked before the body is read: an unauthenticated
 * client must not make the API buffer RELAY_MAX_BODY_BYTES, nor HMAC them. So it is two steps:
 *   authenticate:    the bearer key; or the signature's headers (present, well-formed, timestamp in
 *                    tolerance) and which sources may have signed it → then the body is read (bounded)
 *   verifySignature: the HMAC over the raw body, with those sources' secrets only.
 * A signing sender may name its source in the URL (`?source=<name>`): then only that source's
 * secrets are tried, and one HMAC of the body is all an unauthenticated request can cost per secret.
 */
import type { MiddlewareHandler } from 'hono';
import type { Source, SourceRegistry } from '../../sources.ts';
import { checkStandardHeaders, verifyStandardBody, type StandardHeaders } from '../../webhooks/standard-webhooks.ts';
import { jsonError } from '../errors.ts';
import { header } from '../header.ts';
import type { JsonBodyEnv } from './json-body.ts';

/** A signed request whose headers passed: the sources that may have signed it, checked once the body is read. */
export interface PendingSignature {
  readonly headers: StandardHeaders;
  readonly candidates: readonly { readonly source: Source; readonly secrets: readonly string[] }[];
}

export type AuthEnv = { Variables: { source: Source; signed?: PendingSignature } };

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function authenticate<E extends AuthEnv & JsonBodyEnv>(sources: SourceRegistry): MiddlewareHandler<E> {
  return async function authenticate(c, next) {
    const authorization = header(c, 'authorization');
    if (authorization) {
      const m = BEARER.exec(authorization);
      const source = m ? sources.byKey(m[1]!) : undefined;
      if (!source) {
        c.header('WWW-Authenticate', m ? 'Bearer error="invalid_token"' : 'Bearer');
        return jsonError(c, 401, 'unauthorized', m ? 'The API key is not valid' : 'Send "Authorization: Bearer <key>" with one of the relay\'s API keys');
      }
      c.set('source', source);
      return next();
    }
    const signature = header(c, 'webhook-signature');
    if (signature) {
      const checked = checkStandardHeaders({ id: header(c, 'webhook-id'), timestamp: header(c, 'webhook-timestamp'), signature });
      if (!checked.ok) return jsonError(c, 401, 'unauthorized', `The webhook signature is not valid: ${checked.reason}`);
      const named = c.req.query('source');
      const candidates = named === undefined ? sources.signing() : sources.signing().filter((s) => s.source.name === named);
      if (candidates.length === 0) {
        return jsonError(c, 401, 'unauthorized', named === undefined ? 'No source authenticates with a webhook signature' : `No source named ${JSON.stringify(named)} authenticates with a webhook signature`);
      }
      c.set('signed', { headers: checked.headers, candidates });
      return next();
    }
    c.header('WWW-Authenticate', 'Bearer');
    return jsonError(c, 401, 'unauthorized', 'Send "Authorization: Bearer <key>" with one of the relay\'s API keys, or a Standard Webhooks signature');
  };
}

/** After the body is read: a signed request's HMAC, which names its source. Bearer requests pass through. */
export function verifySignature<E extends AuthEnv & JsonBodyEnv>(): MiddlewareHandler<E> {
  return async function verifySignature(c, next) {
    const signed = c.get('signed');
    if (!signed) return next();
    const rawBody = c.get('rawBody');
    for (const { source, secrets } of signed.candidates) {
      if (verifyStandardBody(signed.headers, rawBody, secrets) >= 0) {
        c.set('source', source);
        return next();
      }
    }
    return jsonError(c, 401, 'unauthorized', 'The webhook signature is not valid for any source');
  };
}
