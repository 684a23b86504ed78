/** Graceful stop: an active job (slow Klaviyo) is finished before close() resolves; nothing is left active. */
import { describe, expect, it } from 'vitest';
import { startHarness } from '../support/harness.ts';
import { eventually } from '../support/wait.ts';
import { CONNECTION } from '../support/harness.ts';

describe('graceful shutdown', () => {
  it('finishes in-flight work before closing, and refuses new connections after', async () => {
    const h = await startHarness({ name: 'shutdown' });
    try {
      h.sim.faults.add({ match: { endpoint: 'create_event' }, latencyMs: 1200 });
      const email = 'slow@example.com';
      expect((await h.post('/v1/events', { id: 'slow-1', event: 'Placed Order', profile: { email } })).status).toBe(202);
      const q = h.queue('events');
      await eventually(async () => (await q.getJobCounts('active')).active === 1, 5000);
      const url = h.service.url!;
      const t0 = Date.now();
      await h.service.close();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
      expect(h.sim.eventsFor(CONNECTION, { email })).toHaveLength(1);
      await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    } finally {
      await h.close();
    }
  });
});
