/**
 * Klaviyo's rules that the OpenAPI schemas cannot express, each from the operation's OAS text
 * (docs/klaviyo-and-maton.md §2):
 * - a profile needs ≥1 identifier (email, phone_number, external_id, anonymous_id, id);
 * - metric name 1–127 characters ("<128 chars");
 * - phone numbers in E.164; emails roughly valid;
 * - ≤400 event properties; any string ≤100 KB;
 * - event time after 1990 and at most one year ahead;
 * - bulk sizes (maxItems in endpoints.ts);
 * - bulk_create_events: a unique_id "repeated for the same profile and metric, the request will
 *   fail and no events will be processed";
 * - subscriptions: a channel needs its identifier; historical_import requires a past consented_at.
 * Every error names the offending value with a JSON pointer into the body.
 */
import { ENDPOINTS, KLAVIYO_LIMITS, type EndpointName } from '../klaviyo/endpoints.ts';
import { normalizeIdentifier } from './profile-store.ts';

export interface RuleError {
  pointer: string;
  detail: string;
}

type Obj = Record<string, unknown>;

export const E164 = /^\+[1-9]\d{1,14}$/;
// A domain with a dot that is neither its first nor its last character. Written so that only one
// way to match exists (the first dot after the first character): `[^\s@]+\.[^\s@]+` backtracks
// quadratically on a long domain, and in the sandbox this runs in the API process.
export const EMAIL = /^[^\s@]+@[^\s@][^\s@.]*\.[^\s@]+$/;
const MIN_EVENT_TIME = Date.UTC(1990, 0, 1);
const YEAR_MS = 365 * 24 * 3600 * 1000;

const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined);

function escapeToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Every string longer than 100 KB (UTF-8), wherever it is in the body. */
export function oversizedStrings(body: unknown, maxBytes: number = KLAVIYO_LIMITS.maxStringBytes): RuleError[] {
  const errors: RuleError[] = [];
  const path: string[] = [];
  const visit = (node: unknown): void => {
    if (typeof node === 'string') {
      // A UTF-16 code unit is at most 3 UTF-8 bytes, so short strings need no byte count.
      if (node.length * 3 > maxBytes && Buffer.byteLength(node, 'utf8') > maxBytes) {
        errors.push({ pointer: `/${path.map(escapeToken).join('/')}`, detail: `String exceeds the maximum size of ${maxBytes / 1024} KB.` });
      }
      return;
    }
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        path.push(String(i));
        visit(node[i]);
        path.pop();
      }
      return;
    }
    if (node !== null && typeof node === 'object') {
      for (const key in node as Obj) {
        path.push(key);
        visit((node as Obj)[key]);
        path.pop();
      }
    }
  };
  visit(body);
  return errors;
}

function checkEmailPhone(attrs: Obj, base: string, errors: RuleError[]): void {
  const email = attrs['email'];
  if (typeof email === 'string' && !EMAIL.test(email.trim())) {
    errors.push({ pointer: `${base}/email`, detail: `Invalid email address: ${JSON.stringify(email)}.` });
  }
  const phone = attrs['phone_number'];
  if (typeof phone === 'string' && !E164.test(phone)) {
    errors.push({ pointer: `${base}/phone_number`, detail: `Invalid phone number ${JSON.stringify(phone)}: must be E.164, e.g. +15005550006.` });
  }
}

/** An event's profile (`…/profile/data`): ≥1 identifier, valid email/phone. */
export function eventProfileErrors(data: Obj, base: string): RuleError[] {
  const errors: RuleError[] = [];
  const attrs = obj(data['attributes']);
  if (!str(data['id']) && !str(attrs['email']) && !str(attrs['phone_number']) && !str(attrs['external_id']) && !str(attrs['anonymous_id'])) {
    errors.push({
      pointer: `${base}/attributes`,
      detail: 'A profile identifier is required: one of id, email, phone_number, external_id or anonymous_id.',
    });
  }
  checkEmailPhone(attrs, `${base}/attributes`, errors);
  return errors;
}

/** A profile to create/import: ≥1 of the given identifier fields (and optionally `data.id`). */
export function profileIdentityErrors(data: Obj, base: string, fields: readonly string[], allowId: boolean): RuleError[] {
  const errors: RuleError[] = [];
  const attrs = obj(data['attributes']);
  if (!(allowId && str(data['id'])) && !fields.some((f) => str(attrs[f]))) {
    errors.push({
      pointer: `${base}/attributes`,
      detail: `A profile identifier is required: one of ${[...fields, ...(allowId ? ['id'] : [])].join(', ')}.`,
    });
  }
  checkEmailPhone(attrs, `${base}/attributes`, errors);
  return errors;
}

