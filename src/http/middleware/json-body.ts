/**
 * Request bodies, read within a size limit, in two steps so that signatures can be checked over
 * the exact bytes before anything is parsed:
 *   rawBody:   content type (415, when required) → declared size (413) → streamed size (413) → UTF-8 (400)
 *   parseJson: JSON (400)
 * The stream is cut off at the limit, so an endless body costs at most `maxBytes`; and rawBody runs
 * only once the sender is authenticated (or, for a signature, its headers checked), so only they
 * can make the API buffer that much.
 */
import { isUtf8 } from 'node:buffer';
import type { Context, MiddlewareHandler } from 'hono';
import { jsonError } from '../errors.ts';
import { header } from '../header.ts';
import { LARGE_BODY_BYTES, parseLargeBatch } from '../parse-large-batch.ts';
import { decodeUtf8, readBody } from '../request-body.ts';

/**
 * `bodyBytes`: the body's size as received (what queued-bytes limits count; src/ingest/queued-bytes.ts).
 * `rawBytes`: set, with `rawBody` empty, for a large body the chain needs no text of (`text`
 * below): parseJson reads it from the bytes (src/http/parse-large-batch.ts).
 */
export type JsonBodyEnv = { Variables: { rawBody: string; rawBytes?: Uint8Array; body: unknown; bodyBytes: number } };

export const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * `text`: whether anything before parseJson needs the body as text (a signature over it); when it
 * says no, a large body is kept as bytes only (`rawBytes`). Without it the text is always made.
 */
export function rawBody<E extends JsonBodyEnv = JsonBodyEnv>(
  maxBytes: number,
  opts: { requireJsonType?: boolean; text?: (c: Context<E>) => boolean } = {},
): MiddlewareHandler<E> {
  const requireJsonType = opts.requireJsonType ?? true;
  return async function rawBody(c, next) {
    if (requireJsonType) {
      const type = header(c, 'content-type') ?? '';
      if (!JSON_TYPE.test(type)) {
        return jsonError(
          c,
          415,
          'unsupported_media_type',
          `Send the body as JSON with "Content-Type: application/json" (got ${JSON.stringify(type || 'none')})`,
        );
      }
    }
    const lengthHeader = header(c, 'content-length');
    const declared = lengthHeader === undefined ? NaN : Number(lengthHeader);
    if (declared > maxBytes) return tooLarge(c, maxBytes);
    // Read from the Node request where there is one, cut off at the limit (src/http/request-body.ts).
    const bytes = await readBody(c, maxBytes);
    if (bytes === 'too-large') {
      // The rest of the body was not read (the stream is cancelled): this connection cannot carry
      // another request, and a keep-alive client must be told so, or its next request on it fails.
      c.header('Connection', 'close');
      return tooLarge(c, maxBytes);
    }
    if (bytes.byteLength >= LARGE_BODY_BYTES && opts.text?.(c) === false) {
      if (!isUtf8(bytes)) return invalidEncoding(c);
      c.set('rawBytes', bytes);
      c.set('rawBody', '');
    } else {
      const text = decodeUtf8(bytes);
      if (text === undefined) return invalidEncoding(c);
      c.set('rawBody', text);
    }
    c.set('bodyBytes', bytes.byteLength);
    // Returned, not awaited: nothing here runs after the route, so no frame waits for it.
    return next();
  };
}

export function parseJson<E extends JsonBodyEnv = JsonBodyEnv>(): MiddlewareHandler<E> {
  return async function parseJson(c, next) {
    try {
      const bytes = c.get('rawBytes');
      // From the bytes in pieces when it can; otherwise (and for its errors) the whole text, as ever.
      c.set('body', bytes ? (parseLargeBatch(bytes)?.value ?? JSON.parse(decodeUtf8(bytes)!)) : JSON.parse(c.get('rawBody')));
    } catch (err) {
      return jsonError(c, 400, 'invalid_json', `The body is not valid JSON: ${(err as Error).message}`, [{ field: '(body)', message: 'is not valid JSON' }]);
    }
    return next();
  };
}

function invalidEncoding(c: Context) {
  return jsonError(c, 400, 'invalid_encoding', 'The body is not valid UTF-8');
}

function tooLarge(c: Context, maxBytes: number) {
  return jsonError(c, 413, 'payload_too_large', `The body is larger than ${maxBytes} bytes; split it into smaller requests`);
}
