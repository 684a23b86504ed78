/**
 * A counter over fixed windows aligned to the epoch (every second starts at a multiple of
 * 1000 ms, every minute at a multiple of 60 000 ms). Klaviyo documents its limits as fixed
 * 1 s "burst" and 60 s "steady" windows (developers.klaviyo.com/en/docs/rate_limits_and_error_handling),
 * and the Maton gateway's 10 req/s is counted the same way (how the gateway counts is not
 * documented: docs/klaviyo-and-maton.md §4).
 * `peak` remembers the largest count any single window reached.
 */
export class FixedWindow {
  private start = Number.NEGATIVE_INFINITY;
  private n = 0;
  peak = 0;

  constructor(readonly sizeMs: number) {}

  private roll(now: number): void {
    // Callers may pass arrival times slightly out of order (a request's body is read before it is
    // counted): a time in an earlier window counts in the current one, never reopens the old one.
    const start = Math.max(this.start, Math.floor(now / this.sizeMs) * this.sizeMs);
    if (start !== this.start) {
      this.start = start;
      this.n = 0;
    }
  }

  count(now: number): number {
    this.roll(now);
    return this.n;
  }

  hit(now: number): void {
    this.roll(now);
    this.n++;
    if (this.n > this.peak) this.peak = this.n;
  }

  /** Milliseconds until the current window ends. */
  msUntilReset(now: number): number {
    this.roll(now);
    return this.start + this.sizeMs - now;
  }
}
