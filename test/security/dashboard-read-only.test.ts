/**
 * Issue 11, defect 9: the dashboard shows job data with emails and phone numbers masked, and Bull
 * Board's "edit" (update-data) and "duplicate" (add) start from what it shows — so with a writable
 * board they stored `a***@example.com` into a job that the workers then send. While the data is
 * masked (RELAY_DASHBOARD_PII=false, the default) the server must refuse every dashboard write;
 * it is writable only with RELAY_DASHBOARD_PII=true and RELAY_DASHBOARD_READONLY=false.
 *
 * Real Redis (own prefix), the relay over HTTP on loopback, no workers (so jobs stay waiting).
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.ts';
import { testRedis } from '../support/redis.ts';
import { waitUntil } from '../support/wait.ts';

const ADMIN = 'dashboard-read-only-admin';
const bearer = { authorization: `Bearer ${ADMIN}` };
const EMAIL = 'ada.lovelace@example.com';
const PHONE = '+15005550006';

let redis: Redis;
beforeAll(() => {
  redis = testRedis();
});
afterAll(() => redis?.disconnect());

/** A relay with the given dashboard settings and one waiting event job; its id and data. */
async function relayWithJob(name: string, env: Record<string, string>) {
  const h = await startHarness({ name, workers: false, env: { RELAY_ADMIN_TOKEN: ADMIN, ...env } });
  // Ready: the API's Redis connection is up (until then an event would go to the local spool).
  await waitUntil('the API to be ready', async () => (await fetch(`${h.service.url}/readyz`)).status === 200);
  const posted = await h.post('/v1/events', { id: `${name}-1`, event: 'Placed Order', profile: { email: EMAIL, phone_number: PHONE } });
  expect(posted.status).toBe(202);
  const queue = h.queue('events') as Queue;
  const [job] = await queue.getWaiting();
  expect(job?.id).toBeTruthy();
  return { h, queue, jobId: job!.id!, data: job!.data as unknown };
}

/** The job's data as Redis holds it (the job hash's `data` field). */
async function storedData(queue: Queue, jobId: string): Promise<unknown> {
  return JSON.parse((await redis.hget(queue.toKey(jobId), 'data')) ?? 'null') as unknown;
}

/** Bull Board's API for the queue the test key's live events are in. */
const board = (h: Harness, path: string, init: { method?: string; body?: unknown } = {}) =>
  fetch(`${h.service.url}/ops/queues/api/queues/${encodeURIComponent(h.queue('events').name)}${path}`, {
    method: init.method ?? 'GET',
    headers: { ...bearer, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });

describe('the dashboard while it shows masked data (defaults)', () => {
  let r: Awaited<ReturnType<typeof relayWithJob>>;
  beforeAll(async () => {
    r = await relayWithJob('dashro', {});
  });
  afterAll(async () => {
    await r?.h.close();
  });

  it('shows the job with identifiers masked', async () => {
    const res = await board(r.h, `/${r.jobId}`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('a***@example.com');
    expect(text).not.toContain(EMAIL);
    expect(text).not.toContain(PHONE);
  });

  it('refuses to store the masked data back (edit), and the job in Redis is unchanged', async () => {
    const shown = ((await (await board(r.h, `/${r.jobId}`)).json()) as { job: { data: unknown } }).job.data;
    expect(JSON.stringify(shown)).toContain('a***@example.com');
    const res = await board(r.h, `/${r.jobId}/update-data`, { method: 'PATCH', body: { jobData: shown } });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'dashboard_read_only' });
    expect(await storedData(r.queue, r.jobId)).toEqual(r.data);
    expect(JSON.stringify(await storedData(r.queue, r.jobId))).toContain(EMAIL);
  });

  it('refuses to add a job (duplicate) with the masked data', async () => {
    const before = await r.queue.getJobCounts('waiting', 'delayed', 'prioritized');
    const shown = ((await (await board(r.h, `/${r.jobId}`)).json()) as { job: { name: string; data: unknown } }).job;
    const res = await board(r.h, '/add', { method: 'POST', body: { name: shown.name, data: shown.data, options: {} } });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'dashboard_read_only' });
    expect(await r.queue.getJobCounts('waiting', 'delayed', 'prioritized')).toEqual(before);
  });

  it('refuses retry, clean, promote, pause and the other writes', async () => {
    const writes: [string, string][] = [
      ['PUT', '/retry/failed'],
      ['PUT', '/clean/completed'],
      ['PUT', '/promote'],
      ['PUT', `/${r.jobId}/clean`],
      ['PUT', `/${r.jobId}/promote`],
      ['PATCH', `/${r.jobId}/priority`],
      ['PUT', '/pause'],
      ['PUT', '/empty'],
    ];
    for (const [method, path] of writes) {
      const res = await board(r.h, path, { method, body: {} });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    expect(await r.queue.isPaused()).toBe(false);
    expect(await r.queue.getJob(r.jobId)).toBeDefined();
    expect(await storedData(r.queue, r.jobId)).toEqual(r.data);
  });
});

describe('the dashboard with RELAY_DASHBOARD_PII=true', () => {
  it('is writable (an edit is stored) unless RELAY_DASHBOARD_READONLY=true', async () => {
    const writable = await relayWithJob('dashrw', { RELAY_DASHBOARD_PII: 'true' });
    try {
      const shown = ((await (await board(writable.h, `/${writable.jobId}`)).json()) as { job: { data: { at: number } } }).job.data;
      expect(JSON.stringify(shown)).toContain(EMAIL);
      const edited = { ...shown, at: shown.at + 1 };
      const res = await board(writable.h, `/${writable.jobId}/update-data`, { method: 'PATCH', body: { jobData: edited } });
      expect(res.status).toBe(200);
      expect(await storedData(writable.queue, writable.jobId)).toEqual(edited);
    } finally {
      await writable.h.close();
    }

    const readOnly = await relayWithJob('dashpiiro', { RELAY_DASHBOARD_PII: 'true', RELAY_DASHBOARD_READONLY: 'true' });
    try {
      const res = await board(readOnly.h, `/${readOnly.jobId}/update-data`, { method: 'PATCH', body: { jobData: { v: 0 } } });
      expect(res.status).toBe(403);
      expect(await storedData(readOnly.queue, readOnly.jobId)).toEqual(readOnly.data);
    } finally {
      await readOnly.h.close();
    }
  });
});
