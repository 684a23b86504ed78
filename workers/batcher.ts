/**
 * Coalesces items submitted by many concurrently active jobs into few, large Klaviyo requests.
 *
 * Batching is the product: through the gateway's 10 requests/s, one call per event tops out near
 * 10 events/s, while bulk requests of 1,000 carry ~2,500 events/s. The batcher waits until a
 * request could leave (`acquire`: the governor has a token free) *before* it cuts a batch, so under
 * load the batch keeps filling while it waits, and at low load a lone item leaves after `lingerMs`
 * instead of waiting for company. The token itself is taken by the sender once the body is
 * serialized, right before the request leaves.
 *
 * Each item still has its own outcome (the promise `submit` returns). A sender can hand items
 * back with `REQUEUE` (a 429, or innocent neighbours of a rejected item): they go to the front of
 * the buffer and are sent again, spending no job attempt.
 *
 * Items are submitted under a key — their source — and batches are cut from the sources by weight
 * (workers/fair-buffer.ts), so a source with a backlog does not crowd out the others.
 */
import type { Context } from '@opentelemetry/api';
import { captureContext, inBatchContext, tracingOn } from '../src/tracing/tracer.ts';
import { FairBuffer } from './fair-buffer.ts';

export const REQUEUE = Symbol('requeue');
export type SendResult<O> = O | typeof REQUEUE;

export interface Permit<T> {
  /** How many items the granted request may carry. */
  readonly maxItems: number;
  readonly tag: T;
}

export interface BatcherOptions<I, O, T> {
  readonly maxItems: number;
  readonly maxBytes: number;
  readonly lingerMs: number;
  /** Requests of this batcher that may be in flight at once. */
  readonly maxInFlight: number;
  readonly sizeOf: (item: I) => number;
  /**
   * Waits for quota; `pending` is how many items are waiting (chooses single vs bulk). `signal`
   * aborts when the batcher yields (shutdown): it may then throw.
   */
  readonly acquire: (pending: number, signal: AbortSignal) => Promise<Permit<T>>;
  /**
   * Sends one batch; one result per item, in order. Must not throw: map failures to results.
   * `signal` aborts when the batcher yields: a request still waiting for its quota token then
   * hands its items back untouched instead of waiting (a bulk token can be a minute away).
   */
  readonly send: (items: I[], tag: T, signal: AbortSignal) => Promise<SendResult<O>[]>;
  readonly onError?: (err: unknown) => void;
  /** A key's share of each batch among the keys with items waiting (default: equal shares). */
  readonly weightOf?: (key: string) => number;
}

interface Entry<I, O> {
  readonly key: string;
  readonly item: I;
  readonly size: number;
  readonly at: number;
  /** The submitting job's trace context, while tracing is on (src/tracing/): its request is sent in it. */
  readonly ctx: Context | undefined;
  readonly resolve: (o: O) => void;
  readonly reject: (e: unknown) => void;
}

export class Batcher<I, O, T> {
  private readonly buffer: FairBuffer<Entry<I, O>>;
  private inFlight = 0;
  private acquiring = false;
  private timer: NodeJS.Timeout | undefined;
  private draining = false;
  /** Set by yieldAll: every item from now on resolves at once with this outcome. */
  private yielding: { outcome: O } | undefined;
  /** Aborted by yieldAll: what waits for quota stops waiting. */
  private readonly yielded = new AbortController();
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly opts: BatcherOptions<I, O, T>) {
    this.buffer = new FairBuffer(opts.weightOf);
  }

  get pending(): number {
    return this.buffer.length;
  }

  /** Nothing buffered, waiting for quota or in flight: dropping this batcher loses nothing. */
  get idle(): boolean {
    return this.buffer.length === 0 && this.inFlight === 0 && !this.acquiring && !this.timer;
  }

  /** `key`: the item's source, whose weight sets its share of each batch. */
  submit(item: I, key = ''): Promise<O> {
    if (this.yielding) return Promise.resolve(this.yielding.outcome);
    return new Promise<O>((resolve, reject) => {
      this.buffer.push({ key, item, size: this.opts.sizeOf(item), at: Date.now(), ctx: captureContext(), resolve, reject });
      this.schedule();
    });
  }

  /** Stop lingering: send what is buffered as soon as quota allows (shutdown). Resolves when idle. */
  drain(): Promise<void> {
    this.draining = true;
    this.schedule();
    if (this.buffer.length === 0 && this.inFlight === 0 && !this.acquiring) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Shutdown past its grace period: every item not yet in a request resolves with `outcome` (its
   * job goes back to the queue untouched); requests already sent are left to finish.
   */
  yieldAll(outcome: O): void {
    this.yielding = { outcome };
    this.yielded.abort();
    for (const e of this.buffer.takeAll()) e.resolve(outcome);
    this.schedule();
  }

  private schedule(): void {
    if (this.buffer.length === 0) {
      if (this.inFlight === 0 && !this.acquiring) this.notifyIdle();
      return;
    }
    if (this.acquiring || this.inFlight >= this.opts.maxInFlight) return;
    const now = Date.now();
    const due = this.buffer.oldestAt()! + this.opts.lingerMs;
    const full = this.buffer.length >= this.opts.maxItems || this.buffer.bytes >= this.opts.maxBytes;
    if (full || due <= now || this.draining) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      void this.pump();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, due - now);
    }
  }

  private async pump(): Promise<void> {
    this.acquiring = true;
    let permit: Permit<T>;
    try {
      permit = await this.opts.acquire(this.buffer.length, this.yielded.signal);
    } catch (err) {
      // Quota store unreachable: keep the items (their jobs stay active) and try again shortly.
      // (After a yield the buffer is empty and this ends the pump.)
      if (!this.yielding) this.opts.onError?.(err);
      this.acquiring = false;
      setTimeout(() => this.schedule(), 500).unref();
      return;
    }
    this.acquiring = false;
    const batch = this.cut(permit.maxItems);
    if (batch.length === 0) {
      this.schedule();
      return;
    }
    this.inFlight++;
    this.schedule(); // another request may start acquiring while this one is in flight
    try {
      const send = () =>
        this.opts.send(
          batch.map((e) => e.item),
          permit.tag,
          this.yielded.signal,
        );
      // Traces on: a request is part of its first item's trace and linked to the others' (src/tracing/tracer.ts).
      const results = await (tracingOn()
        ? inBatchContext(
            batch.map((e) => e.ctx),
            send,
          )
        : send());
      const requeued: Entry<I, O>[] = [];
      batch.forEach((entry, i) => {
        const r = results[i];
        if (r === REQUEUE) requeued.push(entry);
        else if (r === undefined) entry.reject(new Error('sender returned no result for an item'));
        else entry.resolve(r);
      });
      if (requeued.length > 0) this.buffer.unshift(requeued);
    } catch (err) {
      this.opts.onError?.(err);
      for (const entry of batch) entry.reject(err);
    } finally {
      this.inFlight--;
      this.schedule();
    }
  }

  private cut(maxItems: number): Entry<I, O>[] {
    return this.buffer.cut(Math.min(maxItems, this.opts.maxItems), this.opts.maxBytes);
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
