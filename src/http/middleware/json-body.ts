/**
 * Reads a JSON request body within a size limit, keeping the raw text (webhook signatures are
 * computed over the exact bytes) and the parsed value.
 *
 * Order of checks: content type (415) → declared size (413) → streamed size (413) → UTF-8 (400)
 * → JSON (400). The stream is cut off at the limit, so an endless body costs at most `maxBytes`.
 */
import type { MiddlewareHandler } from 'hono';
import { jsonError } from '../errors.ts';

export type JsonBodyEnv = { Variables: { rawBody: string; body: unknown } };

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

export function jsonBody<E extends JsonBodyEnv = JsonBodyEnv>(maxBytes: number): MiddlewareHandler<E> {
  return async function jsonBody(c, next) {
    const type = c.req.header('content-type') ?? '';
    if (!JSON_TYPE.test(type)) {
      return jsonError(c, 415, 'unsupported_media_type', `Send the body as JSON with "Content-Type: application/json" (got ${JSON.stringify(type || 'none')})`);
    }
    const declared = Number(c.req.header('content-length'));
    if (Number.isFinite(declared) && declared > maxBytes) return tooLarge(c, maxBytes);

    const bytes = await readLimited(c.req.raw.body, maxBytes);
    if (bytes === 'too-large') return tooLarge(c, maxBytes);
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return jsonError(c, 400, 'invalid_encoding', 'The body is not valid UTF-8');
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      return jsonError(c, 400, 'invalid_json', `The body is not valid JSON: ${(err as Error).message}`, [{ field: '(body)', message: 'is not valid JSON' }]);
    }
    c.set('rawBody', text);
    c.set('body', body);
    await next();
  };
}

function tooLarge(c: Parameters<MiddlewareHandler>[0], maxBytes: number) {
  return jsonError(c, 413, 'payload_too_large', `The body is larger than ${maxBytes} bytes; split it into smaller requests`);
}

async function readLimited(stream: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Uint8Array | 'too-large'> {
  if (!stream) return new Uint8Array();
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return 'too-large';
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let off = 0;
  for (const ch of chunks) {
    out.set(ch, off);
    off += ch.byteLength;
  }
  return out;
}
