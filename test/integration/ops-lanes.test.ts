/** Issue #6: pausing and resuming a lane by hand; the status and find endpoints. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONNECTION, RELAY_SOURCE, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';

const ADMIN = 'ops-lanes-admin-token';
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ name: 'opslanes', env: { RELAY_ADMIN_TOKEN: ADMIN, RELAY_PAUSE_PROBE_MS: '1000' } });
});
afterAll(async () => {
  await h?.close();
});
const ops = async (path: string, method = 'GET') => {
  const res = await fetch(`${h.service.url}/ops${path}`, { method, headers: { authorization: `Bearer ${ADMIN}` } });
  return { status: res.status, body: (await res.json()) as any };
};

describe('lanes by hand', () => {
  it("an operator's pause holds (the credentials probe leaves it alone) until an operator resumes", async () => {
    expect((await ops('/lanes/default/pause', 'POST')).body).toEqual({ lane: 'default', paused: true });
    expect((await ops('/lanes/nowhere/pause', 'POST')).status).toBe(404);
    const email = `held-${Math.random().toString(36).slice(2, 8)}@example.com`;
    expect((await h.post('/v1/events', { id: `held-${Date.now()}`, event: 'Placed Order', profile: { email } })).status).toBe(202);
    await new Promise((r) => setTimeout(r, 3000)); // three probe intervals
    const status = (await ops('/status')).body;
    expect(status.lanes[0]).toMatchObject({ lane: 'default', paused: { by: 'admin' } });
    expect(status.queues.find((q: any) => q.queue === `events.default.live.${RELAY_SOURCE}`).waiting).toBeGreaterThan(0);
    expect(h.sim.eventsFor(CONNECTION, { email })).toHaveLength(0);

    expect((await ops('/lanes/default/resume', 'POST')).body).toEqual({ lane: 'default', resumed: true });
    await waitUntil('the event delivered', () => h.sim.eventsFor(CONNECTION, { email }).length === 1, { timeoutMs: 10_000 });
    expect((await ops('/status')).body.lanes[0].paused).toBeNull();
    const audit = (await ops('/audit')).body.entries.map((e: any) => e.action);
    expect(audit.slice(0, 2)).toEqual(['lane.resume', 'lane.pause']);
  });

  it('finds the job for an event id, and for an email', async () => {
    const id = `findme-${Date.now()}`;
    const email = `${id}@example.com`;
    // Held back (the lane paused) while it is searched by person: a completed job keeps no
    // payload to search (issue 18).
    expect((await ops('/lanes/default/pause', 'POST')).status).toBe(200);
    await h.post('/v1/events', { id, event: 'Placed Order', profile: { email } });
    const byEmail = (await ops(`/find?email=${encodeURIComponent(email.toUpperCase())}`)).body.jobs;
    expect(byEmail.map((j: any) => j.via)).toContain('scan');
    expect((await ops('/lanes/default/resume', 'POST')).status).toBe(200);
    await waitUntil('the event delivered', () => h.sim.eventsFor(CONNECTION, { email }).length === 1, { timeoutMs: 10_000 });
    const byId = (await ops(`/find?id=${id}`)).body.jobs;
    expect(byId.length).toBeGreaterThan(0);
    // The job (in its source's live queue), or — once the worker marked its items done — the
    // note that they were delivered, which names the kind and lane (a `done` mark names no queue).
    expect(byId[0]).toMatchObject({ queue: expect.stringMatching(new RegExp(`^events\\.default(\\.live\\.${RELAY_SOURCE})?$`)), via: 'id' });
    expect((await ops('/find')).status).toBe(400);
  });
});
