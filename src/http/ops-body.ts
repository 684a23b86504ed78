/**
 * The body of a write to the operations API: JSON only, declared as `Content-Type:
 * application/json`. A page on another site can send a form or text body here without asking
 * first, but not a JSON one (that needs a CORS preflight, which /ops never grants), so requiring
 * the type keeps forged writes out even where an origin check could be fooled. With Basic
 * credentials (a browser) every write must be JSON, an empty one included — pause and resume take
 * `{}`; with a Bearer token (scripts, the CLI) a write may also come with no body at all.
 */
import type { Context } from 'hono';
import { jsonError } from './errors.ts';
import { header } from './header.ts';
import type { AdminEnv } from './middleware/admin-auth.ts';
import { JSON_TYPE } from './middleware/json-body.ts';

export type OpsBody = { readonly ok: true; readonly body: unknown } | { readonly ok: false; readonly response: Response };

/** Strict: a body that is not UTF-8 is refused, not read with replacement characters (which could then pass validation). */
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** `body` is undefined when there is none (Bearer only); `expect` says what to send, for the error. */
export async function readOpsBody(c: Context<AdminEnv>, expect: string): Promise<OpsBody> {
  const type = header(c, 'content-type');
  const json = type !== undefined && JSON_TYPE.test(type);
  const browser = c.get('adminScheme') === 'basic';
  let text = '';
  if (json || !browser) {
    try {
      text = utf8.decode(await c.req.arrayBuffer());
    } catch {
      return {
        ok: false,
        response: jsonError(c, 400, 'invalid_json', `The body is not UTF-8; send ${expect}`, [{ field: '(body)', message: 'is not UTF-8' }]),
      };
    }
  }
  if (!json && (browser || text !== '')) {
    const why = browser ? 'A write with Basic credentials must be JSON' : 'The body must be JSON';
    return {
      ok: false,
      response: jsonError(c, 415, 'json_required', `${why}: send ${expect} with "Content-Type: application/json" (got ${JSON.stringify(type ?? 'none')})`),
    };
  }
  if (text === '') {
    if (!browser) return { ok: true, body: undefined };
    return { ok: false, response: jsonError(c, 400, 'invalid_json', `Send ${expect} as the body`, [{ field: '(body)', message: 'is required' }]) };
  }
  try {
    return { ok: true, body: JSON.parse(text) as unknown };
  } catch (err) {
    return {
      ok: false,
      response: jsonError(c, 400, 'invalid_json', `The body is not valid JSON (${(err as Error).message}); send ${expect}`, [
        { field: '(body)', message: 'is not valid JSON' },
      ]),
    };
  }
}
