/**
 * Issue #2's must-show, end to end: HTTP → Redis (BullMQ) → worker → the simulator over a real
 * socket, standing in for the Maton gateway.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { validateRequestBody } from '../../src/klaviyo/openapi/validate.ts';
import { eventKey, jobIdForItems } from '../../src/item-keys.ts';
import { sourceIdForKey } from '../../src/sources.ts';
import { waitUntil } from '../support/wait.ts';
import { CONNECTION, MATON_KEY, RELAY_KEY, startHarness, type Harness } from '../support/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ name: 'events' });
});
afterAll(async () => {
  await h?.close();
});
beforeEach(() => {
  h.sim.faults.clear();
});

const src = sourceIdForKey(RELAY_KEY);
const jobFor = (id: string) => h.queue('events').getJob(jobIdForItems('events', [eventKey(src, id)]));
const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 10)}`;

describe('POST /v1/events → Klaviyo', () => {
  it('delivers an event exactly once, with the gateway headers and an OpenAPI-valid body', async () => {
    const id = uniq('evt');
    const email = `${id}@example.com`;
    const res = await h.post('/v1/events', {
      id,
      event: 'Placed Order',
      profile: { email, first_name: 'Ada', properties: { plan: 'pro' } },
      properties: { OrderId: id, Items: ['a', 'b'] },
      value: 29.99,
      value_currency: 'USD',
      time: '2026-11-01T10:00:00Z',
    });
    expect(res).toEqual({ status: 202, body: { accepted: 1, ids: [id], duplicates: 0 } });

    const events = await waitUntil(
      'the event delivered',
      () => {
        const e = h.sim.eventsFor(CONNECTION, { email });
        return e.length > 0 && e;
      },
      { timeoutMs: 10_000 },
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ metric: 'Placed Order', value: 29.99, valueCurrency: 'USD', uniqueId: eventKey(src, id), properties: { OrderId: id } });

    const calls = h.sim.requests({ account: CONNECTION }).filter((r) => JSON.stringify(r.body ?? '').includes(email));
    expect(calls).toHaveLength(1);
    const call = calls[0]!;
    expect(call.path).toMatch(/^\/klaviyo\/api\//);
    expect(call.headers.authorization).toBe(`Bearer ${MATON_KEY}`);
    expect(call.headers['maton-connection']).toBe(CONNECTION);
    expect(call.headers.revision).toBe('2026-07-15');
    expect(call.headers['content-type']).toBe('application/vnd.api+json');
    const operation = call.endpoint === 'bulk_create_events' ? 'bulk_create_events' : 'create_event';
    expect(validateRequestBody(operation, call.body)).toEqual({ ok: true });

    const job = await jobFor(id);
    expect(await job?.getState()).toBe('completed');
  });

  it('the same request posted twice is one job and one event', async () => {
    const id = uniq('dup');
    const email = `${id}@example.com`;
    const body = { id, event: 'Started Checkout', profile: { email } };
    const first = await h.post('/v1/events', body);
    const second = await h.post('/v1/events', body);
    expect(first.body).toMatchObject({ accepted: 1, duplicates: 0 });
    expect(second).toEqual({ status: 202, body: { accepted: 1, ids: [id], duplicates: 1 } });
    await waitUntil('the event delivered', () => h.sim.eventsFor(CONNECTION, { email }).length > 0, { timeoutMs: 10_000 });
    // Give a (wrong) second job every chance to show up before asserting there is none.
    await new Promise((r) => setTimeout(r, 500));
    expect(h.sim.eventsFor(CONNECTION, { email })).toHaveLength(1);
    expect(h.sim.requests().filter((r) => JSON.stringify(r.body ?? '').includes(email))).toHaveLength(1);
    const counts = await h.queue('events').getJobCounts('completed', 'waiting', 'active', 'delayed', 'failed');
    // One job (its id follows its items), completed; once completed it keeps no payload (issue 18),
    // and no other job carries the event.
    const job = await waitUntil('the completed job without its payload', async () => {
      const j = await jobFor(id);
      return j && (j.data as { n?: number }).n === 1 && j;
    });
    expect(await job.getState()).toBe('completed');
    expect(job.data).toMatchObject({ items: [], n: 1 });
    const jobsWithThisEmail = (await h.queue('events').getJobs(['completed', 'waiting', 'active', 'delayed', 'failed'])).filter((j) =>
      JSON.stringify(j.data).includes(email),
    );
    expect(jobsWithThisEmail).toHaveLength(0);
    expect(counts.failed).toBe(0);
  });

  it('two events with the same metric, profile and second but different ids both arrive', async () => {
    const email = `${uniq('same-second')}@example.com`;
    const time = '2026-11-02T12:00:00Z';
    const res = await h.post('/v1/events', {
      events: [
        { id: uniq('a'), event: 'Viewed Product', profile: { email }, time },
        { id: uniq('b'), event: 'Viewed Product', profile: { email }, time },
      ],
    });
    expect(res.status).toBe(202);
    const events = await waitUntil(
      'two events delivered',
      () => {
        const e = h.sim.eventsFor(CONNECTION, { email });
        return e.length >= 2 && e;
      },
      { timeoutMs: 10_000 },
    );
    expect(events).toHaveLength(2);
    expect(new Set(events.map((e) => e.uniqueId)).size).toBe(2);
  });

  it('500 twice then 202: delivered once, after two retries', async () => {
    const id = uniq('flaky');
    const email = `${id}@example.com`;
    h.sim.faults.add({ match: { endpoint: 'create_event' }, status: 500, times: 2 });
    expect((await h.post('/v1/events', { id, event: 'Placed Order', profile: { email } })).status).toBe(202);
    await waitUntil('the event delivered', () => h.sim.eventsFor(CONNECTION, { email }).length > 0, { timeoutMs: 15_000 });
    await waitUntil('the job completed', async () => (await (await jobFor(id))!.getState()) === 'completed', { timeoutMs: 5000 });
    const done = await jobFor(id);
    expect(await done!.getState()).toBe('completed');
    expect(done!.attemptsMade).toBe(3);
    expect(h.sim.eventsFor(CONNECTION, { email })).toHaveLength(1);
    expect(
      h.sim
        .requests({ endpoint: 'create_event' })
        .filter((r) => JSON.stringify(r.body ?? '').includes(email))
        .map((r) => r.status),
    ).toEqual([500, 500, 202]);
  });

  it('429 with Retry-After: 2 waits at least 2 s and spends no attempt', async () => {
    const id = uniq('throttled');
    const email = `${id}@example.com`;
    h.sim.faults.add({ match: { endpoint: 'create_event' }, status: 429, retryAfterS: 2, times: 1 });
    const t0 = Date.now();
    expect((await h.post('/v1/events', { id, event: 'Placed Order', profile: { email } })).status).toBe(202);
    await waitUntil('the event delivered', () => h.sim.eventsFor(CONNECTION, { email }).length > 0, { timeoutMs: 15_000 });
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(2000);
    const calls = h.sim.requests().filter((r) => JSON.stringify(r.body ?? '').includes(email));
    expect(calls.map((r) => r.status)).toEqual([429, 202]);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(1950);
    await waitUntil('the job completed', async () => (await (await jobFor(id))!.getState()) === 'completed', { timeoutMs: 5000 });
    const job = await jobFor(id);
    expect(job!.attemptsMade).toBe(1); // the successful attempt only: the 429 spent none
  });

  it("400: the job fails at once with Klaviyo's detail and is never retried", async () => {
    const id = uniq('rejected');
    const email = `${id}@example.com`;
    h.sim.faults.add({ rejectItems: { emails: [email], detail: 'This profile is blocked in the simulator' } });
    expect((await h.post('/v1/events', { id, event: 'Placed Order', profile: { email } })).status).toBe(202);
    await waitUntil('the job failed', async () => (await (await jobFor(id))?.getState()) === 'failed', { timeoutMs: 10_000 });
    const job = (await jobFor(id))!;
    expect(job.attemptsStarted).toBe(1);
    expect(job.attemptsMade).toBe(1);
    expect(job.failedReason).toContain('This profile is blocked in the simulator');
    expect(job.data.dead).toHaveLength(1);
    expect(job.data.dead![0]).toMatchObject({
      item: { id },
      error: { status: 400, origin: 'klaviyo', detail: expect.stringContaining('This profile is blocked in the simulator') },
    });
    await new Promise((r) => setTimeout(r, 800));
    expect(h.sim.requests().filter((r) => JSON.stringify(r.body ?? '').includes(email))).toHaveLength(1);
    expect(h.sim.eventsFor(CONNECTION, { email })).toHaveLength(0);
  });
});
