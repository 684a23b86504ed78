/**
 * Klaviyo's cap on catalog bulk jobs in progress (OAS bulk_create_catalog_items: "The maximum
 * number of jobs in progress at one time is 500"), per lane: a job takes a slot before its POST
 * and gives it back once polling saw it complete (or gave up). A lane's catalog queue is served one
 * job at a time across all worker processes (src/catalog/accept.ts), so this process's count is
 * the lane's. Lanes are Klaviyo accounts; two lanes on one account would each count their own.
 */
export class JobSlots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];
  /** Most slots held at once (for tests and status). */
  peak = 0;

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new Error(`JobSlots: max must be at least 1, got ${max}`);
  }

  async take(): Promise<void> {
    if (this.used < this.max) {
      this.used++;
      this.peak = Math.max(this.peak, this.used);
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    // The releaser handed its slot straight to us: `used` did not change.
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.used--;
  }

  get inUse(): number {
    return this.used;
  }
}
