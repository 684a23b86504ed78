/**
 * Fuzzing PUT and DELETE /v1/catalog/items (issue 15): bad input always gets a 4xx JSON error (never
 * a 5xx, never a job), valid-but-unusual input is accepted and its jobs hold only the ids it sent.
 * Variants and categories share the route code (src/http/routes/catalog.ts) with their own schemas.
 * POST /v1/catalog/sync, which answers a partly valid feed 422 after taking its valid lines, has its
 * own properties below.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CatalogDeleteSchema, CatalogItemSchema, SyncLineSchema } from '../../src/model/catalog.ts';
import { RELAY_KEY, type Harness } from '../support/harness.ts';
import { assertStillServing, decodeJson, fuzzRoute, fuzzSeed, type RouteSpec, send, startFuzzHarness } from './support/fuzz.ts';
import { BAD, printableId, type FieldSpec } from './support/gen.ts';
import { V1_STATUS, v1Bodies, v1Cases, validSingleOrBatch } from './support/v1.ts';

const seed = fuzzSeed('catalog.test.ts');

let h: Harness;
beforeAll(async () => {
  h = await startFuzzHarness('catalog');
});
afterAll(async () => {
  await h?.close();
});

const text = (max: number) => fc.string({ maxLength: max });
const item = fc
  .record(
    {
      id: printableId,
      title: fc.string({ minLength: 1, maxLength: 60 }),
      description: text(200),
      url: fc.webUrl(),
      price: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e9, max: 1e9 }), fc.constant(null)),
      image_full_url: fc.webUrl(),
      images: fc.array(fc.webUrl(), { maxLength: 3 }),
      custom_metadata: fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
      published: fc.boolean(),
      categories: fc.array(printableId, { maxLength: 3 }),
    },
    { requiredKeys: ['id', 'title', 'description', 'url'] },
  )
  .map((it) => it as Record<string, unknown>);

const deletion = fc.oneof(fc.record({ ids: fc.array(printableId, { minLength: 1, maxLength: 6 }) }), fc.record({ id: printableId }));

const fields: FieldSpec[] = [
  { path: ['id'], bad: ['', 'a:::b', 'x'.repeat(256), ...BAD.id.filter((v) => typeof v !== 'string')] },
  { path: ['title'], bad: ['', 1, null, ['t']] },
  { path: ['description'], bad: [null, 3, { a: 1 }] },
  { path: ['url'], bad: ['', null, 42] },
  { path: ['price'], bad: ['12.50', true, {}] },
  { path: ['published'], bad: ['yes', 1] },
  { path: ['categories'], bad: ['cat', [''], [1]] },
  { path: ['images'], bad: ['https://x.test/a.jpg', [''], [3]] },
];

const body = fc.oneof(
  {
    weight: 4,
    arbitrary: v1Bodies({
      valid: item,
      fields,
      batch: { plural: 'items', max: 1000 },
      unknownAt: [[]],
      hugeAt: [['title'], ['description'], ['id'], ['custom_metadata', 'blob']],
      deepAt: [['custom_metadata', 'nested'], ['custom_metadata']],
    }),
  },
  { weight: 1, arbitrary: deletion.map((v) => ({ gen: 'delete', payload: { t: 'json' as const, v }, defects: [] })) },
);

const path = fc.oneof(
  { weight: 30, arbitrary: fc.constant({ path: '/v1/catalog/items', defects: [] }) },
  { weight: 1, arbitrary: fc.constantFrom('/v1/catalog/items?x=1').map((p) => ({ path: p, defects: [] })) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('/v1/catalog/item', '/v1/catalog/Items', '/v1/catalog/items/x', '/v1/catalog/..', '/v1/catalog/items%2F', '/v1/catalog')
      .map((p) => ({ path: p, defects: ['path' as const] })),
  },
);

const ok = (schema: { safeParse(v: unknown): { success: boolean } }) => (v: unknown) => schema.safeParse(v).success;

const catalogRoute: RouteSpec = {
  name: 'PUT|DELETE /v1/catalog/items',
  ok: 202,
  statusFor: V1_STATUS,
  classifiedStatuses: [400],
  mustSee: [202, 400, 401, 404, 413, 415],
  classify: (c, b) => {
    const d = decodeJson(b);
    if (!d.ok) return [d.defect];
    const valid = c.method === 'DELETE' ? ok(CatalogDeleteSchema)(d.value) : validSingleOrBatch(d.value, 'items', 1000, ok(CatalogItemSchema));
    return valid ? [] : ['invalid'];
  },
  accepted: (c, b) => {
    const v = decodeJson(b);
    if (!v.ok) return [];
    const x = v.value as { id?: string; ids?: string[]; items?: { id: string }[] };
    if (c.method === 'DELETE') return x.ids ?? (x.id === undefined ? [] : [x.id]);
    return x.items ? x.items.map((i) => i.id) : x.id === undefined ? [] : [x.id];
  },
};

describe(`fuzz PUT|DELETE /v1/catalog/items (FUZZ_SEED=${seed})`, () => {
  it('random requests: never 5xx; errors are JSON; a rejected request creates no job', async () => {
    await fuzzRoute(h, catalogRoute, v1Cases({ methods: ['PUT', 'DELETE'], path, body }), seed);
  }, 240_000);

  it('POST /v1/catalog/sync: random NDJSON lines are taken or named, never a 5xx', async () => {
    const line = fc.oneof(
      item.map((it) => JSON.stringify({ type: 'item', ...it })),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      fc.string({ maxLength: 80 }),
      fc.constant(''),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(line, { maxLength: 20 }),
        fc.constantFrom('', '?deletes=false', '?sync_id=fz-1&final=false', '?sync_id=bad%20id'),
        async (lines, query) => {
          const raw = lines.join('\n');
          const res = await send(
            h.service.url!,
            'POST',
            `/v1/catalog/sync${query}`,
            { authorization: `Bearer ${RELAY_KEY}`, 'content-type': 'application/x-ndjson' },
            Buffer.from(raw),
          );
          expect([202, 400, 422]).toContain(res.status);
          const reply = JSON.parse(res.body.toString());
          if (query === '?sync_id=bad%20id') {
            expect(res.status).toBe(400);
            return;
          }
          const valid = lines.filter((l) => {
            if (l.trim() === '') return false;
            try {
              return SyncLineSchema.safeParse(JSON.parse(l)).success;
            } catch {
              return false;
            }
          });
          const nonBlank = lines.filter((l) => l.trim() !== '').length;
          expect(res.status).toBe(nonBlank === valid.length ? 202 : 422);
          expect(reply.received).toBe(nonBlank);
          expect(reply.invalid).toBe(nonBlank - valid.length);
        },
      ),
      { seed, numRuns: 300 },
    );
  }, 120_000);

  it('is still healthy afterwards and delivers a valid event', async () => {
    await assertStillServing(h);
  });
});
