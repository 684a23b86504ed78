/**
 * Processor for `back-in-stock.<lane>` jobs: each subscription is one call to
 * create_back_in_stock_subscription (Klaviyo has no bulk form), paced by the quota governor
 * (350/s, 3,500/min per account, and the gateway's 10/s), a few at a time per job. Each item gets
 * its own outcome: a refused subscription (4xx) is a dead letter naming it, a 5xx or timeout is
 * retried, a 429 waits (no attempt spent), refused credentials pause the lane.
 */
import type { Job } from 'bullmq';
import { backInStockBody } from '../../src/klaviyo/back-in-stock-payloads.ts';
import { type BackInStockJobData, decodeBackInStockItem, jobOrigin } from '../../src/job-data.ts';
import { call, type CallDeps, takeToken, YIELDED } from '../klaviyo-call.ts';
import { classify, DELIVERED, outcomeOf, type ItemOutcome } from '../retry-policy.ts';
import { settle, type JobHooks, type SettleResult } from '../settle.ts';

/** Calls in flight per job: with the gateway's 10 requests/s, more would only wait for tokens. */
const PARALLEL_PER_JOB = 10;

/**
 * `stopping`: aborted when the workers stop; a subscription not sent by then goes back to its job
 * untouched (the job returns to the queue, no attempt spent).
 */
export function backInStockProcessor(deps: CallDeps, hooks: JobHooks, stopping: AbortSignal) {
  return async function processBackInStock(job: Job<BackInStockJobData>, token?: string): Promise<SettleResult> {
    const { lane, acceptedAt } = jobOrigin(job.data);
    const items = job.data.items;
    const outcomes: ItemOutcome[] = new Array(items.length);
    let next = 0;
    const runner = async () => {
      for (let i = next++; i < items.length; i = next++) {
        const body = JSON.stringify(backInStockBody(decodeBackInStockItem(items[i]!).subscription));
        for (;;) {
          const grant = await takeToken(deps, 'create_back_in_stock_subscription', stopping);
          if (!grant) {
            outcomes[i] = YIELDED;
            break;
          }
          try {
            await call(deps, { endpoint: 'create_back_in_stock_subscription', body, grant });
            outcomes[i] = DELIVERED;
          } catch (err) {
            // A 429 blocked the lane in the governor: wait for the next token, no attempt spent.
            if (classify(err) === 'rate-limited') continue;
            outcomes[i] = outcomeOf(err);
          }
          break;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL_PER_JOB, items.length) }, runner));
    return settle(job, items, outcomes, {
      token,
      onPaused: (error) => hooks.onPaused(lane, error),
      observe: (o) => hooks.observe('back-in-stock', lane, acceptedAt, o),
    });
  };
}
