import { describe, expect, it } from 'vitest';
import { KlaviyoApiError, KlaviyoTransportError } from '../../src/errors.ts';
import { backoffDelay, classify, outcomeOf, RetryLaterError } from '../../workers/retry-policy.ts';

const api = (status: number, retryAfterMs?: number) => new KlaviyoApiError(status, 'klaviyo', 'c', 'd', retryAfterMs, [], 'create_event');

describe('error taxonomy', () => {
  it.each([
    [429, 'rate-limited'],
    [500, 'retry'],
    [502, 'retry'],
    [503, 'retry'],
    [408, 'retry'],
    [401, 'unauthorized'],
    [403, 'unauthorized'],
    [400, 'reject'],
    [404, 'reject'],
    [409, 'reject'],
    [422, 'reject'],
  ] as const)('status %i → %s', (status, expected) => {
    expect(classify(api(status))).toBe(expected);
  });

  it('retries timeouts and network errors', () => {
    expect(classify(new KlaviyoTransportError('timeout', 'create_event'))).toBe('retry');
    expect(classify(new KlaviyoTransportError('network', 'create_event'))).toBe('retry');
  });

  it("keeps Klaviyo's error on a rejected item", () => {
    const o = outcomeOf(new KlaviyoApiError(400, 'klaviyo', 'invalid', 'bad time', undefined, [], 'create_event'));
    expect(o).toMatchObject({ kind: 'rejected', error: { status: 400, code: 'invalid', detail: 'bad time', origin: 'klaviyo' } });
  });
});

describe('backoff', () => {
  const s = { baseMs: 1000, maxMs: 60_000 };
  it('grows exponentially with jitter between half and the full nominal delay', () => {
    expect(backoffDelay(1, undefined, s, () => 0)).toBe(500);
    expect(backoffDelay(1, undefined, s, () => 1)).toBe(1000);
    expect(backoffDelay(3, undefined, s, () => 0)).toBe(2000);
    expect(backoffDelay(3, undefined, s, () => 1)).toBe(4000);
  });
  it('is capped', () => {
    expect(backoffDelay(30, undefined, s, () => 1)).toBe(60_000);
  });
  it('never undercuts a Retry-After', () => {
    expect(backoffDelay(1, new RetryLaterError('x', 7000), s, () => 0)).toBe(7000);
    expect(backoffDelay(1, new RetryLaterError('x', 100), s, () => 0)).toBe(500);
  });
});
