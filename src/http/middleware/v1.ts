/**
 * What every /v1 request passes before its route, and what the route then finds in its context.
 *
 * Every v1 route is a write with a JSON body. Nothing of it is read before the sender is known —
 * by its key, or by a signature's headers (the HMAC covers the raw bytes, so it is checked once
 * they are read, bounded) — and it is parsed only once the signature matched:
 *   authenticate → priority → rawBody → verifySignature → parseJson
 */
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../../log.ts';
import type { SourceRegistry } from '../../sources.ts';
import type { ReplayCache } from '../../webhooks/replay-cache.ts';
import { type AuthEnv, authenticate, verifySignature } from './authenticate.ts';
import { type JsonBodyEnv, parseJson, rawBody } from './json-body.ts';
import { type PriorityEnv, priority } from './priority.ts';

/** What /v1 routes find in their context: the authenticated source, the class it asked for, and the parsed body. */
export type V1Env = { Variables: AuthEnv['Variables'] & JsonBodyEnv['Variables'] & PriorityEnv['Variables'] };

export interface V1MiddlewareDeps {
  readonly sources: SourceRegistry;
  readonly maxBodyBytes: number;
  readonly log: Logger;
  /** Standard Webhooks ids seen, so that a replayed signed request creates no work twice. */
  readonly replay?: ReplayCache;
}

/** The chain, in order: `v1.use('*', ...v1Middleware(deps))`. */
export function v1Middleware(deps: V1MiddlewareDeps): MiddlewareHandler<V1Env>[] {
  // Only a signed request's body is needed as text before it is parsed (its HMAC).
  const readRaw = rawBody<V1Env>(deps.maxBodyBytes, { text: (c) => c.get('signed') !== undefined });
  const parse = parseJson<V1Env>();
  const hasBody = (method: string) => method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
  return [
    authenticate<V1Env>(deps.sources, deps.replay),
    priority<V1Env>(),
    (c, next) => {
      if (hasBody(c.req.method)) return readRaw(c, next);
      c.set('rawBody', '');
      return next();
    },
    verifySignature<V1Env>(deps.replay, deps.log),
    (c, next) => (hasBody(c.req.method) ? parse(c, next) : next()),
  ];
}
