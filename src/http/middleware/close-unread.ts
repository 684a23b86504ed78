/**
 * A request answered without reading its body (refused before authentication, a duplicate, a
 * declared size over the limit) leaves that body on the connection. Reading it to reuse the
 * connection is what a refusal must not cost, so the connection is closed after the answer
 * (`Connection: close`): the client's upload is never consumed.
 */
import type { MiddlewareHandler } from 'hono';
import { header } from '../header.ts';
import { bodyConsumed } from '../request-body.ts';

export function closeIfBodyUnread(): MiddlewareHandler {
  return async function closeIfBodyUnread(c, next) {
    await next();
    const length = header(c, 'content-length');
    const declaresBody = (length !== undefined && length !== '0') || header(c, 'transfer-encoding') !== undefined;
    // On the response's own headers: c.header() after the response exists rebuilds it (observe.ts).
    if (declaresBody && !bodyConsumed(c)) c.res.headers.set('Connection', 'close');
  };
}
