/**
 * The fast path's contract: whatever it accepts, EventSchema accepts and returns unchanged.
 * Random inputs are built around valid events and then broken in one place at a time.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPlainValidEvent } from '../../src/model/event-fast-path.ts';
import { EventSchema } from '../../src/model/event.ts';

const SEED = Number(process.env.FAST_CHECK_SEED ?? Date.now() % 2 ** 31);

const str = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('', ' ', ' a', 'a ', 'é', 'Placed Order', 'x'.repeat(128), 'x'.repeat(256), '__proto__'));
/** Mostly valid values, sometimes anything: valid events are common, and so are near misses. */
const mostly = <T>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<unknown>) => fc.oneof({ arbitrary: valid, weight: 6 }, { arbitrary: other, weight: 1 });
const word = fc.stringMatching(/^[A-Za-z][A-Za-z0-9 ]{0,30}[A-Za-z0-9]$/);
const email = mostly(fc.emailAddress(), fc.oneof(str, fc.constantFrom(' a@b.co', 'not-an-email', `${'a'.repeat(250)}@b.co`)));
const phone = mostly(
  fc.constantFrom('+15005550006', '+447911123456', '+123456789012345'),
  fc.oneof(str, fc.constantFrom('+1 500', '15005550006', '+0123', '+1234567890123456')),
);
const json = fc.jsonValue({ maxDepth: 3 });
const props = mostly(fc.dictionary(word, json, { maxKeys: 5 }), fc.oneof(fc.dictionary(str, json, { maxKeys: 3 }), fc.constant([1]), fc.constant(null), json));
const profile = fc
  .record(
    {
      email,
      phone_number: phone,
      external_id: mostly(word, str),
      anonymous_id: mostly(word, str),
      first_name: mostly(word, fc.oneof(str, fc.constant(null), fc.constant('x'.repeat(256)))),
      title: mostly(word, str),
      properties: props,
      location: fc.constant({ city: 'X' }),
      extra: str,
    },
    { requiredKeys: [] },
  )
  .chain((p) =>
    // Unusual fields are rarely kept, so that valid profiles are common (decided by fast-check, so the seed replays it).
    fc.integer({ min: 0, max: 9 }).map((n) => {
      const { location: _l, extra: _e, ...rest } = p as Record<string, unknown>;
      return n === 0 ? p : rest;
    }),
  );
const event = fc
  .record(
    {
      id: mostly(fc.stringMatching(/^[!-~]{1,40}$/), fc.oneof(str, fc.constantFrom('a b', 'ünï'), fc.integer())),
      event: mostly(word, fc.oneof(str, fc.integer())),
      profile: mostly(profile, fc.oneof(fc.constant(null), str)),
      properties: props,
      value: mostly(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.oneof(fc.double(), fc.constant('1'))),
      value_currency: mostly(fc.constantFrom('USD', 'EUR'), fc.constantFrom('usd', 'EURO', '')),
      backfill: mostly(fc.boolean(), fc.constant('yes')),
      time: fc.constantFrom('2026-01-01T00:00:00Z', 'yesterday'),
      colour: str,
    },
    { requiredKeys: ['event', 'profile'] },
  )
  .chain((e) =>
    fc.integer({ min: 0, max: 9 }).map((n) => {
      const { time: _t, colour: _c, ...rest } = e as Record<string, unknown>;
      return n === 0 ? e : rest;
    }),
  );

describe('event fast path', () => {
  it(`accepts only what EventSchema accepts unchanged (seed ${SEED})`, () => {
    let accepted = 0;
    fc.assert(
      fc.property(event, (e) => {
        if (!isPlainValidEvent(e)) return;
        accepted++;
        const z = EventSchema.safeParse(e);
        expect(z.success, JSON.stringify(e)).toBe(true);
        expect(z.data).toEqual(e);
      }),
      { seed: SEED, numRuns: 20_000 },
    );
    // The property would hold vacuously if the fast path accepted nothing.
    expect(accepted).toBeGreaterThan(100);
  });

  it('takes the common shapes, and leaves the rest to zod', () => {
    const ok = {
      id: 'evt_1',
      event: 'Placed Order',
      profile: { email: 'ada@example.com', first_name: 'Ada', properties: { plan: 'pro' } },
      properties: { OrderId: '1', Items: [{ sku: 'x' }] },
      value: 29.99,
      value_currency: 'USD',
      backfill: false,
    };
    expect(isPlainValidEvent(ok)).toBe(true);
    expect(isPlainValidEvent({ event: 'E', profile: { phone_number: '+15005550006' } })).toBe(true);
    for (const slower of [
      { ...ok, time: '2026-01-01T00:00:00Z' }, // valid, but the time rules are zod's
      { ...ok, profile: { ...ok.profile, email: ' ada@example.com' } }, // zod would trim it
      { ...ok, profile: { email: 'ada@example.com', location: { city: 'X' } } },
      { ...ok, properties: { ['__proto__']: 1 } },
    ]) {
      expect(isPlainValidEvent(slower)).toBe(false);
      expect(EventSchema.safeParse(slower).success).toBe(true);
    }
  });
});
