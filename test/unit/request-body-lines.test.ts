/**
 * readLines (src/http/request-body.ts): an NDJSON body line by line, from the Node request under
 * @hono/node-server (a real socket here) and from the web stream of app.request(), with the same
 * answers. The catalog sync's own cases are in test/integration/catalog.test.ts.
 */
import type { AddressInfo } from 'node:net';
import { request, type Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyConsumed, LINE_TOO_LONG, NOT_UTF8, nodeRequest, readLines } from '../../src/http/request-body.ts';

const MAX = 16;
const label = (l: string | symbol) => (l === LINE_TOO_LONG ? '<too long>' : l === NOT_UTF8 ? '<not utf-8>' : l);

const app = new Hono();
app.post('/lines', async (c) => {
  const out: string[] = [];
  for await (const line of readLines(c, MAX)) out.push(label(line) as string);
  return c.json(out);
});
app.post('/consumed', async (c) => {
  const out: string[] = [];
  for await (const line of readLines(c, MAX)) out.push(label(line) as string);
  return c.json({ lines: out, consumed: bodyConsumed(c) });
});
// Takes one line, then waits without asking for more: how much of the upload was read meanwhile.
app.post('/first', async (c) => {
  const lines = readLines(c, MAX);
  const first = await lines.next();
  await new Promise((r) => setTimeout(r, 300));
  const read = nodeRequest(c)?.socket.bytesRead;
  await lines.return();
  return c.json({ first: first.value, read });
});

let server: Server;
let port: number;
beforeAll(async () => {
  server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** POSTs the chunks over a socket, `gapMs` apart (so the server reads them as separate chunks). */
function post(path: string, chunks: (string | Buffer)[], gapMs = 60): Promise<{ status: number; body: any; connection?: string }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(parts).toString()), connection: res.headers.connection }));
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    void (async () => {
      for (const [i, chunk] of chunks.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
        if (answered) return;
        req.write(chunk);
      }
      req.end();
    })();
  });
}

/** The same chunks through app.request(): a web stream, no Node request. */
async function viaWebStream(chunks: (string | Buffer)[]): Promise<unknown> {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const ch of chunks) controller.enqueue(typeof ch === 'string' ? new TextEncoder().encode(ch) : new Uint8Array(ch));
      controller.close();
    },
  });
  const res = await app.request('/lines', { method: 'POST', body, duplex: 'half' } as RequestInit);
  return res.json();
}

const cases: [string, (string | Buffer)[], string[]][] = [
  ['CRLF and LF, a blank line, a last line without newline', ['a\r\nb\n', '\nc'], ['a', 'b', '', 'c']],
  ['a leading BOM is dropped; a character split across chunks', [Buffer.from([0xef, 0xbb, 0xbf, 0x61, 0xc3]), Buffer.from([0xa9, 0x0a])], ['aé']],
  ['a line growing past the limit is reported once and skipped to its end', ['x'.repeat(MAX + 1), 'more', 'x\nnext\n'], ['<too long>', 'next']],
  ['a long line at the end without newline', ['ok\n', 'y'.repeat(MAX + 5)], ['ok', '<too long>']],
  ['bytes that are not UTF-8 end the body; earlier chunks were taken', ['one\n', Buffer.from([0x61, 0xff, 0x0a]), 'never\n'], ['one', '<not utf-8>']],
  ['a character cut off at the end', ['one\n', Buffer.from([0xc3])], ['one', '<not utf-8>']],
  ['an empty body', [], []],
];

describe('readLines', () => {
  for (const [name, chunks, expected] of cases) {
    it(`${name} (Node request, and web stream)`, async () => {
      const r = await post('/lines', chunks);
      expect(r.status).toBe(200);
      expect(r.body).toEqual(expected);
      expect(await viaWebStream(chunks)).toEqual(expected);
    });
  }

  it('reads a body to its end, but leaves the rest of one that is not UTF-8 unread (close-unread.ts then closes the connection)', async () => {
    expect((await post('/consumed', ['one\n', 'two'])).body).toEqual({ lines: ['one', 'two'], consumed: true });
    const r = await post('/consumed', ['one\n', Buffer.from([0xff]), 'x'.repeat(100_000)]);
    expect(r.body).toEqual({ lines: ['one', '<not utf-8>'], consumed: false });
  });

  it('reads only as fast as its consumer asks: a waiting consumer holds a 16 MB upload back', async () => {
    const big = Buffer.alloc(16 * 1024 * 1024, 'z');
    const r = await post('/first', ['first\n', big], 20);
    expect(r.body.first).toBe('first');
    expect(r.body.read).toBeGreaterThan(0);
    expect(r.body.read).toBeLessThan(4 * 1024 * 1024);
  });
});
