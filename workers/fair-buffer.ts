/**
 * A batcher's buffer, kept per source and cut by deficit round-robin with each source's weight
 * (issue 12): within a class, one source's million-event dump does not delay another source's
 * events — each source with items waiting gets its weighted share of every batch.
 *
 * Deficit round-robin (Shreedhar & Varghese): sources with items take turns; on its turn a source
 * is credited `weight × QUANTUM` items and sends while its credit lasts. Credit left when a batch is
 * full carries over to the next cut, so shares hold across batches of any size; a source that runs
 * out of items loses its credit (it cannot save up while idle). A source that becomes busy joins
 * at the end of the round.
 */

export interface Buffered {
  /** The source the item came from (its share is by this key's weight). */
  readonly key: string;
  readonly size: number;
  /** When it was submitted (the linger clock). */
  readonly at: number;
}

/** Items credited per unit of weight and turn: one, so that even a small batch is shared by weight. */
export const QUANTUM = 1;

export class FairBuffer<E extends Buffered> {
  private readonly lists = new Map<string, E[]>();
  /** Sources with items, in turn order. */
  private ring: string[] = [];
  private pos = 0;
  /** Whether the source at `pos` has had its credit for this turn. */
  private credited = false;
  private readonly deficit = new Map<string, number>();
  private count = 0;
  private byteCount = 0;

  constructor(private readonly weightOf: (key: string) => number = () => 1) {}

  get length(): number {
    return this.count;
  }

  get bytes(): number {
    return this.byteCount;
  }

  push(e: E): void {
    let list = this.lists.get(e.key);
    if (!list) {
      list = [];
      this.lists.set(e.key, list);
      this.ring.push(e.key);
    }
    list.push(e);
    this.count++;
    this.byteCount += e.size;
  }

  /**
   * Items handed back by a request (a 429, innocent neighbours of a rejected item) go to the front
   * of their sources' lists, and a source that had run dry takes the next turn: they were due.
   */
  unshift(entries: readonly E[]): void {
    const byKey = new Map<string, E[]>();
    for (const e of entries) {
      let l = byKey.get(e.key);
      if (!l) {
        l = [];
        byKey.set(e.key, l);
      }
      l.push(e);
    }
    for (const [key, back] of byKey) {
      let list = this.lists.get(key);
      if (!list) {
        list = [];
        this.lists.set(key, list);
        this.ring.splice(this.pos, 0, key);
        this.credited = false;
      }
      list.unshift(...back);
      this.count += back.length;
      for (const e of back) this.byteCount += e.size;
    }
  }

  /** When the oldest waiting item was submitted (undefined when empty). */
  oldestAt(): number | undefined {
    let oldest: number | undefined;
    for (const list of this.lists.values()) {
      const at = list[0]?.at;
      if (at !== undefined && (oldest === undefined || at < oldest)) oldest = at;
    }
    return oldest;
  }

  /**
   * Up to `limit` items and `maxBytes` (the first item goes whatever its size), taken from the
   * sources by their weights.
   */
  cut(limit: number, maxBytes: number): E[] {
    const out: E[] = [];
    let bytes = 0;
    // Taken so far per source: the lists are spliced once per source at the end, not once per turn.
    const taken = new Map<string, number>();
    let left = this.count;
    // Each pass of the loop takes an item, moves the turn on, or ends the cut; a source's credit
    // grows by at least weight × QUANTUM per turn, so the loop ends (weights are at least 0.01).
    while (out.length < limit && left > 0) {
      const key = this.ring[this.pos]!;
      const list = this.lists.get(key)!;
      if (!this.credited) {
        this.deficit.set(key, (this.deficit.get(key) ?? 0) + this.weightOf(key) * QUANTUM);
        this.credited = true;
      }
      let credit = this.deficit.get(key)!;
      let n = taken.get(key) ?? 0;
      let byteStop = false;
      while (credit >= 1 && n < list.length && out.length < limit) {
        const e = list[n]!;
        if (out.length > 0 && bytes + e.size > maxBytes) {
          byteStop = true;
          break;
        }
        bytes += e.size;
        credit -= 1;
        n++;
        left--;
        out.push(e);
      }
      taken.set(key, n);
      this.deficit.set(key, credit);
      if (n === list.length) {
        // Run dry: it leaves the round (its list is dropped below) and loses its credit.
        this.ring.splice(this.pos, 1);
        if (this.pos >= this.ring.length) this.pos = 0;
        this.deficit.delete(key);
        this.credited = false;
      } else if (credit < 1) {
        this.pos = (this.pos + 1) % this.ring.length;
        this.credited = false;
      }
      // The batch is full (items, or bytes): this source keeps its turn and what is left of its credit.
      if (byteStop || out.length >= limit) break;
    }
    for (const [key, n] of taken) {
      const list = this.lists.get(key)!;
      if (n === list.length) this.lists.delete(key);
      else if (n > 0) list.splice(0, n);
    }
    this.count -= out.length;
    this.byteCount -= bytes;
    return out;
  }

  /** Everything, in no particular order; the buffer is empty afterwards. */
  takeAll(): E[] {
    const all = [...this.lists.values()].flat();
    this.lists.clear();
    this.deficit.clear();
    this.ring = [];
    this.pos = 0;
    this.credited = false;
    this.count = 0;
    this.byteCount = 0;
    return all;
  }
}
