/**
 * Processor for the events queues of a lane and class: every item goes through the class's
 * batcher, under its source (batches are shared among sources by weight).
 */
import type { Job } from 'bullmq';
import { decodeEventItem, type EventItem, type EventsJobData, jobOrigin } from '../../src/job-data.ts';
import type { Batcher } from '../batcher.ts';
import type { ItemOutcome } from '../retry-policy.ts';
import { settle, type JobHooks, type SettleResult } from '../settle.ts';

export type EventBatcher = Batcher<EventItem, ItemOutcome, 'create_event' | 'bulk_create_events'>;

export function eventsProcessor(batcher: EventBatcher, hooks: JobHooks) {
  return async function processEvents(job: Job<EventsJobData>, token?: string): Promise<SettleResult> {
    const { source, lane, acceptedAt } = jobOrigin(job.data);
    const outcomes = await Promise.all(job.data.items.map((stored) => batcher.submit(decodeEventItem(stored), source)));
    // Settled as stored: what is left is written back to the job.
    return settle(job, job.data.items, outcomes, {
      token,
      onPaused: (error) => hooks.onPaused(lane, error),
      observe: (o) => hooks.observe('events', lane, acceptedAt, o),
    });
  };
}