/** An event's own attributes (`…/attributes`): metric name, property count, time. */
export function eventErrors(attrs: Obj, base: string, now: number): RuleError[] {
  const errors: RuleError[] = [];
  const name = obj(obj(obj(attrs['metric'])['data'])['attributes'])['name'];
  if (typeof name === 'string') {
    const length = name.trim().length;
    if (length < 1 || name.length > KLAVIYO_LIMITS.maxMetricNameLength) {
      errors.push({
        pointer: `${base}/metric/data/attributes/name`,
        detail: `Metric name must be 1 to ${KLAVIYO_LIMITS.maxMetricNameLength} characters.`,
      });
    }
  }
  const props = attrs['properties'];
  if (props && typeof props === 'object' && Object.keys(props).length > KLAVIYO_LIMITS.maxEventProperties) {
    errors.push({ pointer: `${base}/properties`, detail: `An event may have at most ${KLAVIYO_LIMITS.maxEventProperties} properties.` });
  }
  const time = attrs['time'];
  if (typeof time === 'string') {
    const t = Date.parse(time);
    if (t <= MIN_EVENT_TIME) errors.push({ pointer: `${base}/time`, detail: 'Event time must be after 1990-01-01.' });
    else if (t > now + YEAR_MS) errors.push({ pointer: `${base}/time`, detail: 'Event time must be at most one year in the future.' });
  }
  return errors;
}

function tooMany(pointer: string, count: number, max: number, what: string): RuleError[] {
  return count > max ? [{ pointer, detail: `At most ${max} ${what} are allowed per request; got ${count}.` }] : [];
}

/** The profile a bulk entry refers to, for the in-request unique_id rule. */
function bulkProfileKey(profileData: Obj): string {
  const attrs = obj(profileData['attributes']);
  const id = str(profileData['id']);
  if (id) return `id:${id}`;
  for (const f of ['email', 'phone_number', 'external_id', 'anonymous_id'] as const) {
    const v = str(attrs[f]);
    if (v) return `${f}:${normalizeIdentifier(f, v)}`;
  }
  return '';
}

const BULK_EVENTS = '/data/attributes/events-bulk-create/data';

function bulkCreateEventsErrors(body: Obj, now: number): RuleError[] {
  const entries = arr(obj(obj(obj(body['data'])['attributes'])['events-bulk-create'])['data']);
  let total = 0;
  for (const entry of entries) total += arr(obj(obj(obj(entry)['attributes'])['events'])['data']).length;
  const errors = tooMany(BULK_EVENTS, total, ENDPOINTS.bulk_create_events.maxItems ?? Infinity, 'events');
  const seen = new Set<string>();
  entries.forEach((entry, i) => {
    const attrs = obj(obj(entry)['attributes']);
    const profileData = obj(obj(attrs['profile'])['data']);
    errors.push(...eventProfileErrors(profileData, `${BULK_EVENTS}/${i}/attributes/profile/data`));
    const profileKey = bulkProfileKey(profileData);
    arr(obj(attrs['events'])['data']).forEach((event, j) => {
      const base = `${BULK_EVENTS}/${i}/attributes/events/data/${j}/attributes`;
      const eventAttrs = obj(obj(event)['attributes']);
      errors.push(...eventErrors(eventAttrs, base, now));
      const uniqueId = eventAttrs['unique_id'];
      const metric = obj(obj(obj(eventAttrs['metric'])['data'])['attributes'])['name'];
      if (typeof uniqueId === 'string' && typeof metric === 'string' && profileKey) {
        const key = `${profileKey}\u0000${metric}\u0000${uniqueId}`;
        if (seen.has(key)) {
          errors.push({
            pointer: `${base}/unique_id`,
            detail: `unique_id ${JSON.stringify(uniqueId)} is repeated for the same profile and metric; no events were processed.`,
          });
        } else seen.add(key);
      }
    });
  });
  return errors;
}

const PROFILE_IDENTIFIERS = ['email', 'phone_number', 'external_id'] as const;

