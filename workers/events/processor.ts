/**
 * Processor for the events queues of a lane and class: every item goes through the class's
 * batcher, under its source (batches are shared among sources by weight).
 */
import type { Job } from 'bullmq';
import type { EventItem, EventsJobData } from '../../src/queues.ts';
import type { Batcher } from '../batcher.ts';
import type { ItemOutcome } from '../retry-policy.ts';
import { settle, type JobHooks, type SettleResult } from '../settle.ts';

export type EventBatcher = Batcher<EventItem, ItemOutcome, 'create_event' | 'bulk_create_events'>;

export function eventsProcessor(batcher: EventBatcher, hooks: JobHooks) {
  return async function processEvents(job: Job<EventsJobData>, token?: string): Promise<SettleResult> {
    const outcomes = await Promise.all(job.data.items.map((item) => batcher.submit(item, job.data.src)));
    return settle(job, job.data.items, outcomes, {
      token,
      onPaused: (error) => hooks.onPaused(job.data.lane, error),
      observe: (o) => hooks.observe('events', job.data.lane, job.data.at, o),
    });
  };
}
