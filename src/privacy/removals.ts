/**
 * What an erasure removed, per person and place: the erasure's own record (issue 16). Places are
 * named, the person only by their subject hash (src/privacy/person.ts).
 */
export type Removed = Record<'queued' | 'inFlight' | 'completed' | 'deadLetters' | 'profileIdCache' | 'audit' | 'spool', number>;

export interface Removal {
  /** `queue events.default.live.key-…`, `profile id cache (lane default)`, `audit stream`, `spool`. */
  readonly place: string;
  /** For a queue: the job state the items were in (waiting, delayed, completed, failed…). */
  readonly state?: string;
  readonly count: number;
}

export class RemovalLog {
  readonly totals: Removed = { queued: 0, inFlight: 0, completed: 0, deadLetters: 0, profileIdCache: 0, audit: 0, spool: 0 };
  private readonly places = new Map<string, { place: string; state?: string; count: number }>();

  add(total: keyof Removed, place: string, count: number, state?: string): void {
    if (count <= 0) return;
    this.totals[total] += count;
    const key = `${place}|${state ?? ''}`;
    const p = this.places.get(key);
    if (p) p.count += count;
    else this.places.set(key, { place, ...(state ? { state } : {}), count });
  }

  where(): Removal[] {
    return [...this.places.values()];
  }
}