function subscriptionErrors(body: Obj, endpoint: 'bulk_subscribe_profiles' | 'bulk_unsubscribe_profiles', now: number): RuleError[] {
  const attrs = obj(obj(body['data'])['attributes']);
  const profiles = arr(obj(attrs['profiles'])['data']);
  const base = '/data/attributes/profiles/data';
  const errors = tooMany(base, profiles.length, ENDPOINTS[endpoint].maxItems ?? Infinity, 'profiles');
  const historical = attrs['historical_import'] === true;
  profiles.forEach((p, i) => {
    const data = obj(p);
    const pa = obj(data['attributes']);
    const itemBase = `${base}/${i}`;
    const canUseId = endpoint === 'bulk_subscribe_profiles';
    const before = errors.length;
    errors.push(...profileIdentityErrors(data, itemBase, ['email', 'phone_number'], canUseId));
    if (errors.length > before) return;
    const subs = obj(pa['subscriptions']);
    if (subs['email'] && !str(pa['email']) && !(canUseId && str(data['id']))) {
      errors.push({ pointer: `${itemBase}/attributes/email`, detail: 'An email address is required for email subscriptions.' });
    }
    if (subs['sms'] && !str(pa['phone_number']) && !(canUseId && str(data['id']))) {
      errors.push({ pointer: `${itemBase}/attributes/phone_number`, detail: 'A phone number is required for SMS subscriptions.' });
    }
    if (historical) {
      for (const channel of ['email', 'sms'] as const) {
        const marketing = obj(obj(subs[channel])['marketing']);
        if (!subs[channel] || !marketing['consent']) continue;
        const at = marketing['consented_at'];
        const pointer = `${itemBase}/attributes/subscriptions/${channel}/marketing/consented_at`;
        if (typeof at !== 'string') errors.push({ pointer, detail: 'consented_at is required when historical_import is true.' });
        else if (Date.parse(at) > now) errors.push({ pointer, detail: 'consented_at must be in the past.' });
      }
    }
  });
  return errors;
}

/** Semantic errors for a schema-valid body of `endpoint` (bulk import's per-profile rules live in its handler). */
export function semanticErrors(endpoint: EndpointName, body: unknown, now: number): RuleError[] {
  return [...oversizedStrings(body), ...endpointErrors(endpoint, body, now)];
}

function endpointErrors(endpoint: EndpointName, body: unknown, now: number): RuleError[] {
  const b = obj(body);
  const data = obj(b['data']);
  switch (endpoint) {
    case 'create_event': {
      const attrs = obj(data['attributes']);
      return [...eventProfileErrors(obj(obj(attrs['profile'])['data']), '/data/attributes/profile/data'), ...eventErrors(attrs, '/data/attributes', now)];
    }
    case 'bulk_create_events':
      return bulkCreateEventsErrors(b, now);
    case 'create_or_update_profile':
      return profileIdentityErrors(data, '/data', PROFILE_IDENTIFIERS, true);
    case 'create_profile':
      return profileIdentityErrors(data, '/data', PROFILE_IDENTIFIERS, false);
    case 'update_profile': {
      const errors: RuleError[] = [];
      checkEmailPhone(obj(data['attributes']), '/data/attributes', errors);
      return errors;
    }
    case 'bulk_import_profiles':
      return tooMany(
        '/data/attributes/profiles/data',
        arr(obj(obj(data['attributes'])['profiles'])['data']).length,
        ENDPOINTS.bulk_import_profiles.maxItems ?? Infinity,
        'profiles',
      );
    case 'add_profiles_to_list':
    case 'remove_profiles_from_list':
      return tooMany('/data', arr(b['data']).length, ENDPOINTS[endpoint].maxItems ?? Infinity, 'profiles');
    case 'bulk_subscribe_profiles':
    case 'bulk_unsubscribe_profiles':
      return subscriptionErrors(b, endpoint, now);
    // Per-code problems (a code that exists, an expiry in the past) fail only that code, in the job (handlers/coupons.ts).
    case 'bulk_create_coupon_codes':
      return tooMany(
        '/data/attributes/coupon-codes/data',
        arr(obj(obj(data['attributes'])['coupon-codes'])['data']).length,
        ENDPOINTS.bulk_create_coupon_codes.maxItems ?? Infinity,
        'coupon codes',
      );
    case 'bulk_suppress_profiles':
    case 'bulk_unsuppress_profiles':
      return tooMany(
        '/data/attributes/profiles/data',
        arr(obj(obj(obj(b['data'])['attributes'])['profiles'])['data']).length,
        ENDPOINTS[endpoint].maxItems ?? Infinity,
        'profiles',
      );
    default:
      return [];
  }
}
