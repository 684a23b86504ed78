/**
 * Fuzzing GET /openapi.json and GET /docs (issue 20): random methods, path variants, query strings,
 * headers (credentials included, which these open routes ignore) and bodies. Never a 5xx; GET on
 * the exact path answers the one document (byte for byte the same every time), HEAD its headers;
 * anything else is a JSON 404 naming no route. These answer a fixed document of ~100 KB, so the
 * run is a few hundred cases over real HTTP, not the 10,000 of the routes that take input.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELAY_KEY, startHarness, type Harness } from '../support/harness.ts';
import { fuzzSeed, send } from './support/fuzz.ts';
import { anyText, headerText, noiseHeaders } from './support/gen.ts';

const seed = fuzzSeed('openapi-docs.test.ts');
let h: Harness;
const expected: Record<string, Buffer> = {};

beforeAll(async () => {
  h = await startHarness({ name: 'fuzz-openapi', workers: false });
  for (const path of ['/openapi.json', '/docs']) expected[path] = (await send(h.service.url!, 'GET', path, {})).body;
});
afterAll(async () => {
  await h?.close();
});

const target = fc.constantFrom('/openapi.json', '/docs');
const request = fc.record({
  method: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('GET', 'HEAD') }, fc.constantFrom('POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')),
  target,
  variant: fc.constantFrom('exact', 'exact', 'query', 'slash', 'upper', 'suffix', 'dotdot'),
  query: anyText(0, 30).map((s) => encodeURIComponent(s)),
  headers: fc.tuple(noiseHeaders, fc.option(fc.constantFrom(`Bearer ${RELAY_KEY}`, 'Bearer wrong', 'Basic Og==', '')), fc.option(headerText(0, 40))),
  body: fc.option(anyText(0, 200)),
});

function pathOf(r: { target: string; variant: string; query: string }): { path: string; exact: boolean } {
  switch (r.variant) {
    case 'query':
      return { path: `${r.target}?${r.query}`, exact: true };
    case 'slash':
      return { path: `${r.target}/`, exact: false };
    case 'upper':
      return { path: r.target.toUpperCase(), exact: false };
    case 'suffix':
      return { path: `${r.target}x`, exact: false };
    case 'dotdot':
      return { path: `/v1/..${r.target}`, exact: false };
    default:
      return { path: r.target, exact: true };
  }
}

describe('fuzz /openapi.json and /docs', () => {
  it('answers the document, or a JSON 404, never a 5xx', async () => {
    const seen: Record<number, number> = {};
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const { path, exact } = pathOf(r);
        const [noise, authorization, accept] = r.headers;
        const headers: Record<string, string> = { ...noise };
        if (authorization !== null) headers.authorization = authorization;
        if (accept !== null) headers.accept = accept;
        const body = r.body === null ? undefined : Buffer.from(r.body);
        if (body) headers['content-type'] = 'text/plain';
        const reply = await send(h.service.url!, r.method, path, headers, body);
        seen[reply.status] = (seen[reply.status] ?? 0) + 1;
        expect(reply.status, `${r.method} ${path}`).toBeLessThan(500);
        // `/v1/../docs` may be normalised by the URL parser to /docs: then it is the exact route.
        const normalised = new URL(path, 'http://x').pathname;
        const isRoute = exact || normalised === r.target;
        if (isRoute && (r.method === 'GET' || r.method === 'HEAD')) {
          expect(reply.status, `${r.method} ${path}`).toBe(200);
          expect(reply.headers['content-type']).toMatch(r.target === '/docs' ? /^text\/html/ : /^application\/json/);
          if (r.method === 'GET') expect(reply.body.equals(expected[r.target]!), `${path}: the same document`).toBe(true);
        } else {
          expect(reply.status, `${r.method} ${path}`).toBe(404);
          if (r.method !== 'HEAD') expect(JSON.parse(reply.body.toString()).error).toBe('not_found');
        }
      }),
      { seed, numRuns: 400 },
    );
    // Both kinds of answer happened.
    expect(seen[200] ?? 0).toBeGreaterThan(50);
    expect(seen[404] ?? 0).toBeGreaterThan(50);
  });
});
