/**
 * Applies an earlier bulk operation that a live operation found in its way (src/profile-order.ts,
 * "Promotion"): through the live dispatcher, under the claim that keeps the bulk job from applying
 * it too. The lease is renewed while the operation is under way (a bulk profile import is polled
 * for minutes), so it runs out only when this process is gone.
 */
import type { Logger } from '../../src/log.ts';
import { decodeProfileItem } from '../../src/job-data.ts';
import type { Claim, ClaimResult, ProfileOrder } from '../../src/profile-order.ts';
import { DELIVERED, outcomeOf, type ItemOutcome } from '../retry-policy.ts';
import type { ProfileDispatcher } from './dispatcher.ts';

export async function promote(
  claim: Claim,
  order: ProfileOrder,
  dispatcher: ProfileDispatcher,
  key: string,
  leaseMs: number,
  log: Logger,
): Promise<ItemOutcome> {
  if (!claim.item) {
    // The job no longer carries it (a leftover of a crash after it was settled): nothing to apply.
    await order.finish(claim, { kind: 'gone' });
    return DELIVERED;
  }
  const item = decodeProfileItem(claim.item);
  const renewal = setInterval(() => {
    order.renew(claim).then(
      (held) => held || log.warn({ item: item.key }, 'promotion: the claim was lost while its operation was under way'),
      (err: unknown) => log.warn({ err }, 'promotion: could not renew the claim'),
    );
  }, leaseMs / 3);
  renewal.unref();
  let outcome: ItemOutcome;
  try {
    outcome = await dispatcher.submit(item, key);
  } catch (err) {
    outcome = outcomeOf(err);
  } finally {
    clearInterval(renewal);
  }
  // Delivered or rejected: settled for good, the bulk job will not apply it. Anything else (retry,
  // paused, stopping): the claim is given up and the item stays where it was, first in line.
  const result: ClaimResult = outcome.kind === 'delivered' || outcome.kind === 'rejected' ? outcome : { kind: 'released' };
  const kept = await order.finish(claim, result);
  if (!kept && result.kind !== 'released') {
    log.warn({ item: item.key }, 'promotion: the claim ran out while its operation was applied; the bulk job may apply it again');
  }
  return outcome;
}
