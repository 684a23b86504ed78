/**
 * The status per lane × kind × class (issue 12): what an operator reads first when live is slow —
 * is live work waiting, how old is it, how much of each class went out — summed over the class's
 * queues (one per source, and the legacy queue for live), with each source's own counts beside.
 */
import { CLASSED_KINDS, isSingleQueue, JOB_KINDS, type JobKind } from '../queue-catalog.ts';
import { PRIORITY_CLASSES, type PriorityClass } from '../priority.ts';
import type { QueueStatus } from './status.ts';
import { LEGACY_SOURCE, SHARED_SOURCE, type SourceNamer } from './source-label.ts';

export interface ClassCounts {
  readonly waiting: number;
  readonly active: number;
  readonly delayed: number;
  readonly failed: number;
  /** The oldest waiting job's age among the queues counted (0 when none waits). */
  readonly oldestWaitingSeconds: number;
  /** Items delivered to Klaviyo in about the last 60 s (see deliveredInLastMinute). */
  readonly deliveredLastMinute: number;
}

export interface SourceClassStatus extends ClassCounts {
  /** The source id, `legacy` for `<kind>.<lane>`, `all` for `webhooks.<lane>` (src/ops/source-label.ts). */
  readonly source: string;
  /** Its configured name where the id does not say it (`api-key-1`). */
  readonly name?: string;
  readonly queue: string;
}

export interface ClassStatus extends ClassCounts {
  readonly lane: string;
  readonly kind: JobKind;
  readonly class: PriorityClass;
  /** One row per queue of the class: every source's own counts. */
  readonly sources: readonly SourceClassStatus[];
}

const ZERO: ClassCounts = { waiting: 0, active: 0, delayed: 0, failed: 0, oldestWaitingSeconds: 0, deliveredLastMinute: 0 };

function add(a: ClassCounts, b: ClassCounts): ClassCounts {
  return {
    waiting: a.waiting + b.waiting,
    active: a.active + b.active,
    delayed: a.delayed + b.delayed,
    failed: a.failed + b.failed,
    oldestWaitingSeconds: Math.max(a.oldestWaitingSeconds, b.oldestWaitingSeconds),
    deliveredLastMinute: a.deliveredLastMinute + b.deliveredLastMinute,
  };
}

/**
 * Rows for every lane, kind and class, in that order — both classes of events and profiles even
 * while one has no queue yet (a zero is an answer: "no bulk work"), webhooks as the one live queue.
 */
export function classStatus(queues: readonly QueueStatus[], lanes: readonly string[], nameOf?: SourceNamer): ClassStatus[] {
  const out: ClassStatus[] = [];
  for (const lane of lanes) {
    for (const kind of JOB_KINDS) {
      const classes: readonly PriorityClass[] = (CLASSED_KINDS as readonly JobKind[]).includes(kind) ? PRIORITY_CLASSES : ['live'];
      for (const cls of classes) {
        const mine = queues.filter((q) => q.lane === lane && q.kind === kind && q.class === cls);
        const sources = mine.map((q): SourceClassStatus => {
          const name = q.source === undefined ? undefined : nameOf?.(q.source);
          return {
            source: q.source ?? (isSingleQueue(kind) ? SHARED_SOURCE : LEGACY_SOURCE),
            ...(name !== undefined ? { name } : {}),
            queue: q.queue,
            waiting: q.waiting,
            active: q.active,
            delayed: q.delayed,
            failed: q.failed,
            oldestWaitingSeconds: q.oldestWaitingSeconds,
            deliveredLastMinute: q.deliveredLastMinute,
          };
        });
        out.push({ lane, kind, class: cls, ...sources.reduce<ClassCounts>(add, ZERO), sources });
      }
    }
  }
  return out;
}

/**
 * Items delivered in the last 60 s, from the per-10-second counters the workers keep (`periods`:
 * this period first, then the six before it). Everything of the last 50 s is counted exactly; of
 * the period that is only partly inside the last 60 s, the part inside, as if its items were
 * spread evenly over it. (Per minute, as before, the number lagged by up to a minute.)
 */
export function deliveredInLastMinute(periods: readonly number[], now: number, periodMs = 10_000): number {
  const inside = 1 - (now % periodMs) / periodMs;
  const whole = periods.slice(0, 6).reduce((n, x) => n + x, 0);
  return Math.round(whole + (periods[6] ?? 0) * inside);
}
