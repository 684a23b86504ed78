/**
 * Turns per-item outcomes into the job's outcome, for every job kind:
 *  - all delivered → completed;
 *  - some held back — waiting their turn (per-profile order), paused (credentials refused), or
 *    yielded (shutdown) → the job keeps what is left and is delayed, spending no attempt;
 *  - some to retry → the job keeps only what is left (delivered items are never sent again) and
 *    throws RetryLaterError, so BullMQ backs off and retries it;
 *  - some rejected → they move to the job's `dead` list with Klaviyo's error; once nothing is left
 *    to do the job fails with UnrecoverableError: the failed set is the dead-letter store.
 */
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { DeadItem, ItemError } from '../src/job-data.ts';
import { RetryLaterError, type ItemOutcome } from './retry-policy.ts';
import { maskPii } from '../src/log.ts';
import type { JobKind } from '../src/queue-catalog.ts';

export interface ItemsJobData<I> {
  readonly items: I[];
  readonly dead?: DeadItem<I>[];
  readonly waits?: number;
}

export interface SettleOptions<I> {
  /** Items not attempted yet because an earlier operation on their profile is pending. */
  readonly waiting?: readonly I[];
  /** The job's lock token (needed to delay it). */
  readonly token?: string;
  /** Called when the credentials were refused, to pause the lane. */
  readonly onPaused?: (error: ItemError) => Promise<void>;
  /** Sees every outcome (metrics). */
  readonly observe?: (outcomes: readonly ItemOutcome[]) => void;
}

export interface SettleResult {
  readonly delivered: number;
}

/** How long a job waits for earlier operations on the same profile: short at first, at most 5 s. */
export function waitDelayMs(waits: number): number {
  return Math.min(5000, 100 * 2 ** Math.min(waits, 6));
}

export async function settle<I, D extends ItemsJobData<I>>(
  job: Job<D>,
  attempted: readonly I[],
  outcomes: readonly ItemOutcome[],
  opts: SettleOptions<I> = {},
): Promise<SettleResult> {
  const retry: I[] = [];
  const held: I[] = [...(opts.waiting ?? [])];
  const newlyDead: DeadItem<I>[] = [];
  let delivered = 0;
  let retryAfterMs: number | undefined;
  let lastRetryReason = '';
  let paused: ItemError | undefined;
  let yielded = false;
  outcomes.forEach((o, i) => {
    const item = attempted[i]!;
    switch (o.kind) {
      case 'delivered':
        delivered++;
        break;
      case 'rejected':
        newlyDead.push({ item, error: o.error });
        break;
      case 'retry':
        retry.push(item);
        lastRetryReason = describe(o.error);
        if (o.retryAfterMs !== undefined) retryAfterMs = Math.max(retryAfterMs ?? 0, o.retryAfterMs);
        break;
      case 'paused':
        held.push(item);
        paused ??= o.error;
        break;
      case 'yield':
        held.push(item);
        yielded = true;
        break;
    }
  });
  opts.observe?.(outcomes);
  if (paused) await opts.onPaused?.(paused);

  const dead = [...(job.data.dead ?? []), ...newlyDead];
  const left = [...retry, ...held];
  const waitingOnly = held.length > 0 && !paused && !yielded;
  const waits = waitingOnly ? (job.data.waits ?? 0) + 1 : job.data.waits;
  // Keep only what is left to do: delivered items are never sent again.
  if (left.length > 0 || newlyDead.length > 0) await job.updateData({ ...job.data, items: left, dead, waits });

  if (held.length > 0) {
    // Held items cost no attempt: the job goes back to the queue (a paused queue keeps it there).
    if (!opts.token) throw new Error('settle: a job with held items needs its lock token');
    const delay = yielded ? 0 : paused ? 1000 : waitDelayMs(waits ?? 0);
    await job.moveToDelayed(Date.now() + delay, opts.token);
    throw new DelayedError();
  }
  if (retry.length > 0) {
    throw new RetryLaterError(`${retry.length} of ${attempted.length} items to retry (${delivered} delivered): ${lastRetryReason}`, retryAfterMs);
  }
  if (dead.length > 0) {
    const first = dead[0]!.error;
    throw new UnrecoverableError(`${dead.length} item(s) rejected by Klaviyo: ${describe(first)}`);
  }
  return { delivered };
}

/**
 * The job's failure reason, as BullMQ stores it and dashboards show it. Klaviyo's details often
 * quote the email or phone number; they are masked here (the full detail stays in the job's data,
 * which the dashboard masks unless told otherwise).
 */
function describe(e: DeadItem<unknown>['error']): string {
  const where = e.pointer ? ` at ${e.pointer}` : '';
  return maskPii(`${e.status || e.origin}${e.code ? ` ${e.code}` : ''}${e.detail ? `: ${e.detail}` : ''}${where}`);
}

/** What the worker runtime wants to hear from every processor. */
export interface JobHooks {
  /** The credentials were refused: pause the lane. */
  onPaused(lane: string, error: ItemError): Promise<void>;
  /** Every outcome, with the lane and when the work was accepted (metrics, delivery rate). */
  observe(kind: 'events' | 'profiles' | 'catalog', lane: string, acceptedAt: number, outcomes: readonly ItemOutcome[]): void;
  observe(kind: JobKind, lane: string, acceptedAt: number, outcomes: readonly ItemOutcome[]): void;
}
