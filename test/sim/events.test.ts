import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../src/sim/index.ts';
import { bulkBody, eventBody, gateway } from './helpers.ts';

let srv: RunningSimulator;
let call: ReturnType<typeof gateway>;
const ACCOUNT = 'conn-events';

beforeAll(async () => {
  srv = await startSimulator({ port: 0 });
  call = gateway(srv.url, { connection: ACCOUNT });
});
afterAll(() => srv.close());
beforeEach(() => srv.sim.reset());

const T = '2026-11-20T10:00:00+00:00';
const T_SAME_SECOND = '2026-11-20T10:00:00.600+00:00';

describe('create_event', () => {
  it('answers 202 with an empty body, records the event and creates the profile', async () => {
    const res = await call('/api/events', {
      body: eventBody({ email: 'Ada@Example.com', uniqueId: 'o-1', time: T, value: 9.99, properties: { OrderId: '1' } }),
    });
    expect(res.status).toBe(202);
    expect(res.text).toBe('');
    const [event] = srv.sim.eventsFor(ACCOUNT, { email: 'ada@example.com' });
    expect(event).toMatchObject({ metric: 'Placed Order', uniqueId: 'o-1', time: T, value: 9.99, properties: { OrderId: '1' }, via: 'create_event' });
    const profile = srv.sim.profileByEmail(ACCOUNT, 'ada@example.com');
    expect(profile?.id).toBe(event?.profileId);
  });

  it('dedupes the same unique_id for the same profile and metric', async () => {
    expect((await call('/api/events', { body: eventBody({ uniqueId: 'same', time: T }) })).status).toBe(202);
    expect((await call('/api/events', { body: eventBody({ uniqueId: 'same', time: T }) })).status).toBe(202);
    const account = srv.sim.account(ACCOUNT)!;
    expect(account.eventCount).toBe(1);
    expect(account.duplicateEvents).toBe(1);
  });

  it('keeps two events with different unique_ids in the same second', async () => {
    await call('/api/events', { body: eventBody({ uniqueId: 'a', time: T }) });
    await call('/api/events', { body: eventBody({ uniqueId: 'b', time: T_SAME_SECOND }) });
    expect(srv.sim.account(ACCOUNT)!.eventCount).toBe(2);
    expect(srv.sim.account(ACCOUNT)!.duplicateEvents).toBe(0);
  });

  it('without unique_id keeps only one event per profile, metric and second', async () => {
    await call('/api/events', { body: eventBody({ time: T }) });
    await call('/api/events', { body: eventBody({ time: T_SAME_SECOND }) });
    await call('/api/events', { body: eventBody({ time: T, metric: 'Viewed Product' }) });
    await call('/api/events', { body: eventBody({ time: T, email: 'other@example.com' }) });
    const account = srv.sim.account(ACCOUNT)!;
    expect(account.eventCount).toBe(3);
    expect(account.duplicateEvents).toBe(1);
  });

  it('the same unique_id on a different metric or profile is a different event', async () => {
    await call('/api/events', { body: eventBody({ uniqueId: 'x' }) });
    await call('/api/events', { body: eventBody({ uniqueId: 'x', metric: 'Ordered Product' }) });
    await call('/api/events', { body: eventBody({ uniqueId: 'x', email: 'bob@example.com' }) });
    expect(srv.sim.account(ACCOUNT)!.eventCount).toBe(3);
  });

  it('applies the semantic rules with pointers', async () => {
    const cases: [Parameters<typeof eventBody>[0], string][] = [
      [{ metric: 'x'.repeat(128) }, '/data/attributes/metric/data/attributes/name'],
      [{ metric: '' }, '/data/attributes/metric/data/attributes/name'],
      [{ phone: '555-1234', email: undefined as unknown as string }, '/data/attributes/profile/data/attributes/phone_number'],
      [{ email: 'not-an-email' }, '/data/attributes/profile/data/attributes/email'],
      [{ time: '1989-12-31T23:59:59+00:00' }, '/data/attributes/time'],
      [{ time: '2099-01-01T00:00:00+00:00' }, '/data/attributes/time'],
      [{ time: 'yesterday' }, '/data/attributes/time'],
      [{ properties: Object.fromEntries(Array.from({ length: 401 }, (_, i) => [`k${i}`, i])) }, '/data/attributes/properties'],
      [{ properties: { blob: 'x'.repeat(100 * 1024 + 1) } }, '/data/attributes/properties/blob'],
    ];
    for (const [spec, pointer] of cases) {
      const res = await call('/api/events', { body: eventBody(spec) });
      expect(res.status, pointer).toBe(400);
      expect(res.json.errors.map((e: { source: { pointer: string } }) => e.source.pointer)).toContain(pointer);
      expect(res.json.errors[0].code).toBe('invalid');
    }
    expect(srv.sim.account(ACCOUNT)).toBeUndefined();
  });

  it('requires a profile identifier', async () => {
    const body = eventBody();
    body.data.attributes.profile.data.attributes = { first_name: 'Ada' } as never;
    const res = await call('/api/events', { body });
    expect(res.status).toBe(400);
    expect(res.json.errors[0].source.pointer).toBe('/data/attributes/profile/data/attributes');
  });

  it('updates the profile from the event attributes', async () => {
    const body = eventBody({ email: 'ada@example.com' });
    Object.assign(body.data.attributes.profile.data.attributes, { first_name: 'Ada', properties: { plan: 'pro' } });
    await call('/api/events', { body });
    const profile = srv.sim.profileByEmail(ACCOUNT, 'ada@example.com');
    expect(profile?.attributes.first_name).toBe('Ada');
    expect(profile?.properties).toEqual({ plan: 'pro' });
  });
});

