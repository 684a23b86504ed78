/**
 * The fuzz oracle's "unknown field" case must add a key the object does not have: overwriting a
 * known key (the privacy route's `profile_id` is one of UNKNOWN_KEYS) can give a valid body, which
 * the oracle then wrongly expects refused (CI failed on FUZZ_SEED=2079898555, cases #6910, #9365).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UNKNOWN_KEYS, unknownField, unknownTo } from '../fuzz/support/gen.ts';

describe('fuzz unknown-field cases', () => {
  it('renames a key the base already has', () => {
    expect(unknownTo({ id: 'a', profile_id: '97-' }, [], 'profile_id')).toBe('x_profile_id');
    expect(unknownTo({ id: 'a', email: 'a@example.com' }, [], 'profile_id')).toBe('profile_id');
    expect(unknownTo({ data: { profile_id: 'k' } }, ['data'], 'profile_id')).toBe('x_profile_id');
  });

  it('never overwrites a key of the base object (every case has one key more than its base)', () => {
    const base = fc.constantFrom(...UNKNOWN_KEYS.map((k) => ({ id: 'dup-1', [k]: 'T' })));
    fc.assert(
      fc.property(unknownField(base, [[]]), (c) => {
        const v = (c.payload as { v: Record<string, unknown> }).v;
        expect(Object.keys(v)).toHaveLength(3);
      }),
      { numRuns: 500, seed: 2079898555 },
    );
  });
});
