/**
 * Traces off (the default, no OTEL_* set): nothing of them runs — no request middleware mounted,
 * no trace context stored in jobs (the job data is what it was before traces existed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tracingOn } from '../../src/tracing/tracer.ts';
import { CONNECTION, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ name: 'tracing-off' });
});
afterAll(async () => {
  await h?.close();
});

describe('traces off', () => {
  it('mount no span middleware and store no trace context', async () => {
    expect(tracingOn()).toBe(false);
    const handlers = h.service.app!.routes.map((r) => r.handler.name);
    expect(handlers).toContain('observe'); // the names are there to be read…
    expect(handlers).not.toContain('traceRequest'); // …and this one is not mounted

    const res = await h.post(
      '/v1/events',
      { id: 'untraced-1', event: 'Placed Order', profile: { email: 'untraced@example.com' } },
      { headers: { traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` } },
    );
    expect(res.status).toBe(202);
    await waitUntil('delivered', () => h.sim.eventsFor(CONNECTION, { email: 'untraced@example.com' }).length > 0, { timeoutMs: 10_000 });
    const job = await waitUntil('the completed job', async () =>
      (await h.queue('events').getJobs(['completed'])).find((j) => JSON.stringify(j.data).includes('untraced-1')),
    );
    expect(Object.keys(job.data as object).sort()).toEqual(['at', 'b', 'items', 'lane', 'src', 'v']);
  });
});
