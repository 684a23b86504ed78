/**
 * What class a /v1 request asks for: `X-Relay-Priority: live|bulk`, or `?priority=live|bulk` for
 * senders that cannot set headers (src/priority.ts decides what the items become). Anything else
 * is a 400 naming the header or the parameter, answered before the body is read.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { PRIORITY_QUERY, requestedPriority, type PriorityClass } from '../../priority.ts';
import { jsonError } from '../errors.ts';
import { header } from '../header.ts';

export type PriorityEnv = { Variables: { priority?: PriorityClass } };

/** The query's `priority` values. The raw URL is looked at first: most requests have no query at all. */
function queryValues(c: Context): string[] {
  const incoming = (c.env as { incoming?: { url?: string } } | undefined)?.incoming;
  const url = incoming?.url ?? c.req.url;
  const q = url.indexOf('?');
  if (q < 0) return [];
  return new URLSearchParams(url.slice(q + 1)).getAll(PRIORITY_QUERY);
}

export function priority<E extends PriorityEnv>(): MiddlewareHandler<E> {
  return async function priority(c, next) {
    const values = queryValues(c);
    // Two different values in the query are as unclear as a bad one.
    const query = values.length === 0 ? undefined : values.every((v) => v === values[0]) ? values[0] : values.join(',');
    const asked = requestedPriority(header(c, 'x-relay-priority'), query);
    if (!asked.ok) return jsonError(c, 400, 'validation_failed', 'The priority is not valid: use "live" or "bulk"', asked.issues);
    if (asked.cls) c.set('priority', asked.cls);
    return next();
  };
}
