import { describe, expect, it } from 'vitest';
import { Batcher, REQUEUE, type SendResult } from '../../workers/batcher.ts';

function make(opts: { maxItems?: number; lingerMs?: number; acquireDelayMs?: number; send?: (items: number[]) => SendResult<string>[] } = {}) {
  const sent: number[][] = [];
  const b = new Batcher<number, string, 'x'>({
    maxItems: opts.maxItems ?? 10,
    maxBytes: 1_000_000,
    lingerMs: opts.lingerMs ?? 20,
    maxInFlight: 2,
    sizeOf: () => 1,
    acquire: async () => {
      if (opts.acquireDelayMs) await new Promise((r) => setTimeout(r, opts.acquireDelayMs));
      return { maxItems: opts.maxItems ?? 10, tag: 'x' };
    },
    send: async (items) => {
      sent.push(items);
      return opts.send ? opts.send(items) : items.map((i) => `ok${i}`);
    },
  });
  return { b, sent };
}

describe('batcher', () => {
  it('sends a lone item after the linger time, without waiting for a full batch', async () => {
    const { b, sent } = make({ lingerMs: 30 });
    const t0 = Date.now();
    await expect(b.submit(1)).resolves.toBe('ok1');
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(25);
    expect(waited).toBeLessThan(1000);
    expect(sent).toEqual([[1]]);
  });

  it('coalesces items that arrive together and cuts at maxItems', async () => {
    const { b, sent } = make({ maxItems: 4, lingerMs: 50 });
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => b.submit(i)));
    expect(results).toEqual(['ok1', 'ok2', 'ok3', 'ok4', 'ok5', 'ok6']);
    expect(sent[0]).toEqual([1, 2, 3, 4]);
    expect(sent.flat().sort()).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('keeps filling the batch while it waits for quota', async () => {
    const { b, sent } = make({ maxItems: 100, lingerMs: 0, acquireDelayMs: 50 });
    const first = b.submit(1);
    await new Promise((r) => setTimeout(r, 10));
    const rest = [2, 3, 4].map((i) => b.submit(i));
    await Promise.all([first, ...rest]);
    expect(sent[0]).toEqual([1, 2, 3, 4]);
  });

  it('re-sends requeued items and resolves each with its own outcome', async () => {
    let calls = 0;
    const { b, sent } = make({
      lingerMs: 0,
      send: (items) => {
        calls++;
        return items.map((i) => (calls === 1 && i % 2 === 0 ? REQUEUE : `ok${i}@${calls}`));
      },
    });
    const results = await Promise.all([1, 2, 3, 4].map((i) => b.submit(i)));
    expect(results).toEqual(['ok1@1', 'ok2@2', 'ok3@1', 'ok4@2']);
    expect(sent).toEqual([
      [1, 2, 3, 4],
      [2, 4],
    ]);
  });

  it('drain() flushes lingering items at once', async () => {
    const { b, sent } = make({ lingerMs: 60_000 });
    const p = b.submit(7);
    await b.drain();
    await expect(p).resolves.toBe('ok7');
    expect(sent).toEqual([[7]]);
  });
});
