/**
 * One log line and one metric sample per request: route (the matched pattern, never the raw
 * path, which can carry ids), method, status, duration, request id. The request id is the
 * caller's `X-Request-Id` when it sends one, else generated, and is echoed back. Once the answer
 * exists, a body left unread closes the connection (close-unread.ts).
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import { accessLog } from '../access-log.ts';
import { closeIfBodyUnread } from './close-unread.ts';
import { header } from '../header.ts';

export type RequestEnv = { Variables: { requestId: string } };

export function observe(log: Logger, metrics: Metrics | undefined): MiddlewareHandler<RequestEnv> {
  const access = accessLog(log);
  return async function observe(c, next) {
    const started = performance.now();
    const given = header(c, 'x-request-id');
    const requestId = given && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
    c.set('requestId', requestId);
    // Under @hono/node-server, on Node's own response: Node merges it with whatever headers the
    // answer has, and the answer keeps its cheap form (plain header object, no Fetch `Headers`,
    // which c.header() builds: ~2 µs a request, issue 18). Otherwise (app.request() in tests) set
    // before the response exists (Hono copies it in), and echoed onto one made without it.
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (outgoing) outgoing.setHeader('X-Request-Id', requestId);
    else c.header('X-Request-Id', requestId);
    try {
      await next();
      closeIfBodyUnread(c);
    } finally {
      if (!outgoing) echoRequestId(c, requestId);
      const route = c.req.routePath || 'unmatched';
      const status = c.res.status;
      const seconds = (performance.now() - started) / 1000;
      metrics?.http.record(route, c.req.method, status, seconds);
      const source = (c.get as (k: string) => { name?: string } | undefined)('source')?.name;
      access({ requestId, method: c.req.method, route, status, ms: Math.round(seconds * 10_000) / 10, source });
    }
  };
}

/** A response made without the context's headers (a sub-app's own Response, an error) still echoes the id. */
function echoRequestId(c: Context, requestId: string): void {
  const headers = c.res.headers;
  if (headers.get('x-request-id') === requestId) return;
  try {
    headers.set('X-Request-Id', requestId);
  } catch {
    c.header('X-Request-Id', requestId); // immutable headers (a fetched Response): rebuilt, rarely
  }
}
