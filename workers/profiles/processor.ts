/**
 * Processor for `profiles.<lane>` jobs. Only items that are first in their profile's order are
 * attempted; the rest wait (the job is delayed, no attempt spent) until earlier operations on
 * the same profile are done (src/profile-order.ts).
 */
import type { Job } from 'bullmq';
import type { ProfileOrder } from '../../src/profile-order.ts';
import type { ProfilesJobData } from '../../src/queues.ts';
import { settle, type JobHooks, type SettleResult } from '../settle.ts';
import type { ProfileDispatcher } from './dispatcher.ts';

export function profilesProcessor(dispatcher: ProfileDispatcher, order: ProfileOrder, hooks: JobHooks) {
  return async function processProfiles(job: Job<ProfilesJobData>, token?: string): Promise<SettleResult> {
    const { items, lane } = job.data;
    const first = await order.firsts(lane, items);
    const ready = items.filter((_, i) => first[i]);
    const waiting = items.filter((_, i) => !first[i]);
    const outcomes = await Promise.all(ready.map((item) => dispatcher.submit(item)));
    // Delivered or dead-lettered: the next operation on that profile may go. Items still to do keep their place.
    await order.release(lane, ready.filter((_, i) => outcomes[i]!.kind === 'delivered' || outcomes[i]!.kind === 'rejected'));
    return settle(job, ready, outcomes, {
      waiting,
      token,
      onPaused: (error) => hooks.onPaused(lane, error),
      observe: (o) => hooks.observe('profiles', lane, job.data.at, o),
    });
  };
}
