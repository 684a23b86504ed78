import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../src/sim/index.ts';
import { bulkBody, eventBody, fakeClock, gateway } from './helpers.ts';

let srv: RunningSimulator | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});

async function start(opts: SimulatorOptions) {
  srv = await startSimulator({ port: 0, ...opts });
  return srv;
}

describe('Klaviyo limits (per account × endpoint, fixed windows)', () => {
  it('answers the request over the burst with 429, Retry-After and Klaviyo’s body, changing nothing', async () => {
    const clock = fakeClock(300);
    const s = await start({ now: clock.now, limits: { endpoints: { create_event: { burst: 3, steady: 100 } } } });
    const call = gateway(s.url, { connection: 'acct' });
    for (let i = 0; i < 3; i++) expect((await call('/api/events', { body: eventBody({ uniqueId: `u${i}` }) })).status).toBe(202);

    const throttled = await call('/api/events', { body: eventBody({ uniqueId: 'u3' }) });
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('1');
    expect(throttled.headers.get('ratelimit-limit')).toBeNull();
    expect(throttled.json).toEqual({
      errors: [
        {
          id: expect.stringMatching(/^[0-9a-f-]{36}$/),
          status: 429,
          code: 'throttled',
          title: 'Request was throttled.',
          detail: 'Request was throttled. Expected available in 1 second.',
          source: {},
          links: {},
          meta: {},
        },
      ],
    });
    expect(s.sim.account('acct')!.eventCount).toBe(3);

    // Other endpoints and other accounts have their own windows.
    expect((await call('/api/profile-import', { body: { data: { type: 'profile', attributes: { email: 'x@example.com' } } } })).status).toBe(201);
    expect((await gateway(s.url, { connection: 'other' })('/api/events', { body: eventBody() })).status).toBe(202);

    clock.advance(1000);
    expect((await call('/api/events', { body: eventBody({ uniqueId: 'u3' }) })).status).toBe(202);
    expect(s.sim.account('acct')!.eventCount).toBe(4);
    expect(s.sim.stats().throttled).toEqual({ gateway: 0, klaviyo: 1 });
  });

  it('uses the endpoints.ts burst by default (bulk events: 10/s)', async () => {
    const clock = fakeClock();
    const s = await start({ now: clock.now });
    const call = gateway(s.url, { connection: 'acct' });
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++)
      statuses.push((await call('/api/event-bulk-create-jobs', { body: bulkBody([{ email: `b${i}@example.com`, events: [{}] }]) })).status);
    expect(statuses.filter((st) => st === 202)).toHaveLength(10);
    expect(statuses[10]).toBe(429);
  });

  it('applies the steady window with Retry-After until the minute ends', async () => {
    const clock = fakeClock(15_000); // 15 s into a minute
    const s = await start({ now: clock.now, limits: { endpoints: { create_event: { burst: 100, steady: 4 } } } });
    const call = gateway(s.url, { connection: 'acct' });
    for (let i = 0; i < 4; i++) {
      clock.advance(2000);
      expect((await call('/api/events', { body: eventBody({ uniqueId: `u${i}` }) })).status).toBe(202);
    }
    const res = await call('/api/events', { body: eventBody({ uniqueId: 'late' }) });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('37'); // 60 − 23 s
    expect(res.json.errors[0].detail).toBe('Request was throttled. Expected available in 37 seconds.');
    clock.advance(37_000);
    expect((await call('/api/events', { body: eventBody({ uniqueId: 'late' }) })).status).toBe(202);
  });

  it('reports RateLimit-Remaining from the tighter window', async () => {
    const clock = fakeClock();
    const s = await start({ now: clock.now, limits: { endpoints: { create_event: { burst: 5, steady: 7 } } } });
    const call = gateway(s.url, { connection: 'acct' });
    const remaining: string[] = [];
    for (let i = 0; i < 4; i++) {
      remaining.push((await call('/api/events', { body: eventBody({ uniqueId: `a${i}` }) })).headers.get('ratelimit-remaining') ?? '');
    }
    clock.advance(1000);
    for (let i = 0; i < 3; i++) {
      remaining.push((await call('/api/events', { body: eventBody({ uniqueId: `b${i}` }) })).headers.get('ratelimit-remaining') ?? '');
    }
    expect(remaining).toEqual(['4', '3', '2', '1', '2', '1', '0']);
  });

  it('counts without refusing when enforceLimits is false, and tracks peaks', async () => {
    const clock = fakeClock();
    const s = await start({ now: clock.now, enforceLimits: false, limits: { endpoints: { create_event: { burst: 2, steady: 100 } }, gatewayPerSecond: 2 } });
    const call = gateway(s.url, { key: 'key-1', connection: 'acct' });
    for (let i = 0; i < 5; i++) expect((await call('/api/events', { body: eventBody({ uniqueId: `u${i}` }) })).status).toBe(202);
    clock.advance(1000);
    for (let i = 0; i < 3; i++) expect((await call('/api/events', { body: eventBody({ uniqueId: `v${i}` }) })).status).toBe(202);
    const peaks = s.sim.stats().peaks;
    expect(peaks.klaviyo['acct']?.create_event).toEqual({ perSecond: 5, perMinute: 8, sentPerSecond: 5, sentPerMinute: 8 });
    expect(peaks.gateway['key-1']).toEqual({ perSecond: 5, sentPerSecond: 5 });
  });
});

describe('gateway limit (per Maton key, across connections)', () => {
  it('answers the 11th request in a second with a gateway-style 429', async () => {
    const clock = fakeClock();
    const s = await start({ now: clock.now });
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      // Spread over connections: the limit is per key, not per connection.
      const res = await gateway(s.url, { key: 'key-1', connection: `conn-${i % 3}` })('/api/events', { body: eventBody({ uniqueId: `u${i}` }) });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get('retry-after')).toBe('1');
        expect(res.json).toEqual({ error: 'Rate limit exceeded' });
      }
    }
    expect(statuses.slice(0, 10).every((st) => st === 202)).toBe(true);
    expect(statuses[10]).toBe(429);

    // Another Maton key has its own budget.
    expect((await gateway(s.url, { key: 'key-2', connection: 'conn-0' })('/api/events', { body: eventBody({ uniqueId: 'k2' }) })).status).toBe(202);

    const stats = s.sim.stats();
    expect(stats.throttled).toEqual({ gateway: 1, klaviyo: 0 });
    expect(stats.peaks.gateway['key-1']).toEqual({ perSecond: 10, sentPerSecond: 11 });
    const total = ['conn-0', 'conn-1', 'conn-2'].reduce((n, c) => n + (s.sim.account(c)?.eventCount ?? 0), 0);
    expect(total).toBe(11); // 10 from key-1 + 1 from key-2

    clock.advance(1000);
    expect((await gateway(s.url, { key: 'key-1', connection: 'conn-0' })('/api/events', { body: eventBody({ uniqueId: 'next' }) })).status).toBe(202);
  });

  it('honours a custom gatewayPerSecond', async () => {
    const clock = fakeClock();
    const s = await start({ now: clock.now, limits: { gatewayPerSecond: 2 } });
    const call = gateway(s.url, { connection: 'c' });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call('/api/events', { body: eventBody({ uniqueId: `${i}` }) })).status);
    expect(statuses).toEqual([202, 202, 429]);
  });
});
