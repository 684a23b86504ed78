/**
 * Turns per-item outcomes into the job's outcome, for every job kind:
 *  - all delivered → completed;
 *  - some to retry → the job keeps only what is left (delivered items are never sent again) and
 *    throws RetryLaterError, so BullMQ backs off and retries it;
 *  - some rejected → they move to the job's `dead` list with Klaviyo's error; once nothing is left
 *    to retry the job fails with UnrecoverableError: the failed set is the dead-letter store;
 *  - some still waiting their turn (per-profile order) → the job keeps them and is delayed
 *    briefly, spending no attempt.
 */
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { DeadItem } from '../src/queues.ts';
import { RetryLaterError, type ItemOutcome } from './retry-policy.ts';

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
}

/** How long a job waits for earlier operations on the same profile: short at first, at most 5 s. */
export function waitDelayMs(waits: number): number {
  return Math.min(5000, 100 * 2 ** Math.min(waits, 6));
}

export interface SettleResult {
  readonly delivered: number;
}

export async function settle<I, D extends ItemsJobData<I>>(
  job: Job<D>,
  attempted: readonly I[],
  outcomes: readonly ItemOutcome[],
  opts: SettleOptions<I> = {},
): Promise<SettleResult> {
  const items = attempted;
  const waiting = opts.waiting ?? [];
  const retry: I[] = [];
  const newlyDead: DeadItem<I>[] = [];
  let delivered = 0;
  let retryAfterMs: number | undefined;
  let lastRetryReason = '';
  outcomes.forEach((o, i) => {
    const item = items[i]!;
    if (o.kind === 'delivered') delivered++;
    else if (o.kind === 'rejected') newlyDead.push({ item, error: o.error });
    else {
      retry.push(item);
      lastRetryReason = describe(o.error);
      if (o.retryAfterMs !== undefined) retryAfterMs = Math.max(retryAfterMs ?? 0, o.retryAfterMs);
    }
  });
  const dead = [...(job.data.dead ?? []), ...newlyDead];
  const left = [...retry, ...waiting];
  // Keep only what is left to do: delivered items are never sent again.
  const waits = waiting.length > 0 && retry.length === 0 ? (job.data.waits ?? 0) + 1 : job.data.waits;
  if (left.length > 0 || newlyDead.length > 0) await job.updateData({ ...job.data, items: left, dead, waits });
  if (retry.length > 0) {
    throw new RetryLaterError(`${retry.length} of ${items.length} items to retry (${delivered} delivered): ${lastRetryReason}`, retryAfterMs);
  }
  if (waiting.length > 0) {
    if (!opts.token) throw new Error('settle: a job with waiting items needs its lock token');
    await job.moveToDelayed(Date.now() + waitDelayMs(waits ?? 0), opts.token);
    throw new DelayedError();
  }
  if (dead.length > 0) {
    const first = dead[0]!.error;
    throw new UnrecoverableError(`${dead.length} item(s) rejected by Klaviyo: ${describe(first)}`);
  }
  return { delivered };
}

function describe(e: DeadItem<unknown>['error']): string {
  const where = e.pointer ? ` at ${e.pointer}` : '';
  return `${e.status || e.origin}${e.code ? ` ${e.code}` : ''}${e.detail ? `: ${e.detail}` : ''}${where}`;
}
