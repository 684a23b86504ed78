import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKlaviyoClient, readRateLimit } from '../../src/klaviyo/client.ts';
import { ProfilesPageSchema } from '../../src/klaviyo/schemas.ts';
import { KlaviyoApiError, KlaviyoTransportError } from '../../src/errors.ts';

// A scripted HTTP server on a real loopback socket: each test sets `handler`.
let server: Server;
let base: string;
let handler: (req: IncomingMessage, res: ServerResponse, body: string) => void = (_q, res) => res.end();
const seen: { method?: string; url?: string; headers: IncomingMessage['headers']; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      handler(req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const gateway = () => createKlaviyoClient({ mode: 'gateway', baseUrl: base, apiKey: 'mk', connectionId: 'conn1', revision: '2026-01-15', timeoutMs: 500 });
const direct = () => createKlaviyoClient({ mode: 'direct', baseUrl: base, apiKey: 'pk_1', revision: '2026-01-15', timeoutMs: 500 });

describe('Klaviyo client', () => {
  it('gateway mode: /klaviyo path, Bearer, Maton-Connection, revision and JSON:API content type', async () => {
    handler = (_q, res) => {
      res.statusCode = 202;
      res.end();
    };
    seen.length = 0;
    const r = await gateway().request({ endpoint: 'create_event', body: { data: { type: 'event' } } });
    expect(r.status).toBe(202);
    const req = seen[0]!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/klaviyo/api/events');
    expect(req.headers.authorization).toBe('Bearer mk');
    expect(req.headers['maton-connection']).toBe('conn1');
    expect(req.headers.revision).toBe('2026-01-15');
    expect(req.headers['content-type']).toBe('application/vnd.api+json');
    expect(JSON.parse(req.body)).toEqual({ data: { type: 'event' } });
  });

  it('direct mode: /api path and Klaviyo-API-Key, no Maton header', async () => {
    handler = (_q, res) => {
      res.statusCode = 204;
      res.end();
    };
    seen.length = 0;
    await direct().request({ endpoint: 'add_profiles_to_list', pathParams: { id: 'AbC123' }, body: { data: [] } });
    expect(seen[0]!.url).toBe('/api/lists/AbC123/relationships/profiles');
    expect(seen[0]!.headers.authorization).toBe('Klaviyo-API-Key pk_1');
    expect(seen[0]!.headers['maton-connection']).toBeUndefined();
  });

  it('refuses a path parameter that could steer the path', async () => {
    await expect(direct().request({ endpoint: 'add_profiles_to_list', pathParams: { id: '../accounts' } })).rejects.toThrow(/invalid path parameter/);
  });

  it('turns a JSON:API error into a typed error with code, detail and Retry-After in ms', async () => {
    handler = (_q, res) => {
      res.writeHead(429, { 'content-type': 'application/vnd.api+json', 'retry-after': '3' });
      res.end(
        JSON.stringify({ errors: [{ id: 'x', status: 429, code: 'throttled', title: 'Request was throttled.', detail: 'Expected available in 3 seconds.' }] }),
      );
    };
    const err = await gateway()
      .request({ endpoint: 'create_event', body: {} })
      .catch((e) => e);
    expect(err).toBeInstanceOf(KlaviyoApiError);
    expect(err).toMatchObject({ status: 429, origin: 'klaviyo', code: 'throttled', retryAfterMs: 3000, endpoint: 'create_event' });
    expect(err.detail).toContain('3 seconds');
  });

  it("tells the gateway's own errors from Klaviyo's", async () => {
    handler = (_q, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'Invalid API key' }));
    };
    const err = await gateway()
      .request({ endpoint: 'create_event', body: {} })
      .catch((e) => e);
    expect(err).toMatchObject({ status: 401, origin: 'gateway', detail: 'Invalid API key' });
  });

  it('does not follow redirects', async () => {
    handler = (_q, res) => {
      res.writeHead(302, { location: 'https://example.com/' });
      res.end();
    };
    const err = await gateway()
      .request({ endpoint: 'get_accounts' })
      .catch((e) => e);
    expect(err).toMatchObject({ status: 302 });
  });

  it('times out', async () => {
    handler = () => undefined; // never answers
    const err = await gateway()
      .request({ endpoint: 'get_accounts' })
      .catch((e) => e);
    expect(err).toBeInstanceOf(KlaviyoTransportError);
    expect(err.kind).toBe('timeout');
  });

  it('reports network errors', async () => {
    const c = createKlaviyoClient({ mode: 'direct', baseUrl: 'http://127.0.0.1:1', apiKey: 'pk', revision: '2026-01-15', timeoutMs: 1000 });
    const err = await c.request({ endpoint: 'get_accounts' }).catch((e) => e);
    expect(err).toBeInstanceOf(KlaviyoTransportError);
    expect(err.kind).toBe('network');
  });

  it("paginates through the gateway: links.next's Klaviyo origin is swapped for the gateway", async () => {
    handler = (req, res) => {
      const page2 = req.url!.includes('cursor');
      res.writeHead(200, { 'content-type': 'application/vnd.api+json' });
      res.end(
        JSON.stringify({
          data: [{ type: 'profile', id: page2 ? 'P2' : 'P1', attributes: { email: page2 ? 'b@x.co' : 'a@x.co' } }],
          links: { next: page2 ? null : 'https://a.klaviyo.com/api/profiles?page%5Bcursor%5D=abc&filter=x' },
        }),
      );
    };
    seen.length = 0;
    const ids: string[] = [];
    for await (const page of gateway().paginate({ endpoint: 'get_profiles', schema: ProfilesPageSchema })) ids.push(...page.data.map((p) => p.id));
    expect(ids).toEqual(['P1', 'P2']);
    expect(seen[1]!.url).toBe('/klaviyo/api/profiles?page%5Bcursor%5D=abc&filter=x');
    expect(seen[1]!.headers['maton-connection']).toBe('conn1');
  });

  it("reads Klaviyo's rate-limit headers, including the live multi-window form", () => {
    const h = new Headers({ 'ratelimit-limit': '75, 75;w=1, 750;w=60', 'ratelimit-remaining': '0', 'ratelimit-reset': '12' });
    expect(readRateLimit(h)).toMatchObject({ limit: 75, remaining: 0, resetMs: 12_000 });
    const date = new Headers({ 'retry-after': new Date(Date.now() + 5000).toUTCString() });
    expect(readRateLimit(date).retryAfterMs).toBeGreaterThan(3000);
  });
});
