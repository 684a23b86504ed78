/** `Authorization: Bearer <key>` → the source that owns the key, or 401. */
import type { MiddlewareHandler } from 'hono';
import type { Source, SourceRegistry } from '../../sources.ts';
import { jsonError } from '../errors.ts';

export type AuthEnv = { Variables: { source: Source } };

export function bearerAuth(sources: SourceRegistry): MiddlewareHandler<AuthEnv> {
  return async function bearerAuth(c, next) {
    const header = c.req.header('authorization');
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) {
      c.header('WWW-Authenticate', 'Bearer');
      return jsonError(c, 401, 'unauthorized', 'Send "Authorization: Bearer <key>" with one of the relay\'s API keys');
    }
    const source = sources.byKey(m[1]!);
    if (!source) {
      c.header('WWW-Authenticate', 'Bearer error="invalid_token"');
      return jsonError(c, 401, 'unauthorized', 'The API key is not valid');
    }
    c.set('source', source);
    await next();
  };
}
