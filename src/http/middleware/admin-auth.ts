/**
 * The operators' door (/ops): `Authorization: Bearer <RELAY_ADMIN_TOKEN>`, or HTTP Basic with the
 * token as the password (any user name) so that a browser shows its login prompt. The token is
 * compared as SHA-256 digests in constant time. Without a configured token the door stays shut.
 * A browser sends remembered Basic credentials with requests other sites make, so a write with
 * Basic is accepted only from our own pages (same-origin.ts); Bearer writes need no such check.
 */
import type { MiddlewareHandler } from 'hono';
import { sharedSecretMatches } from '../../webhooks/shared-secret.ts';
import { jsonError } from '../errors.ts';
import { header } from '../header.ts';
import { crossOriginRefusal, isWrite } from './same-origin.ts';

export type AdminEnv = { Variables: { actor: string; adminScheme: 'bearer' | 'basic' } };

export function adminAuth(token: string | undefined): MiddlewareHandler<AdminEnv> {
  return async function adminAuth(c, next) {
    if (!token) return jsonError(c, 503, 'ops_disabled', 'Set RELAY_ADMIN_TOKEN to use the operations API and dashboard');
    const h = header(c, 'authorization') ?? '';
    let given: string | undefined;
    let actor = 'admin';
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(h);
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h);
    if (bearer) given = bearer[1];
    else if (basic) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i >= 0) {
        actor = decoded.slice(0, i) || 'admin';
        given = decoded.slice(i + 1);
      }
    }
    if (!sharedSecretMatches(given, token)) {
      c.header('WWW-Authenticate', 'Basic realm="klaviyo-relay operations", charset="UTF-8"');
      return jsonError(c, 401, 'admin_unauthorized', 'The operations API needs the admin token (Bearer, or as the Basic password)');
    }
    if (basic && isWrite(c.req.method)) {
      const refusal = crossOriginRefusal(c);
      if (refusal) return jsonError(c, 403, refusal.error, refusal.message);
    }
    c.set('actor', actor);
    c.set('adminScheme', bearer ? 'bearer' : 'basic');
    await next();
  };
}
