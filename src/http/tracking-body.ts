/**
 * The body of a tracking API request (src/http/routes/tracking-api.ts): read within Segment's
 * 500 KB, gunzipped when `Content-Encoding: gzip` (RudderStack's SDK gzips by default) with the
 * same cap on the decompressed size, then UTF-8. zlib stops at `maxOutputLength`, so a gzip bomb
 * costs at most 500 KB of output, not what it would inflate to.
 *
 * Over the limit is a 400, as Segment answers it: the request can never succeed, and the Segment
 * SDK retries everything but a 400 (and a few other 4xx).
 */
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { Context } from 'hono';
import { MAX_BATCH_BYTES } from '../model/segment-message.ts';
import { header } from './header.ts';
import { decodeUtf8, readBody } from './request-body.ts';

const gunzipAsync = promisify(gunzip);

export type TrackingBody =
  | { readonly ok: true; readonly text: string; readonly bytes: number }
  | { readonly ok: false; readonly status: 400 | 415; readonly error: string; readonly message: string; readonly close?: boolean };

const tooLarge = (what: string, close = true): TrackingBody => ({
  ok: false,
  status: 400,
  error: 'batch_too_large',
  message: `The ${what} is larger than ${MAX_BATCH_BYTES} bytes (500 KB, the tracking API's limit per request); send smaller batches`,
  close,
});

export async function readTrackingBody(c: Context, maxBytes = MAX_BATCH_BYTES): Promise<TrackingBody> {
  const encoding = (header(c, 'content-encoding') ?? 'identity').trim().toLowerCase();
  const gzipped = encoding === 'gzip' || encoding === 'x-gzip';
  if (!gzipped && encoding !== 'identity' && encoding !== '') {
    return {
      ok: false,
      status: 415,
      error: 'unsupported_encoding',
      message: `Content-Encoding ${JSON.stringify(encoding)} is not supported: send gzip or none`,
    };
  }
  const lengthHeader = header(c, 'content-length');
  const declared = lengthHeader === undefined ? Number.NaN : Number(lengthHeader);
  if (declared > maxBytes) return tooLarge('body');
  const raw = await readBody(c, maxBytes);
  if (raw === 'too-large') return tooLarge('body');
  let bytes: Uint8Array = raw;
  if (gzipped) {
    try {
      bytes = await gunzipAsync(raw, { maxOutputLength: maxBytes });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return tooLarge('decompressed body', false);
      return { ok: false, status: 400, error: 'invalid_gzip', message: `The body is not valid gzip: ${(err as Error).message}` };
    }
  }
  const text = decodeUtf8(bytes);
  if (text === undefined) return { ok: false, status: 400, error: 'invalid_encoding', message: 'The body is not valid UTF-8' };
  return { ok: true, text, bytes: bytes.byteLength };
}
