/**
 * Reading a request body within a size limit, with the limit enforced while the bytes arrive.
 *
 * Under @hono/node-server the body is read from the Node request itself (`c.env.incoming`, an
 * `IncomingMessage`): its 'data' events, a Buffer each, counted as they come. The Fetch `Request`
 * route (undici `Request`, a `ReadableStream` over the Node stream, `makeTransferable`) cost a
 * visible share of each ingest request's CPU in profiles (issue 18). Elsewhere (tests driving
 * `app.request()`) the web stream is read, with the same limit.
 *
 * Either way a body over the limit is not read further: the caller answers 413 (or 400) with
 * `Connection: close`, so the rest of the upload is never consumed (close-unread.ts).
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

/** The Node request under @hono/node-server, or undefined (app.request() in tests). */
export function nodeRequest(c: Context): IncomingMessage | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
}

/** Whether the whole body has been read (by us or by the Fetch Request): a keep-alive connection can carry the next request. */
export function bodyConsumed(c: Context): boolean {
  const incoming = nodeRequest(c);
  return incoming ? incoming.readableEnded : c.req.raw.bodyUsed;
}

/** The body's bytes, or 'too-large' as soon as more than `maxBytes` arrived. */
export function readBody(c: Context, maxBytes: number): Promise<Uint8Array | 'too-large'> {
  const incoming = nodeRequest(c);
  return incoming ? readNodeBody(incoming, maxBytes) : readLimited(c.req.raw.body, maxBytes);
}

function readNodeBody(incoming: IncomingMessage, maxBytes: number): Promise<Uint8Array | 'too-large'> {
  if (incoming.readableEnded) return Promise.resolve(new Uint8Array());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const done = () => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.byteLength;
      if (total > maxBytes) {
        done();
        // Stop reading: the answer closes the connection, and the upload's rest stays unread.
        incoming.pause();
        resolve('too-large');
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    // The client went away before the end: the request cannot be answered anyway.
    const onClose = () => {
      if (incoming.readableEnded) return;
      done();
      reject(new Error('the client closed the connection before the body was complete'));
    };
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('close', onClose);
  });
}

/** A web stream read up to `maxBytes` (then cancelled). */
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

/**
 * The body as text, or undefined when it is not valid UTF-8. What `new TextDecoder('utf-8',
 * { fatal: true })` answers (a leading BOM dropped), in about a third of its time on a 250 KB
 * body: validation and decoding are each one pass of native code (issue 18's batch profile).
 */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  if (!isUtf8(bytes)) return undefined;
  const bom = bytes.byteLength >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  return Buffer.from(bytes.buffer, bytes.byteOffset + bom, bytes.byteLength - bom).toString('utf8');
}
