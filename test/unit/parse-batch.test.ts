/**
 * src/http/parse-batch.ts: one item, or `{"<plural>": [...]}` with several; a request is accepted
 * whole or not at all, with every problem named by field and index.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseSingleOrBatch } from '../../src/http/parse-batch.ts';

// Strict like the routes' schemas, with a transform so that "the schema's output" can be told from the input.
const Item = z.object({ id: z.string().min(1), qty: z.number().int().min(1), name: z.string().trim().optional() }).strict();

const parse = (body: unknown, max = 3, fast?: (item: unknown) => boolean) => parseSingleOrBatch(body, 'things', Item, max, fast);

describe('parseSingleOrBatch: one item', () => {
  it("returns the schema's output, not a batch", () => {
    expect(parse({ id: 'a', qty: 1, name: '  Ada  ' })).toEqual({ ok: true, items: [{ id: 'a', qty: 1, name: 'Ada' }], isBatch: false });
  });

  it('names every problem by field, without an index', () => {
    const r = parse({ qty: 0, colour: 'red' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toBe('The request body is not valid');
    expect(r.issues).toEqual(
      expect.arrayContaining([
        { field: 'id', message: 'is required' },
        { field: 'qty', message: expect.stringMatching(/>=\s*1/) },
        { field: 'colour', message: 'is not a known field' },
      ]),
    );
    expect(r.issues).toHaveLength(3);
    expect(r.issues.every((i) => i.index === undefined)).toBe(true);
  });

  it('takes a JSON array, null or a string as one (invalid) item, never as a batch', () => {
    for (const body of [[{ id: 'a', qty: 1 }], null, 'things']) {
      const r = parse(body);
      expect(r).toMatchObject({ ok: false, message: 'The request body is not valid' });
    }
  });
});

describe('parseSingleOrBatch: a batch', () => {
  it('returns every item in order', () => {
    const r = parse({
      things: [
        { id: 'a', qty: 1 },
        { id: 'b', qty: 2, name: ' B ' },
        { id: 'c', qty: 3 },
      ],
    });
    expect(r).toEqual({
      ok: true,
      isBatch: true,
      items: [
        { id: 'a', qty: 1 },
        { id: 'b', qty: 2, name: 'B' },
        { id: 'c', qty: 3 },
      ],
    });
  });

  it('one bad item fails the whole request; every problem of every item is named with its index', () => {
    const r = parse({
      things: [
        { id: 'a', qty: 1 },
        { id: '', qty: 0 },
        { id: 'c', qty: 1.5 },
      ],
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    // Items counted, not issues: item 1 has two problems.
    expect(r.message).toBe('2 of 3 things are not valid; nothing was accepted');
    expect(r.issues.map((i) => [i.index, i.field])).toEqual([
      [1, 'things[1].id'],
      [1, 'things[1].qty'],
      [2, 'things[2].qty'],
    ]);
    expect('items' in r).toBe(false);
  });

  it('an empty list, too many items, a list that is not one, or another key beside it: the wrapper refuses it', () => {
    const cases: [unknown, { field: string; message: RegExp }][] = [
      [{ things: [] }, { field: 'things', message: /at least one item/ }],
      [{ things: [1, 2, 3, 4].map((n) => ({ id: `t${n}`, qty: n })) }, { field: 'things', message: /at most 3 items/ }],
      [{ things: { id: 'a', qty: 1 } }, { field: 'things', message: /expected array/ }],
      [
        { things: [{ id: 'a', qty: 1 }], extra: true },
        { field: 'extra', message: /not a known field/ },
      ],
    ];
    for (const [body, issue] of cases) {
      const r = parse(body);
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(r.message).toBe('The request body is not valid');
      expect(r.issues).toEqual([{ field: issue.field, message: expect.stringMatching(issue.message) }]);
    }
  });

  it("honours each caller's own maximum for the same plural (the wrapper is cached per plural and maximum)", () => {
    const four = { things: [1, 2, 3, 4].map((n) => ({ id: `t${n}`, qty: n })) };
    expect(parse(four, 3).ok).toBe(false);
    expect(parse(four, 4).ok).toBe(true);
    expect(parse(four, 3).ok).toBe(false);
  });
});

describe('parseSingleOrBatch: the fast path', () => {
  it('takes an item the fast check accepts as it is (no schema), and sends the others through the schema', () => {
    const seen: unknown[] = [];
    const fast = (item: unknown) => {
      seen.push(item);
      return (item as { fast?: boolean }).fast === true;
    };
    const quick = { fast: true, anything: 'kept' };
    const r = parse({ things: [quick, { id: 'b', qty: 2, name: ' B ' }] }, 3, fast);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.items[0]).toBe(quick); // the very object: zod never saw it
    expect(r.items[1]).toEqual({ id: 'b', qty: 2, name: 'B' });
    expect(seen).toHaveLength(2);
  });

  it('a refused item is still validated: the fast path never turns a bad item into an accepted one', () => {
    const r = parse({ things: [{ id: 'a', qty: 1 }, { qty: 'x' }] }, 3, () => false);
    expect(r).toMatchObject({ ok: false, message: '1 of 2 things are not valid; nothing was accepted' });
  });
});
