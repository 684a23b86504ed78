/**
 * Where the items of a bulk request live, so errors can be reported one per item and a fault
 * can reject chosen items the way Klaviyo rejects a bulk request: whole, with a pointer per
 * offending item.
 */
import { CATALOG_BULK_ENDPOINTS, type EndpointName } from '../klaviyo/endpoints.ts';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const BULK_EVENTS = '/data/attributes/events-bulk-create/data';

const ITEM_PATTERNS: Partial<Record<EndpointName, RegExp[]>> = {
  bulk_create_events: [
    /^\/data\/attributes\/events-bulk-create\/data\/\d+\/attributes\/events\/data\/\d+(?=\/|$)/,
    /^\/data\/attributes\/events-bulk-create\/data\/\d+(?=\/|$)/,
  ],
  bulk_import_profiles: [/^\/data\/attributes\/profiles\/data\/\d+(?=\/|$)/],
  bulk_subscribe_profiles: [/^\/data\/attributes\/profiles\/data\/\d+(?=\/|$)/],
  bulk_unsubscribe_profiles: [/^\/data\/attributes\/profiles\/data\/\d+(?=\/|$)/],
  bulk_suppress_profiles: [/^\/data\/attributes\/profiles\/data\/\d+(?=\/|$)/],
  bulk_unsuppress_profiles: [/^\/data\/attributes\/profiles\/data\/\d+(?=\/|$)/],
  add_profiles_to_list: [/^\/data\/\d+(?=\/|$)/],
  ...Object.fromEntries(CATALOG_BULK_ENDPOINTS.map((e) => [e, [/^\/data\/attributes\/(?:items|variants|categories)\/data\/\d+(?=\/|$)/]])),
  remove_profiles_from_list: [/^\/data\/\d+(?=\/|$)/],
  bulk_create_coupon_codes: [/^\/data\/attributes\/coupon-codes\/data\/\d+(?=\/|$)/],
};

/** The pointer of the item `pointer` falls in (the pointer itself when not inside an item). */
export function itemOf(endpoint: EndpointName | undefined, pointer: string): string {
  for (const re of (endpoint && ITEM_PATTERNS[endpoint]) || []) {
    const m = re.exec(pointer);
    if (m) return m[0];
  }
  return pointer;
}

/** Keeps the first error of each item, so a bulk 400 lists each rejected item once. */
export function onePerItem<T>(
  endpoint: EndpointName | undefined,
  errors: T[],
  pointerOf: (e: T) => string | undefined = (e) => (e as { pointer?: string }).pointer,
): T[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const pointer = pointerOf(e);
    const key = pointer === undefined ? '' : itemOf(endpoint, pointer);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export interface MatchedItem {
  pointer: string;
  /** What matched, for the error detail. */
  label: string;
}

export interface ItemSelector {
  emails?: readonly string[] | undefined;
  metrics?: readonly string[] | undefined;
}

/**
 * Items of `body` whose profile email or metric name is selected. For list membership bodies
 * (profile ids only) `emailOfProfile` resolves ids to emails.
 */
export function selectItems(
  endpoint: EndpointName | undefined,
  body: unknown,
  selector: ItemSelector,
  emailOfProfile: (id: string) => string | null | undefined = () => undefined,
): MatchedItem[] {
  const emails = new Set((selector.emails ?? []).map((e) => e.trim().toLowerCase()));
  const metrics = new Set(selector.metrics ?? []);
  const emailHit = (v: unknown): v is string => typeof v === 'string' && emails.has(v.trim().toLowerCase());
  const metricHit = (v: unknown): v is string => typeof v === 'string' && metrics.has(v);
  const out: MatchedItem[] = [];
  const data = obj(obj(body)['data']);
  const attrs = obj(data['attributes']);
  const metricName = (eventAttrs: Obj): unknown => obj(obj(obj(eventAttrs['metric'])['data'])['attributes'])['name'];

  switch (endpoint) {
    case 'create_event': {
      const email = obj(obj(obj(attrs['profile'])['data'])['attributes'])['email'];
      if (emailHit(email)) out.push({ pointer: '/data/attributes/profile/data/attributes/email', label: `email ${email}` });
      else {
        const name = metricName(attrs);
        if (metricHit(name)) out.push({ pointer: '/data/attributes/metric/data/attributes/name', label: `metric ${name}` });
      }
      break;
    }
    case 'bulk_create_events':
      arr(obj(attrs['events-bulk-create'])['data']).forEach((entry, i) => {
        const entryAttrs = obj(obj(entry)['attributes']);
        const email = obj(obj(obj(entryAttrs['profile'])['data'])['attributes'])['email'];
        if (emailHit(email)) {
          out.push({ pointer: `${BULK_EVENTS}/${i}/attributes/profile/data/attributes/email`, label: `email ${email}` });
          return;
        }
        arr(obj(entryAttrs['events'])['data']).forEach((event, j) => {
          const name = metricName(obj(obj(event)['attributes']));
          if (metricHit(name)) {
            out.push({ pointer: `${BULK_EVENTS}/${i}/attributes/events/data/${j}/attributes/metric/data/attributes/name`, label: `metric ${name}` });
          }
        });
      });
      break;
    case 'create_or_update_profile':
    case 'create_profile':
    case 'update_profile':
      if (emailHit(attrs['email'])) out.push({ pointer: '/data/attributes/email', label: `email ${String(attrs['email'])}` });
      break;
    case 'bulk_import_profiles':
    case 'bulk_subscribe_profiles':
    case 'bulk_unsubscribe_profiles':
    case 'bulk_suppress_profiles':
    case 'bulk_unsuppress_profiles':
      arr(obj(attrs['profiles'])['data']).forEach((p, i) => {
        const email = obj(obj(p)['attributes'])['email'];
        if (emailHit(email)) out.push({ pointer: `/data/attributes/profiles/data/${i}/attributes/email`, label: `email ${email}` });
      });
      break;
    case 'add_profiles_to_list':
    case 'remove_profiles_from_list':
      arr(obj(body)['data']).forEach((ref, i) => {
        const id = obj(ref)['id'];
        const email = typeof id === 'string' ? emailOfProfile(id) : undefined;
        if (emailHit(email)) out.push({ pointer: `/data/${i}/id`, label: `profile ${String(id)} (${email})` });
      });
      break;
    default:
      break;
  }
  return out;
}
