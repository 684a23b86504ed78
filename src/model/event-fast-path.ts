/**
 * A fast path for validating the common event: ingest of 1,000-event requests spent a fifth of
 * its CPU in zod (and more in collecting the garbage of zod's output copies), measured with
 * --cpu-prof under `npm run bench`.
 *
 * The contract: `isPlainValidEvent(x)` returns true only when EventSchema would accept `x` and
 * return an equal value — so `x` can be used as is. Anything it is not sure of (a time, a
 * location, surrounding whitespace, an unusual field) returns false, and EventSchema decides and
 * words the errors. EventSchema stays the one definition; this is a shortcut through it, and
 * test/unit/event-fast-path.test.ts checks the contract on random and hand-picked inputs.
 */
import { z } from 'zod';
import { KLAVIYO_LIMITS } from '../klaviyo/endpoints.ts';
import { checkJsonValue } from './json-limits.ts';
import { PHONE_E164 } from './profile-fields.ts';

const EVENT_KEYS = new Set(['id', 'event', 'profile', 'properties', 'value', 'value_currency', 'backfill']);
const PROFILE_KEYS = new Set(['email', 'phone_number', 'external_id', 'anonymous_id', 'first_name', 'last_name', 'organization', 'title', 'properties']);
const ID = /^[\x21-\x7e]{1,255}$/;
const CURRENCY = /^[A-Z]{3}$/;
const EMAIL = z.regexes.email;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
/** A string zod's `.trim()` would leave unchanged. */
const trimmed = (s: string) => s.length > 0 && s.trim().length === s.length;

function plainProperties(v: unknown): boolean {
  if (!isPlainObject(v)) return false;
  let n = 0;
  for (const k in v) {
    // zod copies records key by key, and assigning `__proto__` would not make a property: leave that to zod.
    if (k.length === 0 || k.length > 1024 || k === '__proto__') return false;
    n++;
  }
  return n <= KLAVIYO_LIMITS.maxEventProperties && checkJsonValue(v).length === 0;
}

function plainProfile(p: unknown): boolean {
  if (!isPlainObject(p)) return false;
  let identified = false;
  for (const k in p) {
    if (!PROFILE_KEYS.has(k)) return false;
    const v = p[k];
    switch (k) {
      case 'email':
        if (typeof v !== 'string' || v.length > 254 || !trimmed(v) || !EMAIL.test(v)) return false;
        identified = true;
        break;
      case 'phone_number':
        if (typeof v !== 'string' || !PHONE_E164.test(v)) return false;
        identified = true;
        break;
      case 'external_id':
      case 'anonymous_id':
        if (typeof v !== 'string' || v.length > 255 || !trimmed(v)) return false;
        identified = true;
        break;
      case 'properties':
        if (!plainProperties(v)) return false;
        break;
      default: // first_name, last_name, organization, title
        if (typeof v !== 'string' || v.length > 255) return false;
    }
  }
  return identified;
}

export function isPlainValidEvent(x: unknown): boolean {
  if (!isPlainObject(x)) return false;
  let hasEvent = false;
  let hasProfile = false;
  for (const k in x) {
    if (!EVENT_KEYS.has(k)) return false;
    const v = x[k];
    switch (k) {
      case 'id':
        if (typeof v !== 'string' || !ID.test(v)) return false;
        break;
      case 'event':
        if (typeof v !== 'string' || v.length > KLAVIYO_LIMITS.maxMetricNameLength || !trimmed(v)) return false;
        hasEvent = true;
        break;
      case 'profile':
        if (!plainProfile(v)) return false;
        hasProfile = true;
        break;
      case 'properties':
        if (!plainProperties(v)) return false;
        break;
      case 'value':
        if (typeof v !== 'number' || !Number.isFinite(v)) return false;
        break;
      case 'value_currency':
        if (typeof v !== 'string' || !CURRENCY.test(v)) return false;
        break;
      case 'backfill':
        if (typeof v !== 'boolean') return false;
        break;
    }
  }
  return hasEvent && hasProfile;
}
