/**
 * The person an erasure is about, and how the relay recognises them in what it stores.
 *
 * Matching is on the identifier as a whole token of the stored JSON (an email inside free text
 * counts too), never as a bare substring: erasing `a@b.co` must not touch `aa@b.com`'s data.
 * Emails are matched case-insensitively (Klaviyo treats them so); phone numbers and Klaviyo ids as
 * given. Runs in linear time in the text (one indexOf pass per identifier).
 */
import { hash } from 'node:crypto';

export type ErasureField = 'email' | 'phone_number' | 'profile_id';

export interface Person {
  readonly field: ErasureField;
  /** Normalised: an email trimmed and lower-cased, others trimmed. */
  readonly value: string;
}

export function person(field: ErasureField, raw: string): Person {
  const v = raw.trim();
  return { field, value: field === 'email' ? v.toLowerCase() : v };
}

/**
 * What records about an erasure say instead of the identifier: a SHA-256 of the field and value
 * (16 bytes, hex). It lets an operator answer "was this person erased, and when" by hashing the
 * identifier again, without the record being a list of the people who asked to be forgotten.
 */
export function subjectOf(p: Person): string {
  return (hash('sha256', `${p.field}\n${p.value}`, 'hex') as string).slice(0, 32);
}

/** Characters that may continue an email, phone number or id: a match must not be part of a longer token. */
const TOKEN = /[A-Za-z0-9._%+'@-]/;

/** Whether `text` holds `needle` as a whole token. `text` lower-cased for emails by the caller. */
function holdsToken(text: string, needle: string): boolean {
  if (needle === '') return false;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + 1)) {
    const before = at > 0 ? text[at - 1]! : '';
    let end = at + needle.length;
    // A full stop ends a sentence as well as continuing a domain: "write to ada@example.com."
    if (text[end] === '.' && !TOKEN.test(text[end + 1] ?? '')) end++;
    const after = text[end] ?? '';
    if (!TOKEN.test(before) && (end > at + needle.length || !TOKEN.test(after))) return true;
  }
  return false;
}

/** Recognises any of several people in stored JSON; `which` says whose it is. */
export class PersonMatcher {
  constructor(readonly people: readonly Person[]) {}

  /** The index of the first person `json` mentions, or -1. */
  which(json: string): number {
    let lower: string | undefined;
    for (let i = 0; i < this.people.length; i++) {
      const p = this.people[i]!;
      if (p.field === 'email') lower ??= json.toLowerCase();
      if (holdsToken(p.field === 'email' ? lower! : json, p.value)) return i;
    }
    return -1;
  }
}
