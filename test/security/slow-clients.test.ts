/**
 * Issue 11, defect 4 (timeouts): Node's defaults let a client hold a connection for a minute by
 * dribbling its headers (headersTimeout 60 s, checked every 30 s) and for five minutes by
 * dribbling a body (requestTimeout 300 s). The relay sets RELAY_HTTP_HEADERS_TIMEOUT_MS,
 * RELAY_HTTP_REQUEST_TIMEOUT_MS and RELAY_HTTP_KEEP_ALIVE_TIMEOUT_MS (shortened here), and checks
 * for expired requests every second.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { RELAY_KEY, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';
import { connect, head } from './support/raw-http.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    name: 'slow-clients',
    workers: false,
    env: { RELAY_HTTP_HEADERS_TIMEOUT_MS: '1000', RELAY_HTTP_REQUEST_TIMEOUT_MS: '2000', RELAY_HTTP_KEEP_ALIVE_TIMEOUT_MS: '1000' },
  });
});
afterAll(async () => {
  await h?.close();
});

/** Writes `piece()` every 100 ms (at most 100 times) until the server closes; returns when it closed, relative to the start. */
async function dribble(conn: Awaited<ReturnType<typeof connect>>, piece: () => string): Promise<number> {
  const started = Date.now();
  for (let i = 0; i < 100 && conn.closedAt() === undefined; i++) {
    conn.write(piece());
    await new Promise((r) => setTimeout(r, 100));
  }
  const closed = conn.closedAt();
  conn.destroy();
  if (closed === undefined) throw new Error(`the server kept a dribbling client for ${Date.now() - started} ms`);
  return closed - started;
}

describe('slow clients', () => {
  it('a slowloris (headers dribbled) is cut off after RELAY_HTTP_HEADERS_TIMEOUT_MS', async () => {
    const conn = await connect(h.service.url!);
    conn.write(`POST /v1/events HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${RELAY_KEY}\r\n`);
    let n = 0;
    const after = await dribble(conn, () => `x-slow-${n++}: y\r\n`);
    expect(after).toBeGreaterThanOrEqual(900);
    expect(after).toBeLessThan(3000); // 1 s, plus at most one check interval and scheduling
    expect(conn.status()).toBe(408);
  });

  it('a body dribbled past RELAY_HTTP_REQUEST_TIMEOUT_MS is cut off', async () => {
    const conn = await connect(h.service.url!);
    conn.write(head('POST', '/v1/events', { authorization: `Bearer ${RELAY_KEY}`, 'content-type': 'application/json', 'content-length': 1000 }));
    const after = await dribble(conn, () => ' ');
    expect(after).toBeGreaterThanOrEqual(1900);
    expect(after).toBeLessThan(4000);
    expect(conn.status()).toBe(408);
  });

  it('an idle keep-alive connection is closed after RELAY_HTTP_KEEP_ALIVE_TIMEOUT_MS', async () => {
    const conn = await connect(h.service.url!);
    conn.write(head('GET', '/healthz', {}));
    await waitUntil('the keep-alive answer', () => conn.status() === 200);
    const answered = Date.now();
    await waitUntil('the idle connection closed', () => conn.closedAt() !== undefined, { timeoutMs: 4000, intervalMs: 20 });
    conn.destroy();
    expect(conn.closedAt()! - answered).toBeLessThan(2500);
  });

  it('the defaults: 10 s for the headers, 30 s for a request, 5 s idle; headers no longer than the request', () => {
    expect(loadConfig({}).http).toEqual({ headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000 });
    expect(() => loadConfig({ RELAY_HTTP_HEADERS_TIMEOUT_MS: '20000', RELAY_HTTP_REQUEST_TIMEOUT_MS: '10000' })).toThrow(
      /RELAY_HTTP_REQUEST_TIMEOUT_MS must be at least RELAY_HTTP_HEADERS_TIMEOUT_MS/,
    );
  });
});
