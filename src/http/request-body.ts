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
 *
 * readLines reads a body of any size line by line, from the same sources (the catalog sync's NDJSON).
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

/** Yielded by readLines in place of a line longer than its limit; the line's rest is skipped. */
export const LINE_TOO_LONG: unique symbol = Symbol('line too long');
/** Yielded by readLines, last, when the body turns out not to be UTF-8; the rest is not read. */
export const NOT_UTF8: unique symbol = Symbol('not UTF-8');

export type BodyLine = string | typeof LINE_TOO_LONG | typeof NOT_UTF8;

/**
 * The body's lines as they arrive (an NDJSON feed of any size: there is no total limit), each
 * without its `\n` or `\r\n`; a leading BOM is dropped, and a last line without newline is a line.
 * The next chunk is read only when the consumer asks for the next line, so a slow consumer holds
 * the upload back instead of buffering it.
 *
 * The part of a line that has arrived without its end is held: when it grows past `maxLineChars`
 * (UTF-16 code units of the decoded text, bytes for ASCII; checked after each chunk) the line is
 * reported as LINE_TOO_LONG and skipped up to its end, so a line without end cannot fill memory.
 * Bytes that are not UTF-8 (or a character cut off at the end) end the body with NOT_UTF8: the
 * lines of earlier chunks were yielded, the rest of the upload is not read (the caller's answer
 * closes the connection, close-unread.ts). A read error (the client went away) is thrown.
 */
export async function* readLines(c: Context, maxLineChars: number): AsyncGenerator<BodyLine, void, undefined> {
  const incoming = nodeRequest(c);
  const chunks = incoming ? nodeChunks(incoming) : webChunks(c.req.raw.body);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const line = (text: string) => (text.endsWith('\r') ? text.slice(0, -1) : text);
  let buf = '';
  let skipping = false;
  try {
    for (;;) {
      const { done, value } = await chunks.next();
      try {
        buf += done ? decoder.decode() : decoder.decode(value, { stream: true });
      } catch {
        yield NOT_UTF8;
        return;
      }
      // Lines are cut with one pass over what arrived, then the rest kept once: no copy per line.
      let start = 0;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n', start)) {
        const text = buf.slice(start, nl);
        start = nl + 1;
        if (skipping) skipping = false;
        else yield line(text);
      }
      buf = buf.slice(start);
      if (!skipping && buf.length > maxLineChars) {
        yield LINE_TOO_LONG;
        skipping = true;
      }
      if (skipping) buf = '';
      if (done) break;
    }
    if (buf.length > 0) yield line(buf);
  } finally {
    // Stops reading where the consumer stopped (a no-op once the body ended).
    await chunks.return();
  }
}

/**
 * The Node request's chunks, one 'data' event each, the request paused while the consumer works
 * on one. Left early, the request stays paused: the rest of the upload is not read.
 */
async function* nodeChunks(incoming: IncomingMessage): AsyncGenerator<Buffer, void, undefined> {
  if (incoming.readableEnded) return;
  const queue: Buffer[] = [];
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };
  const onData = (chunk: Buffer) => {
    queue.push(chunk);
    incoming.pause();
    notify();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  const onError = (err: Error) => {
    failure ??= err;
    notify();
  };
  // The client went away before the end: the request cannot be answered anyway.
  const onClose = () => {
    if (incoming.readableEnded) return;
    failure ??= new Error('the client closed the connection before the body was complete');
    notify();
  };
  incoming.on('data', onData);
  incoming.on('end', onEnd);
  incoming.on('error', onError);
  incoming.on('close', onClose);
  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk) {
        yield chunk;
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      const arrived = new Promise<void>((resolve) => {
        wake = resolve;
      });
      incoming.resume();
      await arrived;
    }
  } finally {
    incoming.off('data', onData);
    incoming.off('end', onEnd);
    incoming.off('error', onError);
    incoming.off('close', onClose);
    if (!ended) incoming.pause();
  }
}

/** A web stream's chunks (app.request() in tests); left early, the stream is cancelled. */
async function* webChunks(stream: ReadableStream<Uint8Array> | null): AsyncGenerator<Uint8Array, void, undefined> {
  if (!stream) return;
  const reader = stream.getReader();
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
  }
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
