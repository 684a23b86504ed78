/**
 * A request answered without reading its body (refused before authentication, a duplicate, a
 * declared size over the limit) leaves that body on the connection. Reading it to reuse the
 * connection is what a refusal must not cost, so the connection is closed after the answer
 * (`Connection: close`): the client's upload is never consumed. Called by observe.ts once the
 * answer exists (a middleware of its own cost each request an async frame; issue 18).
 */
import type { Context } from 'hono';
import { header } from '../header.ts';
import { bodyConsumed } from '../request-body.ts';

export function closeIfBodyUnread(c: Context): void {
  const length = header(c, 'content-length');
  const declaresBody = (length !== undefined && length !== '0') || header(c, 'transfer-encoding') !== undefined;
  // On the response's own headers: c.header() after the response exists rebuilds it (observe.ts).
  if (declaresBody && !bodyConsumed(c)) c.res.headers.set('Connection', 'close');
}
