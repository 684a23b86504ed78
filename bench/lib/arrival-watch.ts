/**
 * Arrival times for the priority benchmark, kept inside the simulator's process.
 *
 * A million-event drain runs the simulator without event bodies (`SIM_RETAIN=0`), so its state
 * cannot say when one particular event arrived, and dumping it once a second would cost more than
 * the drain. Instead this wraps the simulator's `fetch`: when Klaviyo's side has accepted a call
 * (2xx) that carries a benchmark live event (metric `LIVE_METRIC`, our id in the property
 * `LIVE_ID_PROPERTY`), or a subscribe, it notes the moment — the moment Klaviyo holds it — and which
 * call carried it. Only bodies that contain the marker are parsed, so a 1,000-event bulk call costs
 * one substring search. The benchmark reads the notes with `GET /__bench/arrivals?since=<seq>`.
 */
import type { SimAccount, Simulator } from '../../src/sim/index.ts';

/** Metric name of the benchmark's live events: nothing else sends it. */
export const LIVE_METRIC = 'Bench Live Ping';
/** Event property carrying the benchmark's own id for a live event (independent of `unique_id`). */
export const LIVE_ID_PROPERTY = 'bench_live_id';
/** Profile property the benchmark's bulk import sets: present once the import reached that profile. */
export const IMPORT_PROPERTY = 'bench_import';

export interface Arrival {
  seq: number;
  kind: 'event' | 'subscribe';
  /** Live event: our id; subscribe: the profile's email. */
  id: string;
  /** Simulator clock (epoch ms) when the call carrying it was accepted. */
  at: number;
  endpoint: 'create_event' | 'bulk_create_events' | 'bulk_subscribe_profiles';
  /** Which accepted call carried it (a counter), its item count and how many were benchmark live items. */
  call: number;
  callItems: number;
  callLiveItems: number;
  /** Subscribes: whether the bulk import had already reached this profile when the subscribe arrived. */
  imported?: boolean;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** `/klaviyo/api/events/` (gateway) or `/api/events` (direct) → `events`. */
function apiPath(pathname: string): string {
  return pathname
    .replace(/^\/klaviyo/, '')
    .replace(/^\/api\//, '')
    .replace(/\/+$/, '');
}

/** Live ids among an event's attributes, or undefined for any other event. */
function liveId(attrs: Obj): string | undefined {
  const metric = obj(obj(obj(attrs['metric'])['data'])['attributes'])['name'];
  if (metric !== LIVE_METRIC) return undefined;
  const id = obj(attrs['properties'])[LIVE_ID_PROPERTY];
  return typeof id === 'string' ? id : undefined;
}

export function watchArrivals(sim: Simulator): (req: Request) => Promise<Response> {
  const arrivals: Arrival[] = [];
  const seen = new Set<string>();
  /** Per account: how many subscription ops have been looked at. */
  const subCursor = new Map<SimAccount, number>();
  let seq = 0;
  let calls = 0;

  const note = (a: Omit<Arrival, 'seq'>): void => {
    const key = `${a.kind}\u0001${a.id}`;
    // The first acceptance is the arrival; a retry of a call already accepted is not.
    if (seen.has(key)) return;
    seen.add(key);
    arrivals.push({ seq: ++seq, ...a });
  };

  function noteEvents(endpoint: 'create_event' | 'bulk_create_events', text: string, at: number): void {
    if (!text.includes(LIVE_METRIC)) return;
    let body: Obj;
    try {
      body = obj(JSON.parse(text));
    } catch {
      return;
    }
    const attrsList: Obj[] = [];
    if (endpoint === 'create_event') attrsList.push(obj(obj(body['data'])['attributes']));
    else
      for (const entry of arr(obj(obj(obj(body['data'])['attributes'])['events-bulk-create'])['data']))
        for (const ev of arr(obj(obj(obj(entry)['attributes'])['events'])['data'])) attrsList.push(obj(obj(ev)['attributes']));
    const ids = attrsList.map(liveId).filter((x): x is string => x !== undefined);
    const call = ++calls;
    for (const id of ids) note({ kind: 'event', id, at, endpoint, call, callItems: attrsList.length, callLiveItems: ids.length });
  }

  /** Subscribes are read from the simulator's own record of them, right after the call applied them. */
  function noteSubscribes(at: number): void {
    for (const account of sim.state.accounts.values()) {
      const from = subCursor.get(account) ?? 0;
      const ops = account.subscriptionOps;
      const batch = ops.slice(from).filter((o) => o.kind === 'subscribe');
      subCursor.set(account, ops.length);
      const call = ++calls;
      for (const op of batch) {
        if (!op.email) continue;
        const profile = account.profiles.get(op.profileId);
        note({
          kind: 'subscribe',
          id: op.email,
          at,
          endpoint: 'bulk_subscribe_profiles',
          call,
          callItems: batch.length,
          callLiveItems: batch.length,
          imported: profile?.properties[IMPORT_PROPERTY] !== undefined,
        });
      }
    }
  }

  function benchRoute(url: URL): Response {
    if (url.pathname === '/__bench/arrivals') {
      const since = Number(url.searchParams.get('since') ?? 0);
      const account = sim.state.accounts.get(url.searchParams.get('account') ?? '');
      const stats = sim.stats();
      const body = {
        now: Date.now(),
        seq,
        // Arrivals are appended in seq order: the new ones are a suffix.
        arrivals: arrivals.slice(Math.max(0, Math.min(arrivals.length, since))),
        eventCount: account?.eventCount ?? 0,
        throttled: stats.throttled,
        byEndpoint: stats.requests.byEndpoint,
      };
      return Response.json(body);
    }
    if (url.pathname === '/__bench/imported') {
      const account = sim.state.accounts.get(url.searchParams.get('account') ?? '');
      const email = url.searchParams.get('email');
      if (email !== null) {
        const p = account ? sim.profileByEmail(account.id, email) : undefined;
        return Response.json({ imported: p?.properties[IMPORT_PROPERTY] !== undefined });
      }
      // O(profiles): asked about once a second while a profile import drains.
      let n = 0;
      for (const p of account?.profiles.values() ?? []) if (p.properties[IMPORT_PROPERTY] !== undefined) n++;
      return Response.json({ imported: n });
    }
    return Response.json({ error: `Not found: ${url.pathname}` }, { status: 404 });
  }

  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (url.pathname.startsWith('/__bench/')) return benchRoute(url);
    if (req.method !== 'POST') return sim.app.fetch(req);
    const path = apiPath(url.pathname);
    const endpoint =
      path === 'events'
        ? 'create_event'
        : path === 'event-bulk-create-jobs'
          ? 'bulk_create_events'
          : path === 'profile-subscription-bulk-create-jobs'
            ? 'bulk_subscribe_profiles'
            : undefined;
    if (!endpoint) return sim.app.fetch(req);
    const copy = endpoint === 'bulk_subscribe_profiles' ? undefined : req.clone();
    const res = await sim.app.fetch(req);
    const at = Date.now();
    if (res.status >= 300) {
      await copy?.body?.cancel();
      return res;
    }
    if (endpoint === 'bulk_subscribe_profiles') noteSubscribes(at);
    else noteEvents(endpoint, await copy!.text(), at);
    return res;
  };
}
