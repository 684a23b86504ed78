/**
 * Traces off (the default, no OTEL_* set): nothing of them runs — no request middleware mounted,
 * no trace context stored in jobs (the job data is what it was before traces existed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tracingOn } from '../../src/tracing/tracer.ts';
import { CONNECTION, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';

const ADMIN = 'tracing-off-admin-token';
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ name: 'tracing-off', env: { RELAY_ADMIN_TOKEN: ADMIN } });
});
afterAll(async () => {
  await h?.close();
});

const ops = async (path: string, method = 'GET') => {
  const res = await fetch(`${h.service.url}/ops${path}`, { method, headers: { authorization: `Bearer ${ADMIN}` } });
  return { status: res.status, body: (await res.json()) as unknown };
};

describe('traces off', () => {
  it('mount no span middleware and store no trace context', async () => {
    expect(tracingOn()).toBe(false);
    const handlers = h.service.app!.routes.map((r) => r.handler.name);
    expect(handlers).toContain('observe'); // the names are there to be read…
    expect(handlers).not.toContain('traceRequest'); // …and this one is not mounted

    // Read while it is queued: a completed job keeps no payload (issue 18), so the lane is held
    // (an operator's pause) until the job has been looked at, then resumed for the delivery.
    expect((await ops('/lanes/default/pause', 'POST')).body).toEqual({ lane: 'default', paused: true });
    try {
      const res = await h.post(
        '/v1/events',
        { id: 'untraced-1', event: 'Placed Order', profile: { email: 'untraced@example.com' } },
        { headers: { traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` } },
      );
      expect(res.status).toBe(202);
      const job = await waitUntil('the queued job', async () =>
        (await h.queue('events').getJobs(['wait', 'prioritized', 'delayed'])).find((j) => JSON.stringify(j.data).includes('untraced-1')),
      );
      // `d` is the relay's own: the job's place in the dedupe memory (issue 18), set while it is queued.
      expect(Object.keys(job.data as object).sort()).toEqual(['at', 'b', 'd', 'items', 'lane', 'src', 'v']);
    } finally {
      expect((await ops('/lanes/default/resume', 'POST')).body).toEqual({ lane: 'default', resumed: true });
    }
    await waitUntil('delivered', () => h.sim.eventsFor(CONNECTION, { email: 'untraced@example.com' }).length > 0, { timeoutMs: 10_000 });
  });
});
