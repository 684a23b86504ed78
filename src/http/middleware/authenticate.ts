/**
 * Who sent a /v1 request: `Authorization: Bearer <key>` (looked up by digest), or — for sources
 * configured with a signing secret — a Standard Webhooks signature over the raw body
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature`). Anything else is 401.
 */
import type { MiddlewareHandler } from 'hono';
import type { Source, SourceRegistry } from '../../sources.ts';
import { verifyStandardWebhook } from '../../webhooks/standard-webhooks.ts';
import { jsonError } from '../errors.ts';
import { header } from '../header.ts';
import type { JsonBodyEnv } from './json-body.ts';

export type AuthEnv = { Variables: { source: Source } };

export function authenticate<E extends AuthEnv & JsonBodyEnv>(sources: SourceRegistry): MiddlewareHandler<E> {
  return async function authenticate(c, next) {
    const authorization = header(c, 'authorization');
    if (authorization) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
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
      for (const { source, secrets } of sources.signing()) {
        const v = verifyStandardWebhook({ rawBody: c.get('rawBody'), id: c.req.header('webhook-id'), timestamp: c.req.header('webhook-timestamp'), signature, secrets });
        if (v.ok) {
          c.set('source', source);
          return next();
        }
      }
      return jsonError(c, 401, 'unauthorized', 'The webhook signature is not valid for any source');
    }
    c.header('WWW-Authenticate', 'Bearer');
    return jsonError(c, 401, 'unauthorized', 'Send "Authorization: Bearer <key>" with one of the relay\'s API keys, or a Standard Webhooks signature');
  };
}
