/** Issue 16, the pure parts: recognising a person in stored JSON, and sealing payloads. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isSealed, PayloadCipher, PayloadKeyMissingError } from '../../src/payload-cipher.ts';
import { person, PersonMatcher, subjectOf } from '../../src/privacy/person.ts';

describe('PersonMatcher', () => {
  const m = new PersonMatcher([person('email', ' Ada@Example.COM '), person('phone_number', '+15005550006'), person('profile_id', '01HXYZ')]);
  it('finds an identifier as a whole token, any case for emails, and says whose', () => {
    expect(m.which(JSON.stringify({ profile: { email: 'ADA@example.com' } }))).toBe(0);
    expect(m.which(JSON.stringify({ note: 'write to ada@example.com, please' }))).toBe(0);
    expect(m.which(JSON.stringify({ note: 'Write to ada@example.com.' }))).toBe(0);
    expect(m.which(JSON.stringify({ phone_number: '+15005550006' }))).toBe(1);
    expect(m.which(JSON.stringify({ o: { member: { kid: '01HXYZ' } } }))).toBe(2);
  });
  it('never matches part of a longer token', () => {
    for (const other of ['bada@example.com', 'ada@example.com.au', 'ada@example.community', 'x.ada@example.com', '+150055500061', '+15005550006-2', '01HXYZA'])
      expect(m.which(JSON.stringify({ v: other }))).toBe(-1);
  });
  it('names a person by a stable hash, never the identifier', () => {
    const s = subjectOf(person('email', 'Ada@Example.com'));
    expect(s).toMatch(/^[0-9a-f]{32}$/);
    expect(s).toBe(subjectOf(person('email', ' ada@example.com')));
    expect(s).not.toBe(subjectOf(person('phone_number', 'ada@example.com')));
  });
});

describe('PayloadCipher', () => {
  const k1 = { id: 'k1', key: randomBytes(32) };
  const k2 = { id: 'k2', key: randomBytes(32) };
  it('seals with the first key (a fresh IV each time) and opens with any listed', () => {
    const value = { event: 'Placed Order', profile: { email: 'ada@example.com' } };
    const a = new PayloadCipher([k1]).seal(value);
    const b = new PayloadCipher([k1]).seal(value);
    expect(isSealed(a)).toBe(true);
    expect(a).toMatch(/^enc1\.k1\./);
    expect(a).not.toBe(b);
    expect(a).not.toContain('ada');
    expect(new PayloadCipher([k2, k1]).open(a)).toEqual(value);
    expect(new PayloadCipher([k2, k1]).seal(value)).toMatch(/^enc1\.k2\./);
  });
  it('refuses a payload whose key is not listed, or that was tampered with', () => {
    const sealed = new PayloadCipher([k1]).seal({ a: 1 });
    expect(() => new PayloadCipher([k2]).open(sealed)).toThrow(PayloadKeyMissingError);
    const raw = Buffer.from(sealed.slice('enc1.k1.'.length), 'base64url');
    raw[raw.length - 1] = raw[raw.length - 1]! ^ 1;
    expect(() => new PayloadCipher([k1]).open(`enc1.k1.${raw.toString('base64url')}`)).toThrow();
  });
});
