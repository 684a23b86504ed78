/**
 * Field issues from zod: a missing field says "is required", a field of the wrong type says what
 * was expected (zod 4 leaves `input` off its issues, which once made every wrong type "is required").
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { zodIssues } from '../../src/http/errors.ts';

const Schema = z.object({ id: z.string(), things: z.array(z.string()).optional(), profile: z.object({ email: z.string() }) }).strict();

function issuesOf(input: unknown, prefix: PropertyKey[] = []) {
  const r = Schema.safeParse(input);
  if (r.success) throw new Error('expected a failure');
  return zodIssues(r.error, prefix);
}

describe('zodIssues', () => {
  it('a missing field is required', () => {
    expect(issuesOf({ profile: { email: 'a@b.co' } })).toEqual([{ field: 'id', message: 'is required' }]);
    expect(issuesOf({ id: 'x', profile: {} }, ['events', 3])).toEqual([{ field: 'events[3].profile.email', message: 'is required' }]);
  });

  it('a field of the wrong type says what was expected, not that it is missing', () => {
    const [idIssue] = issuesOf({ id: 5, profile: { email: 'a@b.co' } });
    expect(idIssue?.field).toBe('id');
    expect(idIssue?.message).not.toBe('is required');
    expect(idIssue?.message).toMatch(/expected string/);
    const [thingsIssue] = issuesOf({ id: 'x', things: { a: 1 }, profile: { email: 'a@b.co' } });
    expect(thingsIssue).toEqual({ field: 'things', message: expect.stringMatching(/expected array/) });
    const [nullIssue] = issuesOf({ id: null, profile: { email: 'a@b.co' } });
    expect(nullIssue?.message).toMatch(/expected string, received null/);
  });

  it('unknown fields are named one by one', () => {
    expect(issuesOf({ id: 'x', profile: { email: 'a@b.co' }, a: 1, b: 2 })).toEqual([
      { field: 'a', message: 'is not a known field' },
      { field: 'b', message: 'is not a known field' },
    ]);
  });

  it('with reportInput, the input decides', () => {
    const r = Schema.safeParse({ id: 5, profile: { email: 'a@b.co' } }, { reportInput: true });
    expect(r.success).toBe(false);
    if (!r.success) expect(zodIssues(r.error)[0]?.message).toMatch(/expected string/);
  });
});
