/**
 * Processor for the profile queues of a lane and class. Only items that are first in their
 * profile's order are attempted; the rest wait (the job is delayed, no attempt spent) until earlier
 * operations on the same profile are done (src/profile-order.ts).
 *
 * Across classes (issue 12): a live item whose profile has an earlier operation waiting in a bulk
 * queue promotes it — applies it first, through this (live) dispatcher — and then goes itself,
 * instead of waiting for the bulk job's turn behind the whole import. A bulk item promoted that way
 * is resolved as delivered (or as the dead letter it became) without being applied again.
 */
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '../../src/log.ts';
import { PROMOTION_LEASE_MS, type ProfileOrder, type Turn } from '../../src/profile-order.ts';
import type { QueueRef } from '../../src/queue-catalog.ts';
import { decodeProfileItem, itemKeyOf, jobOrigin, type ProfilesJobData, type StoredProfileItem } from '../../src/job-data.ts';
import { DELIVERED, outcomeOf, RetryLaterError, type ItemOutcome } from '../retry-policy.ts';
import { settle, type JobHooks, type SettleResult } from '../settle.ts';
import type { ProfileDispatcher } from './dispatcher.ts';
import { promote } from './promote.ts';

/**
 * Earlier bulk operations one live item promotes in one go (a profile's upsert and list add from
 * one import are two); past that its job waits its usual short delay and goes on from there.
 */
export const MAX_PROMOTIONS = 8;

export interface ProfilesProcessorOptions {
  /** The queue served: its class says whether items promote (live) or may find theirs promoted (bulk). */
  readonly ref: QueueRef;
  readonly log: Logger;
  /** The claim's lease (default PROMOTION_LEASE_MS); renewed every third of it. */
  readonly leaseMs?: number;
}

type Step = { readonly wait: true } | { readonly wait: false; readonly outcome: ItemOutcome };
const WAIT: Step = { wait: true };

export function profilesProcessor(dispatcher: ProfileDispatcher, order: ProfileOrder, hooks: JobHooks, opts: ProfilesProcessorOptions) {
  const mode = opts.ref.cls === 'bulk' ? 'bulk' : 'live';
  const leaseMs = opts.leaseMs ?? PROMOTION_LEASE_MS;

  return async function processProfiles(job: Job<ProfilesJobData>, token?: string): Promise<SettleResult> {
    const result = await processItems(job, token);
    await forgetErasures(job);
    return result;
  };

  /**
   * An erasure request holds the identifier only until Klaviyo has it: once its job completes the
   * erased person's identifier is dropped from the data BullMQ keeps (issue 16). Reached only when
   * every item was delivered (settle throws otherwise); retries and dead letters keep it, to send.
   */
  async function forgetErasures(job: Job<ProfilesJobData>): Promise<void> {
    const items = job.data.items.map((it) => (decodeProfileItem(it).operation.op === 'erase' ? { ...it, o: { op: 'erase' as const, member: {} } } : it));
    if (items.some((it, i) => it !== job.data.items[i])) await job.updateData({ ...job.data, items });
  }

  async function processItems(job: Job<ProfilesJobData>, token?: string): Promise<SettleResult> {
    // Items as stored: the per-profile order and settle work on them; the dispatcher gets them decoded.
    const { items } = job.data;
    const { source, lane, acceptedAt } = jobOrigin(job.data);
    const jobKey = order.jobKey(opts.ref, job.id!);

    /** One item, from its turn: applied (or settled without a call), or left to wait. */
    async function step(item: StoredProfileItem, turn: Turn): Promise<Step> {
      for (let promoted = 0; ; promoted++) {
        switch (turn.kind) {
          case 'first':
            return { wait: false, outcome: await dispatcher.submit(decodeProfileItem(item), source) };
          case 'wait':
            return WAIT;
          case 'done':
            return { wait: false, outcome: DELIVERED };
          case 'rejected':
            return { wait: false, outcome: { kind: 'rejected', error: turn.error } };
          case 'promote': {
            // Promotion is part of what this live item costs: it goes under this job's source.
            let o: ItemOutcome;
            try {
              o = await promote(turn.claim, order, dispatcher, source, leaseMs, opts.log);
            } catch (err) {
              o = outcomeOf(err);
            }
            // Not applied (Klaviyo unavailable, the lane paused, stopping): the live item cannot
            // go before it, and shares its fate — retried, held, or handed back.
            if (o.kind !== 'delivered' && o.kind !== 'rejected') return { wait: false, outcome: o };
            if (promoted + 1 >= MAX_PROMOTIONS) return WAIT;
            turn = (await order.turns(lane, [item], mode, jobKey))[0]!;
            break;
          }
        }
      }
    }

    const turns = await order.turns(lane, items, mode, jobKey);
    const steps = await Promise.all(items.map((item, i) => step(item, turns[i]!)));
    const ready: StoredProfileItem[] = [];
    const outcomes: ItemOutcome[] = [];
    const waiting: StoredProfileItem[] = [];
    steps.forEach((s, i) => {
      if (s.wait) waiting.push(items[i]!);
      else {
        ready.push(items[i]!);
        outcomes.push(s.outcome);
      }
    });
    // Delivered or dead-lettered: the next operation on that profile may go. Items still to do keep their place.
    await order.release(
      lane,
      ready.filter((_, i) => outcomes[i]!.kind === 'delivered' || outcomes[i]!.kind === 'rejected'),
    );
    const result = settle(job, ready, outcomes, {
      waiting,
      token,
      onPaused: (error) => hooks.onPaused(lane, error),
      observe: (o) => hooks.observe('profiles', lane, acceptedAt, o),
    });
    // A rejection found on a promoted item is now a dead letter of this job: its mark is cleared,
    // so that a replay of the dead letter sends it again. Only once settle has written the job's
    // data (it returned, or threw one of its outcomes), or the mark would be lost with the item.
    const consumed = items.filter((_, i) => turns[i]!.kind === 'rejected').map(itemKeyOf);
    if (consumed.length === 0) return result;
    const forget = () =>
      order
        .forget(jobKey, consumed)
        .catch((err: unknown) => opts.log.warn({ err, jobId: job.id }, 'could not clear the marks of promoted items rejected by Klaviyo'));
    try {
      const r = await result;
      await forget();
      return r;
    } catch (err) {
      if (err instanceof DelayedError || err instanceof UnrecoverableError || err instanceof RetryLaterError) await forget();
      throw err;
    }
  }
}
