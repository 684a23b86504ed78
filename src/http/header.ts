/**
 * Reads a request header. Under @hono/node-server, `c.req.header()` builds a whole Fetch
 * `Headers` object from the Node request on first use; reading Node's own header map instead is
 * measurably cheaper on the ingest hot path. Elsewhere (tests using `app.request`) it falls back.
 */
import type { Context } from 'hono';

export function header(c: Context, name: string): string | undefined {
  const incoming = (c.env as { incoming?: { headers: Record<string, string | string[] | undefined> } } | undefined)?.incoming;
  if (incoming) {
    const v = incoming.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  }
  return c.req.header(name);
}
