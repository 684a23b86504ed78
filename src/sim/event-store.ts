/**
 * Event recording with Klaviyo's dedupe rule (OAS create_event, `unique_id`): "If an event is
 * repeated for the same profile and metric, only the first processed event will be recorded.
 * If this is not present, this will use the time to the second." Keys live in a Set, so
 * checking a duplicate is O(1) however many events are stored.
 */
import { hash53 } from './ids.ts';
import type { SimAccount, SimEvent } from './state.ts';

export type EventInput = Omit<SimEvent, 'receivedAt'>;

export function dedupeKey(profileId: string, metric: string, uniqueId: string | null, timeMs: number): string {
  const discriminator = uniqueId !== null ? `u\u0001${uniqueId}` : `t\u0001${Math.floor(timeMs / 1000)}`;
  return `${profileId}\u0001${metric}\u0001${discriminator}`;
}

/** Records the event unless it duplicates an earlier one; returns whether it was recorded. */
export function recordEvent(account: SimAccount, event: EventInput, timeMs: number, receivedAt: number, retainBodies: boolean): boolean {
  const key = dedupeKey(event.profileId, event.metric, event.uniqueId, timeMs);
  const stored = retainBodies ? key : hash53(key);
  if (account.dedupeKeys.has(stored)) {
    account.duplicateEvents++;
    return false;
  }
  account.dedupeKeys.add(stored);
  account.eventCount++;
  account.eventCountsByMetric.set(event.metric, (account.eventCountsByMetric.get(event.metric) ?? 0) + 1);
  if (retainBodies) account.events.push({ ...event, receivedAt });
  const profile = account.profiles.get(event.profileId);
  if (profile && (profile.lastEventDate === null || timeMs > profile.lastEventDate)) profile.lastEventDate = timeMs;
  return true;
}
