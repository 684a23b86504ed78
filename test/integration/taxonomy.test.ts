/**
 * Issue #5: one test per row of the error taxonomy (workers/retry-policy.ts), end to end against
 * the simulator: what each answer from the gateway or Klaviyo does to a job.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventKey, jobIdForItems } from '../../src/item-keys.ts';
import { sourceIdForKey } from '../../src/sources.ts';
import { readPause } from '../../src/ops/lane-state.ts';
import { CONNECTION, RELAY_KEY, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';
import type { Redis } from 'ioredis';
import { testRedis } from '../support/redis.ts';

let h: Harness;
let redis: Redis;
beforeAll(async () => {
  h = await startHarness({ name: 'taxonomy', env: { RELAY_PAUSE_PROBE_MS: '1000', KLAVIYO_TIMEOUT_MS: '3000', RELAY_RETRY_BASE_MS: '300' } });
  redis = testRedis();
  // One event through the whole path first: the simulator compiles its OpenAPI validators and the
  // worker its code paths on first use, which on a loaded machine can outlast the 3 s timeout and
  // turn the first test's single call into a timed-out call plus a retry.
  const warm = await send();
  await settled(warm.id);
});
afterAll(async () => {
  redis?.disconnect();
  await h?.close();
});
beforeEach(() => h.sim.faults.clear());

const src = sourceIdForKey(RELAY_KEY);
const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 10)}`;
const jobFor = (id: string) => h.queue('events').getJob(jobIdForItems('events', [eventKey(src, id)]));
async function send() {
  const id = uniq('evt');
  const email = `${id}@example.com`;
  expect((await h.post('/v1/events', { id, event: 'Placed Order', profile: { email } })).status).toBe(202);
  return { id, email };
}
const callsFor = (email: string) => h.sim.requests().filter((r) => JSON.stringify(r.body ?? '').includes(email));
/** The job once it finished, read after it finished (a job read earlier could show stale counts). */
const settled = async (id: string) => {
  await waitUntil(
    'the job completed or failed',
    async () => {
      const state = await (await jobFor(id))?.getState();
      return state === 'completed' || state === 'failed';
    },
    { timeoutMs: 20_000 },
  );
  return (await jobFor(id))!;
};

describe('error taxonomy', () => {
  it('2xx → delivered, one call, one attempt', async () => {
    const { id, email } = await send();
    const job = await settled(id);
    expect(await job.getState()).toBe('completed');
    expect(callsFor(email).map((r) => r.status)).toEqual([202]);
    expect(job.attemptsMade).toBe(1);
  });

  it.each([
    ['Klaviyo', 'klaviyo' as const],
    ['the gateway', 'gateway' as const],
  ])('429 from %s → the lane waits Retry-After, no attempt spent', async (_who, source) => {
    h.sim.faults.add({ match: { endpoint: 'create_event' }, status: 429, retryAfterS: 1, times: 1, source });
    const { id, email } = await send();
    const job = await settled(id);
    expect(await job.getState()).toBe('completed');
    const calls = callsFor(email);
    expect(calls.map((r) => r.status)).toEqual([429, 202]);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(950);
    expect(job.attemptsMade).toBe(1);
  });

  it.each([500, 502, 503, 408])('%i → retried with backoff, then delivered', async (status) => {
    h.sim.faults.add({ match: { endpoint: 'create_event' }, status, times: 1 });
    const { id, email } = await send();
    const job = await settled(id);
    expect(await job.getState()).toBe('completed');
    expect(callsFor(email).map((r) => r.status)).toEqual([status, 202]);
    expect(job.attemptsMade).toBe(2);
  });

  it('a 503 with Retry-After: the next attempt waits at least that long (a floor under the backoff)', async () => {
    h.sim.faults.add({ match: { endpoint: 'create_event' }, status: 503, retryAfterS: 2, times: 1 });
    const { id, email } = await send();
    await settled(id);
    const calls = callsFor(email);
    expect(calls.map((r) => r.status)).toEqual([503, 202]);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(1900);
  });

  it('a hang past the timeout → retried, then delivered', async () => {
    h.sim.faults.add({ match: { endpoint: 'create_event' }, hang: true, times: 1 });
    const { id } = await send();
    const job = await settled(id);
    expect(await job.getState()).toBe('completed');
    expect(job.attemptsMade).toBe(2);
  });

  it.each([400, 404, 409, 422])("%i → dead letter with Klaviyo's error, never retried", async (status) => {
    h.sim.faults.add({ match: { endpoint: 'create_event' }, status, times: 1 });
    const { id, email } = await send();
    const job = await settled(id);
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(job.data.dead?.[0]?.error).toMatchObject({ status, origin: 'klaviyo' });
    await new Promise((r) => setTimeout(r, 500));
    expect(callsFor(email)).toHaveLength(1);
  });

  it.each([
    [401, 'gateway' as const],
    [403, 'klaviyo' as const],
  ])(
    '%i from the %s → the lane pauses (jobs kept, no attempt spent) until a probe finds the credentials work',
    async (status, source) => {
      const rule = h.sim.faults.add({ status, source })[0]!;
      const sent = [await send(), await send(), await send()];
      await waitUntil("the lane's pause marker", () => readPause(redis, h.prefix, 'default'), { timeoutMs: 10_000 });
      const pause = (await readPause(redis, h.prefix, 'default'))!;
      expect(pause).toMatchObject({ status, origin: source });
      expect(await h.queue('events').isPaused()).toBe(true);
      // While paused, nothing is burned: no failed jobs, and the probe keeps being refused.
      await new Promise((r) => setTimeout(r, 2500));
      for (const { id } of sent) expect(await (await jobFor(id))!.getState()).not.toBe('failed');
      expect(h.sim.requests({ endpoint: 'get_accounts' }).length).toBeGreaterThan(0);
      h.sim.faults.remove(rule.id);
      for (const { id, email } of sent) {
        const job = await settled(id);
        expect(await job.getState()).toBe('completed');
        expect(job.attemptsMade).toBe(1);
        expect(h.sim.eventsFor(CONNECTION, { email })).toHaveLength(1);
      }
      expect(await readPause(redis, h.prefix, 'default')).toBeNull();
      expect(await h.queue('events').isPaused()).toBe(false);
    },
    40_000,
  );
});
