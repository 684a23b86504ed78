/**
 * Backpressure: above RELAY_MAX_QUEUED_JOBS jobs waiting in a queue (waiting, delayed),
 * ingest answers 503 with Retry-After instead of growing Redis without bound — Redis runs with
 * `noeviction`, and a full Redis would refuse everything, dead letters included. Queues are per
 * kind, lane, class and source, so one source's import does not refuse another source's work.
 *
 * Counts are read once a second per queue seen, not per request.
 */
import type { Queues } from '../queues.ts';
import { queueName, type QueueRef } from '../queue-catalog.ts';

export class BacklogFullError extends Error {
  override readonly name = 'BacklogFullError';
}

export interface BacklogGuard {
  /** Throws BacklogFullError when the queue is over the limit (as of the last count). */
  check(ref: QueueRef): void;
  stop(): void;
}

export function createBacklogGuard(queues: Queues, maxJobs: number, intervalMs = 1000): BacklogGuard {
  const counts = new Map<string, number>();
  const watched = new Map<string, QueueRef>();
  let busy = false;
  const timer = setInterval(async () => {
    if (busy || watched.size === 0) return;
    busy = true;
    try {
      for (const [key, ref] of watched) {
        // A paused queue keeps its jobs in `wait` (BullMQ 6).
        const c = await queues.get(ref).getJobCounts('wait', 'delayed', 'prioritized');
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
    check(ref) {
      if (maxJobs <= 0) return;
      const key = queueName(ref);
      if (!watched.has(key)) watched.set(key, ref);
      const n = counts.get(key) ?? 0;
      if (n >= maxJobs) throw new BacklogFullError(`the queue ${key} holds ${n} jobs (limit ${maxJobs})`);
    },
    stop: () => clearInterval(timer),
  };
}
