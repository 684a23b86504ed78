/**
 * Backpressure: above RELAY_MAX_QUEUED_JOBS jobs waiting in a queue (waiting, delayed),
 * ingest answers 503 with Retry-After instead of growing Redis without bound — Redis runs with
 * `noeviction`, and a full Redis would refuse everything, dead letters included.
 *
 * Counts are read once a second per queue seen, not per request.
 */
import type { JobKind, Queues } from '../queues.ts';

export class BacklogFullError extends Error {
  override readonly name = 'BacklogFullError';
}

export interface BacklogGuard {
  /** Throws BacklogFullError when the queue is over the limit (as of the last count). */
  check(kind: JobKind, lane: string): void;
  stop(): void;
}

export function createBacklogGuard(queues: Queues, maxJobs: number, intervalMs = 1000): BacklogGuard {
  const counts = new Map<string, number>();
  const watched = new Map<string, { kind: JobKind; lane: string }>();
  let busy = false;
  const timer = setInterval(async () => {
    if (busy || watched.size === 0) return;
    busy = true;
    try {
      for (const [key, { kind, lane }] of watched) {
        // A paused queue keeps its jobs in `wait` (BullMQ 6).
        const c = await queues.get(kind, lane).getJobCounts('wait', 'delayed', 'prioritized');
        counts.set(key, (c.wait ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0));
      }
    } catch {
      // Redis away: the spool (or a 503) decides; keep the last counts.
    } finally {
      busy = false;
    }
  }, intervalMs);
  timer.unref();
  return {
    check(kind, lane) {
      if (maxJobs <= 0) return;
      const key = `${kind}\n${lane}`;
      if (!watched.has(key)) watched.set(key, { kind, lane });
      const n = counts.get(key) ?? 0;
      if (n >= maxJobs) throw new BacklogFullError(`the ${kind} queue for ${lane} holds ${n} jobs (limit ${maxJobs})`);
    },
    stop: () => clearInterval(timer),
  };
}
