/**
 * What every /v1 request passes before its route, and what the route then finds in its context.
 *
 * Every v1 route is a write with a JSON body. Nothing of it is read before the sender is known —
 * by its key, or by a signature's headers (the HMAC covers the raw bytes, so it is checked once
 * they are read, bounded) — and it is parsed only once the signature matched:
 *   authenticate → priority → rawBody → verifySignature → parseJson
 */
import type { Env, MiddlewareHandler } from 'hono';
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

/**
 * The chain, in order, as one middleware: `v1.use('*', ...v1Middleware(deps))`. One, not five:
 * each middleware Hono composes costs an async dispatch that stays alive until the response, and
 * everything alive while the request waits on Redis is copied by the garbage collector — issue
 * 18 measured ~3 KB of every ingest request promoted to the old generation.
 */
export function v1Middleware(deps: V1MiddlewareDeps): MiddlewareHandler<V1Env>[] {
  // Only a signed request's body is needed as text before it is parsed (its HMAC).
  const readRaw = rawBody<V1Env>(deps.maxBodyBytes, { text: (c) => c.get('signed') !== undefined });
  const parse = parseJson<V1Env>();
  const hasBody = (method: string) => method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
  return [
    inOrder<V1Env>(
      authenticate<V1Env>(deps.sources, deps.replay),
      priority<V1Env>(),
      (c, next) => {
        if (hasBody(c.req.method)) return readRaw(c, next);
        c.set('rawBody', '');
        return next();
      },
      verifySignature<V1Env>(deps.replay, deps.log),
      (c, next) => (hasBody(c.req.method) ? parse(c, next) : next()),
    ),
  ];
}

/**
 * Middlewares run one after another as one, with Hono's meaning: a step that answers (returns a
 * Response) ends the chain, and its answer is `c.res` by the time the step before sees its
 * `next()` resolve — as Hono's compose makes it.
 */
function inOrder<E extends Env>(...steps: MiddlewareHandler<E>[]): MiddlewareHandler<E> {
  return (c, next) => {
    const at = (i: number): Promise<void> =>
      i === steps.length
        ? next()
        : steps[i]!(c, () => at(i + 1)).then((answer) => {
            if (answer && !c.finalized) c.res = answer;
          });
    return at(0);
  };
}
