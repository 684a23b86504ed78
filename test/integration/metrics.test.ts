/**
 * Issue #6: /metrics scraped during a short load — counters move, the text is valid exposition
 * format, no label value carries an email or id, and every metric the shipped alert rules use
 * exists. Plus: secrets never reach the logs, and identifiers are masked there.
 */
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createLogger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { startService } from '../../src/runtime/service.ts';
import { CONNECTION, MATON_KEY, RELAY_KEY, RELAY_SOURCE, startHarness, type Harness } from '../support/harness.ts';
import { parseExposition, sum } from '../support/prom-format.ts';
import { waitUntil } from '../support/wait.ts';

let h: Harness;
const lines: string[] = [];
let relay: Awaited<ReturnType<typeof startService>>;
let url: string;
beforeAll(async () => {
  // The harness's own service runs without metrics; a second one on the same queues has them, and
  // logs at info into `lines` so the log lines can be checked too.
  h = await startHarness({ name: 'metrics', workers: false });
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  // Its own instance id: two live API processes never share a spool file (src/ingest/spool.ts).
  relay = await startService({
    config: { ...h.config, logLevel: 'info', instanceId: 'metrics-second-0' },
    log: createLogger('info', {}, sink),
    api: true,
    workers: true,
    metrics: new Metrics(),
  });
  url = relay.url!;
});
afterAll(async () => {
  await relay?.close();
  await h?.close();
});

const scrape = async () => {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
};

describe('/metrics', () => {
  it('moves during a short load, parses, and carries no identifiers', async () => {
    const before = await scrape();
    const tag = `m-${Math.random().toString(36).slice(2, 8)}`;
    const post = (body: unknown) =>
      fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${RELAY_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const sends = Array.from({ length: 20 }, (_, i) => post({ id: `${tag}-${i}`, event: 'Placed Order', profile: { email: `${tag}-${i}@example.com` } }));
    sends.push(
      post({ events: Array.from({ length: 50 }, (_, i) => ({ id: `${tag}-b${i}`, event: 'Viewed Product', profile: { email: `${tag}-b${i}@example.com` } })) }),
    );
    sends.push(post({ nope: true }));
    await Promise.all(sends);
    await waitUntil('70 events delivered', () => (h.sim.account(CONNECTION)?.eventCount ?? 0) >= 70, { timeoutMs: 15_000 });
    const after = await waitUntil(
      '70 delivered items in the metrics',
      async () => {
        const s = await scrape();
        return sum(s, 'relay_items_total', { kind: 'events', outcome: 'delivered' }) >= 70 && s;
      },
      { timeoutMs: 10_000 },
    );

    const moved = (name: string, labels: Record<string, string> = {}) => sum(after, name, labels) - sum(before, name, labels);
    expect(moved('relay_http_requests_total', { route: '/v1/events', method: 'POST', status: '202' })).toBe(21);
    expect(moved('relay_http_requests_total', { route: '/v1/events', method: 'POST', status: '400' })).toBe(1);
    expect(moved('relay_http_request_duration_seconds_count', { route: '/v1/events', method: 'POST' })).toBe(22);
    expect(moved('relay_items_total', { kind: 'events', outcome: 'delivered' })).toBe(70);
    // Issue 12: every item here is live (no backfill, no bulk source).
    expect(moved('relay_items_total', { kind: 'events', class: 'live', outcome: 'delivered' })).toBe(70);
    expect(moved('relay_items_total', { class: 'bulk' })).toBe(0);
    expect(moved('relay_klaviyo_requests_total')).toBeGreaterThan(0);
    expect(moved('relay_klaviyo_request_items_total')).toBe(70);
    expect(moved('relay_delivery_latency_seconds_count', { kind: 'events' })).toBe(70);
    expect(moved('relay_delivery_latency_seconds_count', { kind: 'events', class: 'live' })).toBe(70);
    // Live's targets (p95 1.5 s, max 3 s) are bucket bounds.
    for (const le of ['1.5', '3'])
      expect(after.some((s) => s.name === 'relay_delivery_latency_seconds_bucket' && s.labels.class === 'live' && s.labels.le === le)).toBe(true);
    expect(sum(after, 'relay_jobs', { queue: `events.default.live.${RELAY_SOURCE}`, state: 'completed' })).toBeGreaterThan(0);
    expect(after.some((s) => s.name === 'relay_quota_headroom' && s.labels.window === 'steady')).toBe(true);
    expect(after.some((s) => s.name === 'relay_lane_paused' && s.labels.lane === 'default' && s.value === 0)).toBe(true);
    expect(after.some((s) => s.name === 'relay_queue_oldest_waiting_seconds')).toBe(true);
    // Per lane × kind × class (and source): every class of every kind, on the configured lane.
    for (const [kind, cls] of [
      ['events', 'live'],
      ['events', 'bulk'],
      ['profiles', 'live'],
      ['profiles', 'bulk'],
      ['webhooks', 'live'],
    ]) {
      expect(
        after.filter((s) => s.name === 'relay_oldest_waiting_seconds' && s.labels.lane === 'default' && s.labels.kind === kind && s.labels.class === cls),
        `${kind} ${cls}`,
      ).toHaveLength(1);
    }
    expect(
      after.find((s) => s.name === 'relay_backlog' && s.labels.source === RELAY_SOURCE && s.labels.kind === 'events' && s.labels.class === 'live'),
    ).toMatchObject({ labels: { lane: 'default' } });
    // Only live calls in the last minute: all of the lane's share is live's.
    expect(sum(after, 'relay_class_share', { lane: 'default', class: 'live' })).toBe(1);
    expect(sum(after, 'relay_class_share', { lane: 'default', class: 'bulk' })).toBe(0);
    expect(after.some((s) => s.name === 'relay_spool_bytes')).toBe(true);
    for (const s of after) for (const v of Object.values(s.labels)) expect(v).not.toMatch(/@|example\.com/);
  });

  it('names only existing metrics in the shipped alert rules', async () => {
    // Declared metrics (a counter with no samples yet still has its TYPE line).
    const text = await (await fetch(`${url}/metrics`)).text();
    const names = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const rules = (
      parseYaml(readFileSync('ops/alerts.yml', 'utf8')) as { groups: { rules: { alert: string; expr: string; for?: string }[] }[] }
    ).groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThanOrEqual(5);
    for (const r of rules) {
      const used = [...r.expr.matchAll(/\b(relay_[a-z_]+)/g)].map((m) => m[1]!);
      expect(used.length, r.alert).toBeGreaterThan(0);
      for (const n of used) expect(names.has(n), `${r.alert} uses ${n}`).toBe(true);
    }
    expect(rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'RelayDeliveryStalled',
        'RelayDeadLettersGrowing',
        'RelayLanePaused',
        'RelayQuotaExhausted',
        'RelaySpoolInUse',
        'RelayLiveWaiting',
      ]),
    );
  });
});

