/**
 * Issue 13 item 3: finding work by the caller's id covers every kind of item, whatever key the
 * ingest derived for it — an order's every line (orders allow 500), list membership and consent
 * changes. API only (no workers): the jobs stay queued, so what find answers is the job itself.
 * Real Redis, real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELAY_SOURCE, startHarness, type Harness } from '../support/harness.ts';

const ADMIN = 'find-by-id-admin-token';
const tag = Math.random().toString(36).slice(2, 8);
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ name: 'findid', workers: false, env: { RELAY_ADMIN_TOKEN: ADMIN } });
});
afterAll(async () => {
  await h?.close();
});

interface Found {
  ref?: string;
  queue: string;
  jobId?: string;
  state: string;
  via: string;
}
const find = async (id: string): Promise<Found[]> => {
  const res = await fetch(`${h.service.url}/ops/find?id=${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { jobs: Found[] }).jobs;
};

describe('find by id', () => {
  it("finds the job that carries an order's 120th line (an order of 500 lines)", async () => {
    const id = `order-${tag}`;
    const items = Array.from({ length: 500 }, (_, i) => ({ product_id: `p${i}`, name: `Product ${i}`, quantity: 1, price: 1 }));
    const posted = await h.post('/v1/orders', { id, profile: { email: `${id}@example.com` }, value: 500, currency: 'USD', items });
    expect(posted).toMatchObject({ status: 202, body: { accepted: 1, events: 501 } });

    // The job that carries line 120 (index 119), as the queue holds it.
    const queue = h.queue('events');
    const jobs = await queue.getJobs(['waiting', 'prioritized']);
    const carrier = jobs.find((j) => (j.data.items as { id: string }[]).some((it) => it.id === `${id}#line:119`));
    expect(carrier?.id).toBeDefined();

    const found = await find(id);
    expect(found.map((f) => f.ref)).toContain(`events.default.live.${RELAY_SOURCE}/${carrier!.id}`);
    // Every job of the order: 501 events, 100 per job.
    expect(new Set(found.map((f) => f.ref)).size).toBe(6);
    expect(found.every((f) => f.via === 'id' && f.state === 'waiting')).toBe(true);
    // The line's own item id finds it too.
    expect((await find(`${id}#line:119`)).map((f) => f.ref)).toEqual([`events.default.live.${RELAY_SOURCE}/${carrier!.id}`]);
  });

  it('finds a list subscribe, and a list membership change, by the request id', async () => {
    const sub = `sub-${tag}`;
    const posted = await h.post('/v1/lists/LIST123/members', {
      id: sub,
      profiles: [{ email: `${sub}@example.com` }, { phone_number: '+15005550006', email: `${sub}-2@example.com` }],
      consent: { email: true },
      source: 'Checkout',
    });
    expect(posted).toMatchObject({ status: 202, body: { accepted: 2, id: sub } });
    const found = await find(sub);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ queue: `profiles.default.live.${RELAY_SOURCE}`, state: 'waiting' });
    const job = await h.queue('profiles').getJob(found[0]!.jobId!);
    expect((job!.data.items as { id: string; o: { op: string } }[]).map((it) => [it.id, it.o.op])).toEqual([
      [sub, 'subscribe'],
      [sub, 'subscribe'],
    ]);

    const removal = `remove-${tag}`;
    expect((await h.post('/v1/lists/LIST123/members', { id: removal, profiles: [{ external_id: `x-${tag}` }] }, { method: 'DELETE' })).status).toBe(202);
    expect((await find(removal)).map((f) => f.queue)).toEqual([`profiles.default.live.${RELAY_SOURCE}`]);
  });
});
