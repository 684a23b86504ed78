/** Issue 12: within a class, sources are served round-robin by weight (workers/fair-buffer.ts). */
import { describe, expect, it } from 'vitest';
import { FairBuffer, type Buffered } from '../../workers/fair-buffer.ts';
import { Batcher } from '../../workers/batcher.ts';

interface Item extends Buffered {
  readonly n: number;
}

function fill(buf: FairBuffer<Item>, key: string, count: number, size = 1, from = 0): void {
  for (let i = 0; i < count; i++) buf.push({ key, size, at: 0, n: from + i });
}

/** Keeps both sources saturated and cuts `cuts` batches of `limit`: items taken per source. */
function share(weights: Record<string, number>, limit: number, cuts: number): Record<string, number> {
  const buf = new FairBuffer<Item>((k) => weights[k]!);
  const taken: Record<string, number> = Object.fromEntries(Object.keys(weights).map((k) => [k, 0]));
  for (const k of Object.keys(weights)) fill(buf, k, limit * 2);
  for (let c = 0; c < cuts; c++) {
    for (const e of buf.cut(limit, Number.MAX_SAFE_INTEGER)) {
      taken[e.key]!++;
      buf.push({ key: e.key, size: 1, at: 0, n: -1 }); // saturated: every item taken is replaced
    }
  }
  return taken;
}

describe('fair buffer', () => {
  it('two saturated sources with weights 3:1 get 75% and 25% of every batch size (±5%)', () => {
    for (const [limit, cuts] of [
      [1000, 20],
      [1, 4000],
      [7, 500],
      [64, 50],
    ] as const) {
      const t = share({ a: 3, b: 1 }, limit, cuts);
      const total = t.a! + t.b!;
      expect(total, `limit ${limit}`).toBe(limit * cuts);
      expect(t.a! / total, `a's share, batches of ${limit}`).toBeGreaterThan(0.75 * 0.95);
      expect(t.a! / total, `a's share, batches of ${limit}`).toBeLessThan(0.75 * 1.05);
      expect(t.b! / total, `b's share, batches of ${limit}`).toBeGreaterThan(0.25 * 0.95);
      expect(t.b! / total, `b's share, batches of ${limit}`).toBeLessThan(0.25 * 1.05);
    }
  });

  it('equal weights share equally; fractional weights work', () => {
    const even = share({ a: 1, b: 1, c: 1 }, 300, 10);
    expect(even).toEqual({ a: 1000, b: 1000, c: 1000 });
    const frac = share({ a: 0.5, b: 1.5 }, 100, 40);
    expect(frac.b! / (frac.a! + frac.b!)).toBeCloseTo(0.75, 2);
  });

  it('a lone source gets everything, in order; a source that joins later gets its share from then on', () => {
    const buf = new FairBuffer<Item>((k) => (k === 'a' ? 3 : 1));
    fill(buf, 'a', 50);
    expect(buf.cut(20, Infinity).map((e) => e.n)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    fill(buf, 'b', 100);
    fill(buf, 'a', 100, 1, 50);
    const next = buf.cut(80, Infinity);
    expect(next.filter((e) => e.key === 'a').map((e) => e.n)).toEqual(Array.from({ length: next.filter((e) => e.key === 'a').length }, (_, i) => 20 + i));
    expect(next.filter((e) => e.key === 'b').length).toBeGreaterThanOrEqual(10);
    expect(buf.length).toBe(50 - 20 + 200 - 80);
  });

  it('an idle source does not save up credit', () => {
    const buf = new FairBuffer<Item>(() => 1);
    fill(buf, 'a', 5);
    buf.cut(100, Infinity); // a runs dry
    fill(buf, 'a', 100);
    fill(buf, 'b', 100);
    const batch = buf.cut(40, Infinity);
    expect(batch.filter((e) => e.key === 'a').length).toBe(20);
  });

  it('stops at the byte limit (the first item always goes), keeping the turn', () => {
    const buf = new FairBuffer<Item>(() => 1);
    fill(buf, 'a', 10, 100);
    expect(buf.cut(10, 250)).toHaveLength(2);
    expect(buf.bytes).toBe(800);
    expect(buf.cut(10, 50)).toHaveLength(1);
    expect(buf.length).toBe(7);
  });

  it('puts handed-back items first in their source, which takes the next turn', () => {
    const buf = new FairBuffer<Item>(() => 1);
    fill(buf, 'a', 3);
    fill(buf, 'b', 30);
    const first = buf.cut(13, Infinity);
    const back = first.filter((e) => e.key === 'a');
    expect(back).toHaveLength(3);
    buf.unshift(back);
    expect(buf.cut(6, Infinity).map((e) => `${e.key}${e.n}`)).toEqual(['a0', 'b10', 'a1', 'b11', 'a2', 'b12']);
  });

  it('the batcher cuts its batches by weight', async () => {
    const sent: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const b = new Batcher<string, string, 'x'>({
      maxItems: 100,
      maxBytes: 1_000_000,
      lingerMs: 5,
      maxInFlight: 1,
      sizeOf: () => 1,
      weightOf: (k) => (k === 'a' ? 3 : 1),
      acquire: async () => {
        await gate; // everything is buffered before the first batch is cut
        return { maxItems: 100, tag: 'x' };
      },
      send: async (items) => {
        sent.push(items);
        return items.map(() => 'ok');
      },
    });
    const done = [...Array.from({ length: 300 }, (_, i) => b.submit(`a${i}`, 'a')), ...Array.from({ length: 300 }, (_, i) => b.submit(`b${i}`, 'b'))];
    release();
    await Promise.all(done);
    expect(sent[0]!.filter((s) => s.startsWith('a'))).toHaveLength(75);
    expect(sent[1]!.filter((s) => s.startsWith('a'))).toHaveLength(75);
  });
});
