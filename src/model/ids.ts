/**
 * Deterministic ids. Everything that must survive a retry or a replay unchanged is derived here:
 * the `unique_id` Klaviyo dedupes events on, our dedupe keys, and job ids.
 *
 * `crypto.hash` (one-shot) rather than createHash: it is on the ingest hot path, ~6x cheaper.
 */
import { hash } from 'node:crypto';

/** 22 base64url characters: 132 bits of SHA-256. */
function digest22(text: string): string {
  return (hash('sha256', text, 'base64url') as string).slice(0, 22);
}

/** A stable, non-secret name for an API key: ids are scoped per key without storing the key. */
export function sourceIdForKey(apiKey: string): string {
  return `key-${(hash('sha256', `relay-source\n${apiKey}`, 'hex') as string).slice(0, 12)}`;
}

/**
 * The `unique_id` sent to Klaviyo for an item: SHA-256 over the source and the caller's id (plus
 * a suffix, e.g. an order line index). Klaviyo keeps only the first event per
 * (profile, metric, unique_id), so a retried or replayed item can never count twice, and two
 * events in the same second are never merged (create_event's default dedupes on the second).
 */
export function itemKey(sourceId: string, id: string, suffix?: string): string {
  return digest22(suffix === undefined ? `${sourceId}\n${id}` : `${sourceId}\n${id}\n${suffix}`);
}

/** A job id for a set of items: identical requests map to the same job, so BullMQ adds it once. */
export function jobIdForItems(kind: string, keys: readonly string[]): string {
  if (keys.length === 1) return `${kind}-${keys[0]}`;
  return `${kind}-b${digest22(keys.join('\n'))}`;
}
