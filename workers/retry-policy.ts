/**
 * The error taxonomy, in one place: what each failure means for an item, and how long BullMQ
 * waits before the next attempt. BullMQ owns retries (the client never retries; two layers would
 * multiply attempts); this file only tells it when.
 *
 * | failure                                  | outcome                                         |
 * |------------------------------------------|-------------------------------------------------|
 * | 2xx                                      | delivered                                       |
 * | 429 (gateway or Klaviyo)                 | lane blocked for Retry-After, item re-sent, no attempt spent |
 * | 408, 5xx, network, timeout, odd 2xx body | retried with exponential backoff + jitter, Retry-After as a floor |
 * | 401/403 (gateway or Klaviyo)             | the lane pauses (jobs kept, no attempt spent); a probe resumes it (lane-control.ts) |
 * | other 4xx                                | rejected: dead letter with Klaviyo's error, never retried |
 */
import { KlaviyoApiError, KlaviyoResponseError, KlaviyoTransportError } from '../src/errors.ts';
import type { ItemError } from '../src/job-data.ts';

export type ItemOutcome =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'rejected'; readonly error: ItemError }
  | { readonly kind: 'retry'; readonly error: ItemError; readonly retryAfterMs?: number }
  /** The credentials were refused: the item waits, unharmed, until the lane is resumed. */
  | { readonly kind: 'paused'; readonly error: ItemError }
  /** Not attempted: the worker is shutting down; the item goes back to the queue as it was. */
  | { readonly kind: 'yield' };

export const DELIVERED: ItemOutcome = Object.freeze({ kind: 'delivered' });

export type FailureClass = 'rate-limited' | 'retry' | 'reject' | 'unauthorized';

export function classify(err: unknown): FailureClass {
  if (err instanceof KlaviyoApiError) {
    if (err.status === 429) return 'rate-limited';
    if (err.status === 408 || err.status >= 500) return 'retry';
    // Burning attempts on a refused credential would only fill the dead letters: pause instead.
    if (err.status === 401 || err.status === 403) return 'unauthorized';
    return 'reject';
  }
  if (err instanceof KlaviyoTransportError || err instanceof KlaviyoResponseError) return 'retry';
  // Anything else is our bug or an environment problem: retrying is the safe choice.
  return 'retry';
}

export function toItemError(err: unknown, pointerError?: { code?: string; detail?: string; title?: string; source?: { pointer?: string } }): ItemError {
  const at = Date.now();
  if (err instanceof KlaviyoApiError) {
    return {
      status: err.status,
      origin: err.origin,
      code: pointerError?.code ?? err.code,
      detail: pointerError?.detail ?? pointerError?.title ?? err.detail,
      pointer: pointerError?.source?.pointer,
      endpoint: err.endpoint,
      at,
    };
  }
  if (err instanceof KlaviyoTransportError) return { status: 0, origin: err.kind, detail: err.message, endpoint: err.endpoint, at };
  return { status: 0, origin: 'relay', detail: err instanceof Error ? err.message : String(err), at };
}

/** Outcome of an error that applies to every item of a request alike. */
export function outcomeOf(err: unknown): ItemOutcome {
  const error = toItemError(err);
  const kind = classify(err);
  if (kind === 'reject') return { kind: 'rejected', error };
  if (kind === 'unauthorized') return { kind: 'paused', error };
  return { kind: 'retry', error, retryAfterMs: err instanceof KlaviyoApiError ? err.retryAfterMs : undefined };
}

/** Thrown by a processor when some items must be tried again; carries the Retry-After floor. */
export class RetryLaterError extends Error {
  override readonly name = 'RetryLaterError';
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export interface BackoffSettings {
  readonly baseMs: number;
  readonly maxMs: number;
}

/**
 * Exponential backoff with "equal jitter" (half fixed, half random, so retries never bunch up
 * and never come back sooner than half the nominal delay), never below a Retry-After the server
 * sent (Klaviyo: "Immediate retries will always receive a 429"). Registered as BullMQ's custom
 * backoff strategy for the `relay` backoff type.
 */
export function backoffDelay(attemptsMade: number, err: unknown, s: BackoffSettings, random = Math.random): number {
  const nominal = Math.min(s.maxMs, s.baseMs * 2 ** Math.max(0, attemptsMade - 1));
  const jittered = Math.round(nominal / 2 + random() * (nominal / 2));
  const floor = err instanceof RetryLaterError ? (err.retryAfterMs ?? 0) : 0;
  return Math.max(jittered, floor);
}
