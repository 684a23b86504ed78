/** Request builders shared by the simulator tests (plain fetch over real sockets). */
export const REVISION = '2026-07-15';
export const JSON_API = 'application/vnd.api+json';

export interface CallOptions {
  method?: string;
  body?: unknown;
  /** Replaces the default headers entirely when given as `raw`. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

async function call(url: string, headers: Record<string, string>, opts: CallOptions): Promise<CallResult> {
  const init: RequestInit = { method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'), headers: { ...headers, ...opts.headers } };
  if (opts.body !== undefined) init.body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  if (opts.signal) init.signal = opts.signal;
  const res = await fetch(url, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Through the fake Maton gateway: `${base}/klaviyo${path}`. */
export function gateway(base: string, opts: { key?: string; connection?: string } = {}) {
  const headers: Record<string, string> = {
    authorization: `Bearer ${opts.key ?? 'maton-test-key'}`,
    revision: REVISION,
    'content-type': JSON_API,
    accept: JSON_API,
  };
  if (opts.connection !== undefined) headers['maton-connection'] = opts.connection;
  return (path: string, o: CallOptions = {}) => call(`${base}/klaviyo${path}`, headers, o);
}

/** Straight to the fake Klaviyo: `${base}${path}` with a private key. */
export function direct(base: string, key = 'pk_test_direct') {
  const headers: Record<string, string> = {
    authorization: `Klaviyo-API-Key ${key}`,
    revision: REVISION,
    'content-type': JSON_API,
    accept: JSON_API,
  };
  return (path: string, o: CallOptions = {}) => call(`${base}${path}`, headers, o);
}

export function raw(url: string, opts: CallOptions & { headers: Record<string, string> }) {
  return call(url, {}, opts);
}

export interface EventSpec {
  email?: string;
  phone?: string;
  metric?: string;
  uniqueId?: string;
  time?: string;
  properties?: Record<string, unknown>;
  value?: number;
}

const metricRef = (name: string) => ({ data: { type: 'metric', attributes: { name } } });

function profileAttrs(e: EventSpec): Record<string, unknown> {
  const attrs: Record<string, unknown> = {};
  if (e.email !== undefined) attrs['email'] = e.email;
  if (e.phone !== undefined) attrs['phone_number'] = e.phone;
  return attrs;
}

function eventAttrs(e: EventSpec): Record<string, unknown> {
  const attrs: Record<string, unknown> = { properties: e.properties ?? {}, metric: metricRef(e.metric ?? 'Placed Order') };
  if (e.uniqueId !== undefined) attrs['unique_id'] = e.uniqueId;
  if (e.time !== undefined) attrs['time'] = e.time;
  if (e.value !== undefined) attrs['value'] = e.value;
  return attrs;
}

export function eventBody(e: EventSpec = {}) {
  const spec = { email: 'ada@example.com', ...e };
  return {
    data: {
      type: 'event',
      attributes: { ...eventAttrs(spec), profile: { data: { type: 'profile', attributes: profileAttrs(spec) } } },
    },
  };
}

/** One bulk entry per profile group: `[{ email, events: [...] }]`. */
export function bulkBody(groups: { email?: string; phone?: string; events: EventSpec[] }[]) {
  return {
    data: {
      type: 'event-bulk-create-job',
      attributes: {
        'events-bulk-create': {
          data: groups.map((g) => ({
            type: 'event-bulk-create',
            attributes: {
              profile: { data: { type: 'profile', attributes: profileAttrs(g) } },
              events: { data: g.events.map((e) => ({ type: 'event', attributes: eventAttrs(e) })) },
            },
          })),
        },
      },
    },
  };
}

export function profileImportBody(attributes: Record<string, unknown>, id?: string) {
  return { data: { type: 'profile', ...(id ? { id } : {}), attributes } };
}

export function subscribeBody(profiles: { email?: string; phone?: string; channels?: ('email' | 'sms')[] }[], opts: { listId?: string; source?: string } = {}) {
  return {
    data: {
      type: 'profile-subscription-bulk-create-job',
      attributes: {
        ...(opts.source ? { custom_source: opts.source } : {}),
        profiles: {
          data: profiles.map((p) => ({
            type: 'profile',
            attributes: {
              ...(p.email ? { email: p.email } : {}),
              ...(p.phone ? { phone_number: p.phone } : {}),
              subscriptions: Object.fromEntries((p.channels ?? ['email']).map((c) => [c, { marketing: { consent: 'SUBSCRIBED' } }])),
            },
          })),
        },
      },
      ...(opts.listId ? { relationships: { list: { data: { type: 'list', id: opts.listId } } } } : {}),
    },
  };
}

export function unsubscribeBody(profiles: { email?: string; phone?: string; channels?: ('email' | 'sms')[] }[], opts: { listId?: string } = {}) {
  return {
    data: {
      type: 'profile-subscription-bulk-delete-job',
      attributes: {
        profiles: {
          data: profiles.map((p) => ({
            type: 'profile',
            attributes: {
              ...(p.email ? { email: p.email } : {}),
              ...(p.phone ? { phone_number: p.phone } : {}),
              subscriptions: Object.fromEntries((p.channels ?? ['email']).map((c) => [c, { marketing: { consent: 'UNSUBSCRIBED' } }])),
            },
          })),
        },
      },
      ...(opts.listId ? { relationships: { list: { data: { type: 'list', id: opts.listId } } } } : {}),
    },
  };
}

export function listMembersBody(ids: string[]) {
  return { data: ids.map((id) => ({ type: 'profile', id })) };
}

/** A controllable clock starting `offsetMs` into a fixed second. */
export function fakeClock(offsetMs = 100) {
  let t = Date.UTC(2026, 10, 27, 12, 0, 0) + offsetMs;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
    set(ms: number) {
      t = ms;
    },
  };
}
