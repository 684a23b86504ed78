/**
 * The priority benchmark's latency figures rest on the simulator's arrival notes
 * (bench/lib/arrival-watch.ts): a live event counts as arrived only when Klaviyo's side accepted a
 * call carrying it — not when a call was refused, and only once however often it is retried — and
 * a subscribe records whether the profile's import had been applied before it. Real simulator,
 * real sockets.
 */
import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IMPORT_PROPERTY, LIVE_ID_PROPERTY, LIVE_METRIC, watchArrivals, type Arrival } from '../../bench/lib/arrival-watch.ts';
import { createSimulator, type Simulator } from '../../src/sim/index.ts';
import { bulkBody, eventBody, gateway, subscribeBody } from '../sim/helpers.ts';

const ACCOUNT = 'bench-watch';
let sim: Simulator;
let server: Server;
let base: string;
let call: ReturnType<typeof gateway>;

beforeAll(async () => {
  // As the benchmark runs it: no event bodies kept, so only the notes can tell when an event arrived.
  sim = createSimulator({ retainEventBodies: false });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: watchArrivals(sim), port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
      base = `http://127.0.0.1:${info.port}`;
      resolve();
    }) as Server;
  });
  call = gateway(base, { connection: ACCOUNT });
});
afterAll(
  () =>
    new Promise<void>((done) => {
      sim.dispose();
      server.close(() => done());
      server.closeAllConnections();
    }),
);
async function notes(since = mark): Promise<{ seq: number; arrivals: Arrival[]; eventCount: number }> {
  return (await (await fetch(`${base}/__bench/arrivals?since=${since}&account=${ACCOUNT}`)).json()) as never;
}
/** Notes are the benchmark's, not the simulator's state: each test reads only those made after it began. */
let mark = 0;
beforeEach(async () => {
  sim.reset();
  mark = (await notes(0)).seq;
});

const live = (id: string, uniqueId = `u-${id}`) => ({ email: 'live@bench.example', metric: LIVE_METRIC, uniqueId, properties: { [LIVE_ID_PROPERTY]: id } });

describe('the priority benchmark: arrival notes', () => {
  it('notes a live event inside a bulk call, with the call it rode in, and no backlog event', async () => {
    const before = Date.now();
    const res = await call('/api/event-bulk-create-jobs', {
      body: bulkBody([
        { email: 'user1@example.com', events: [{ uniqueId: 'b1' }, { uniqueId: 'b2' }] },
        { email: 'live@bench.example', events: [live('L1')] },
        { email: 'user2@example.com', events: [{ uniqueId: 'b3' }] },
      ]),
    });
    expect(res.status).toBe(202);
    const n = await notes();
    expect(n.eventCount).toBe(4);
    expect(n.arrivals).toHaveLength(1);
    expect(n.arrivals[0]).toMatchObject({ kind: 'event', id: 'L1', endpoint: 'bulk_create_events', callItems: 4, callLiveItems: 1 });
    expect(n.arrivals[0]!.at).toBeGreaterThanOrEqual(before);
    expect(n.arrivals[0]!.at).toBeLessThanOrEqual(Date.now());
  });

  it('counts a live event as arrived only when a call carrying it is accepted, and only the first time', async () => {
    sim.faults.add({ match: { endpoint: 'create_event' }, status: 503, times: 1 });
    expect((await call('/api/events', { body: eventBody(live('L2')) })).status).toBe(503);
    expect((await notes()).arrivals).toEqual([]);

    const accepted = Date.now();
    expect((await call('/api/events', { body: eventBody(live('L2')) })).status).toBe(202);
    const answered = Date.now();
    await new Promise((r) => setTimeout(r, 20));
    // A retry of an accepted call (Klaviyo dedupes it) is not a later arrival.
    expect((await call('/api/events', { body: eventBody(live('L2')) })).status).toBe(202);
    const n = await notes();
    expect(n.arrivals).toHaveLength(1);
    expect(n.arrivals[0]).toMatchObject({ id: 'L2', endpoint: 'create_event', callItems: 1, callLiveItems: 1 });
    expect(n.arrivals[0]!.at).toBeGreaterThanOrEqual(accepted);
    expect(n.arrivals[0]!.at).toBeLessThanOrEqual(answered);
  });

  it('returns only the notes after `since`', async () => {
    await call('/api/events', { body: eventBody(live('L3')) });
    const first = await notes();
    await call('/api/events', { body: eventBody(live('L4')) });
    const next = await notes(first.seq);
    expect(next.arrivals.map((a) => a.id)).toEqual(['L4']);
  });

  it('records whether a subscribed profile had been imported when the subscribe arrived', async () => {
    await call('/api/profile-import', {
      body: { data: { type: 'profile', attributes: { email: 'imp1@import.bench.example', properties: { [IMPORT_PROPERTY]: 1 } } } },
    });
    const res = await call('/api/profile-subscription-bulk-create-jobs', {
      body: subscribeBody([{ email: 'imp1@import.bench.example' }, { email: 'imp2@import.bench.example' }], { listId: 'Bench1List' }),
    });
    expect(res.status).toBe(202);
    const byId = new Map((await notes()).arrivals.map((a) => [a.id, a]));
    expect(byId.get('imp1@import.bench.example')).toMatchObject({ kind: 'subscribe', endpoint: 'bulk_subscribe_profiles', imported: true });
    expect(byId.get('imp2@import.bench.example')).toMatchObject({ kind: 'subscribe', imported: false });

    const count = (await (await fetch(`${base}/__bench/imported?account=${ACCOUNT}`)).json()) as { imported: number };
    expect(count.imported).toBe(1);
    const one = (await (await fetch(`${base}/__bench/imported?account=${ACCOUNT}&email=imp2%40import.bench.example`)).json()) as { imported: boolean };
    expect(one.imported).toBe(false);
  });
});