describe('logs', () => {
  it('one line per request and per job, with request ids; no secrets; identifiers masked', async () => {
    const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    expect(requests.length).toBeGreaterThanOrEqual(22);
    expect(requests[0]).toMatchObject({ method: expect.any(String), route: expect.any(String), status: expect.any(Number), requestId: expect.any(String) });
    const jobs = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'job completed');
    expect(jobs.length).toBeGreaterThan(0);
    expect(jobs[0]).toMatchObject({ jobId: expect.any(String), queue: `events.default.live.${RELAY_SOURCE}`, lane: 'default', attempt: 1 });
    // Each key once per line (a key written twice is kept or dropped as the log's reader pleases).
    for (const l of lines) {
      const keys = [...l.matchAll(/[{,]"([^"\\]+)":/g)].map((m) => m[1]!);
      expect(keys.length - new Set(keys).size, l).toBe(0);
    }
    const all = lines.join('\n');
    expect(all).not.toContain(RELAY_KEY);
    expect(all).not.toContain(MATON_KEY);
    // The payloads carry emails; none reaches the logs unmasked.
    expect(all).not.toMatch(/m-[a-z0-9]+-\d+@example\.com/);
  });

  it('masks emails and phone numbers in logged values, and redacts secret fields', () => {
    const out: string[] = [];
    const log = createLogger(
      'info',
      {},
      new Writable({
        write: (c, _e, cb) => {
          out.push(String(c));
          cb();
        },
      }),
    );
    log.info({ detail: 'profile ada@example.com with +15005550006 rejected', apiKey: 'pk_secret', headers: { authorization: 'Bearer k' } }, 'x');
    const line = JSON.parse(out[0]!);
    expect(line.detail).toBe('profile a***@example.com with +1500*** rejected');
    expect(line.apiKey).toBe('[redacted]');
    expect(line.headers.authorization).toBe('[redacted]');
    const raw: string[] = [];
    createLogger(
      'info',
      { pii: true },
      new Writable({
        write: (c, _e, cb) => {
          raw.push(String(c));
          cb();
        },
      }),
    ).info({ detail: 'ada@example.com' }, 'x');
    expect(JSON.parse(raw[0]!).detail).toBe('ada@example.com');
  });
});