describe('bulk_create_events', () => {
  const E = '/data/attributes/events-bulk-create/data';

  it('applies every event of a valid request (202, empty body)', async () => {
    const res = await call('/api/event-bulk-create-jobs', {
      body: bulkBody([
        { email: 'a@example.com', events: [{ uniqueId: '1' }, { uniqueId: '2', metric: 'Ordered Product' }] },
        { phone: '+15005550006', events: [{ uniqueId: '3' }] },
      ]),
    });
    expect(res.status).toBe(202);
    expect(res.text).toBe('');
    expect(srv.sim.account(ACCOUNT)!.eventCount).toBe(3);
    expect(srv.sim.eventsFor(ACCOUNT, { email: 'a@example.com' }).map((e) => e.uniqueId)).toEqual(['1', '2']);
    expect(srv.sim.eventsFor(ACCOUNT).every((e) => e.via === 'bulk_create_events')).toBe(true);
  });

  it('rejects the whole request when one item is invalid, naming that item', async () => {
    const res = await call('/api/event-bulk-create-jobs', {
      body: bulkBody([
        { email: 'a@example.com', events: [{ uniqueId: '1' }] },
        { email: 'b@example.com', events: [{ uniqueId: '2' }, { uniqueId: '3', time: '1980-01-01T00:00:00+00:00' }] },
        { email: 'c@example.com', events: [{ uniqueId: '4', metric: 'm'.repeat(200) }] },
      ]),
    });
    expect(res.status).toBe(400);
    const pointers = res.json.errors.map((e: { source: { pointer: string } }) => e.source.pointer);
    expect(pointers).toEqual([`${E}/1/attributes/events/data/1/attributes/time`, `${E}/2/attributes/events/data/0/attributes/metric/data/attributes/name`]);
    expect(srv.sim.account(ACCOUNT)).toBeUndefined();
  });

  it('reports a schema error at the item it belongs to', async () => {
    const body = bulkBody([{ email: 'a@example.com', events: [{ uniqueId: '1' }, { uniqueId: '2' }] }]);
    (body.data.attributes['events-bulk-create'].data[0]!.attributes.events.data[1]!.attributes as Record<string, unknown>)['value'] = 'ten';
    const res = await call('/api/event-bulk-create-jobs', { body });
    expect(res.status).toBe(400);
    expect(res.json.errors).toHaveLength(1);
    expect(res.json.errors[0].source.pointer).toBe(`${E}/0/attributes/events/data/1/attributes/value`);
  });

  it('fails the whole request when a unique_id repeats for the same profile and metric', async () => {
    const res = await call('/api/event-bulk-create-jobs', {
      body: bulkBody([
        { email: 'a@example.com', events: [{ uniqueId: 'dup' }, { uniqueId: 'ok' }] },
        { email: 'A@example.com', events: [{ uniqueId: 'dup' }] },
      ]),
    });
    expect(res.status).toBe(400);
    expect(res.json.errors).toHaveLength(1);
    expect(res.json.errors[0].source.pointer).toBe(`${E}/1/attributes/events/data/0/attributes/unique_id`);
    expect(srv.sim.account(ACCOUNT)).toBeUndefined();
  });

  it('allows the same unique_id for different metrics in one request', async () => {
    const res = await call('/api/event-bulk-create-jobs', {
      body: bulkBody([
        {
          email: 'a@example.com',
          events: [
            { uniqueId: 'o-1', metric: 'Placed Order' },
            { uniqueId: 'o-1', metric: 'Ordered Product' },
          ],
        },
      ]),
    });
    expect(res.status).toBe(202);
    expect(srv.sim.account(ACCOUNT)!.eventCount).toBe(2);
  });

  it('refuses more than 1000 events in one request', async () => {
    const events = Array.from({ length: 1001 }, (_, i) => ({ uniqueId: `u${i}` }));
    const res = await call('/api/event-bulk-create-jobs', { body: bulkBody([{ email: 'a@example.com', events }]) });
    expect(res.status).toBe(400);
    expect(res.json.errors[0].source.pointer).toBe(E);
    const ok = await call('/api/event-bulk-create-jobs', { body: bulkBody([{ email: 'a@example.com', events: events.slice(0, 1000) }]) });
    expect(ok.status).toBe(202);
    expect(srv.sim.account(ACCOUNT)!.eventCount).toBe(1000);
  });

  it('dedupes against events already stored', async () => {
    await call('/api/events', { body: eventBody({ email: 'a@example.com', uniqueId: 'seen' }) });
    await call('/api/event-bulk-create-jobs', { body: bulkBody([{ email: 'a@example.com', events: [{ uniqueId: 'seen' }, { uniqueId: 'new' }] }]) });
    expect(srv.sim.account(ACCOUNT)!.eventCount).toBe(2);
    expect(srv.sim.account(ACCOUNT)!.duplicateEvents).toBe(1);
  });
});

describe('retainEventBodies: false', () => {
  it('keeps counts and dedupe but no event bodies', async () => {
    const lean = await startSimulator({ port: 0, retainEventBodies: false });
    try {
      const c = gateway(lean.url, { connection: 'lean' });
      await c('/api/events', { body: eventBody({ uniqueId: 'a' }) });
      await c('/api/events', { body: eventBody({ uniqueId: 'a' }) });
      await c('/api/events', { body: eventBody({ uniqueId: 'b' }) });
      const account = lean.sim.account('lean')!;
      expect(account.eventCount).toBe(2);
      expect(account.duplicateEvents).toBe(1);
      expect(account.events).toEqual([]);
      expect(lean.sim.requests()[0]?.body).toBeUndefined();
    } finally {
      await lean.close();
    }
  });
});
