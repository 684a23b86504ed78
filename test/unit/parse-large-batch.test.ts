/**
 * A large batch body parsed from its bytes in pieces (src/http/parse-large-batch.ts): whenever it
 * answers, the value is JSON.parse's of the whole text; it answers for the common shape, and
 * leaves every other body (and every invalid one) to JSON.parse.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LARGE_BODY_BYTES, parseLargeBatch } from '../../src/http/parse-large-batch.ts';

const event = (i: number, extra: Record<string, unknown> = {}) => ({
  id: `ev-${i}`,
  event: 'Placed Order',
  profile: { email: `user${i}@example.com` },
  properties: { OrderId: `${i}`, Items: [{ sku: 'a' }, { sku: 'b' }] },
  value: i / 7,
  ...extra,
});
const events = (n: number, extra?: (i: number) => Record<string, unknown>) => Array.from({ length: n }, (_, i) => event(i, extra?.(i)));
const bytesOf = (text: string) => Buffer.from(text, 'utf8');
/** What the parse answers, checked against JSON.parse of the same bytes. */
function parsed(text: string): unknown {
  const out = parseLargeBatch(bytesOf(text));
  if (out !== undefined) expect(out.value).toEqual(JSON.parse(text));
  return out?.value;
}

describe('parseLargeBatch', () => {
  it('parses a large {"events":[…]} body in pieces: the same value as JSON.parse', () => {
    const text = JSON.stringify({ events: events(1000) });
    expect(text.length).toBeGreaterThan(LARGE_BODY_BYTES);
    expect(parsed(text)).toEqual(JSON.parse(text));
    const profiles = JSON.stringify({ profiles: events(1500) });
    expect(parsed(profiles)).toEqual(JSON.parse(profiles));
    // Items whose first key differs now and then (a cut is tried again further on).
    const mixed = JSON.stringify({ events: events(1000).map((e, i) => (i % 97 === 0 ? (({ id, ...rest }) => ({ ...rest, id }))(e) : e)) });
    expect(parsed(mixed)).toEqual(JSON.parse(mixed));
  });

  it('items whose strings hold "},{", nested objects in arrays, and multi-byte characters: the same value', () => {
    const text = JSON.stringify({
      events: events(1200, (i) => ({ note: i % 3 === 0 ? `x},{"y":${i}},{` : `ü€😀 },{ ${'é'.repeat(i % 40)}` })),
    });
    expect(parsed(text)).toEqual(JSON.parse(text));
  });

  it('leaves small bodies, other shapes and whitespace to JSON.parse', () => {
    expect(parseLargeBatch(bytesOf(JSON.stringify({ events: events(10) })))).toBeUndefined();
    const big = JSON.stringify({ events: events(1000) });
    expect(parseLargeBatch(bytesOf(JSON.stringify(events(1000))))).toBeUndefined(); // a bare array
    expect(parseLargeBatch(bytesOf(JSON.stringify({ events: events(1000) }, null, 1)))).toBeUndefined();
    expect(parseLargeBatch(bytesOf(`\ufeff${big}`))).toBeUndefined(); // a BOM
    expect(parseLargeBatch(bytesOf(`${big} `))).toBeUndefined();
    expect(parseLargeBatch(bytesOf(JSON.stringify({ __proto__x: events(1000) })))).toBeUndefined();
    expect(parseLargeBatch(bytesOf(big.replace('{"events":', '{"Events":')))).toBeUndefined();
  });

  it('never answers for a body JSON.parse rejects, nor differently from it for one it accepts', () => {
    const big = JSON.stringify({ events: events(1000) });
    const broken = [
      big.replace('},{', '},,{'), // an empty element
      `${big.slice(0, -2)},]}`, // a trailing comma
      big.replace('},{', '}],"x":[{'), // another key after the array
      big.replace('{"events":[', '{"events":[{"a":[{},{'), // a cut at depth 2 left open
      big.slice(0, big.length / 2) + big.slice(big.length / 2 + 1), // a character gone
      big.replace('"ev-500"', '"ev-500'), // a string left open
    ];
    for (const text of broken) {
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      const out = parseLargeBatch(bytesOf(text));
      if (!valid) expect(out).toBeUndefined();
      else if (out !== undefined) expect(out.value).toEqual(JSON.parse(text));
    }
    // Two "events" keys: JSON.parse keeps the last; the pieces would not parse, so it is left to JSON.parse.
    const twice = `{"events":[${JSON.stringify(event(1))}],"events":[${JSON.stringify(events(1000)).slice(1)}}`;
    expect(parseLargeBatch(bytesOf(twice))).toBeUndefined();
  });

  it('random bodies of items with "},{" anywhere: whenever it answers, JSON.parse agrees', () => {
    let answered = 0;
    for (let round = 0; round < 30; round++) {
      const noise = () => randomBytes(40).toString('base64').replace(/[A-F]/g, '},{').replace(/[G-J]/g, '"');
      const items = Array.from({ length: 2500 }, (_, i) => (i % 5 === 0 ? { s: 'x', a: [{ s: noise() }, { c: [noise(), {}] }] } : { s: noise(), n: i }));
      const text = JSON.stringify({ items });
      expect(text.length).toBeGreaterThan(LARGE_BODY_BYTES);
      if (parsed(text) !== undefined) answered++;
      // The same text with one random character changed: still never a different value.
      const at = Math.floor(Math.random() * text.length);
      const mutated = text.slice(0, at) + '}{,"[]'[round % 6] + text.slice(at + 1);
      let expected: unknown;
      try {
        expected = JSON.parse(mutated);
      } catch {
        expect(parseLargeBatch(bytesOf(mutated))).toBeUndefined();
        continue;
      }
      const out = parseLargeBatch(bytesOf(mutated));
      if (out !== undefined) expect(out.value).toEqual(expected);
    }
    expect(answered).toBeGreaterThan(0);
  });
});
