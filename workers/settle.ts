/**
 * Turns per-item outcomes into the job's outcome, for every job kind:
 *  - all delivered → completed;
 *  - some to retry → the job keeps only what is left (delivered items are never sent again) and
 *    throws RetryLaterError, so BullMQ backs off and retries it;
 *  - some rejected → they move to the job's `dead` list with Klaviyo's error; once nothing is left
 *    to retry the job fails with UnrecoverableError: the failed set is the dead-letter store.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { DeadItem } from '../src/queues.ts';
import { RetryLaterError, type ItemOutcome } from './retry-policy.ts';

export interface ItemsJobData<I> {
  readonly items: I[];
  readonly dead?: DeadItem<I>[];
}

export interface SettleResult {
  readonly delivered: number;
}

export async function settle<I, D extends ItemsJobData<I>>(job: Job<D>, outcomes: readonly ItemOutcome[]): Promise<SettleResult> {
  const items = job.data.items;
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
  if (retry.length > 0 || newlyDead.length > 0) {
    await job.updateData({ ...job.data, items: retry, dead });
  }
  if (retry.length > 0) {
    throw new RetryLaterError(`${retry.length} of ${items.length} items to retry (${delivered} delivered): ${lastRetryReason}`, retryAfterMs);
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
