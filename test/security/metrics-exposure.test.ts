/**
 * Issue 11, defect 10 (second half): a worker process's /metrics listened on 0.0.0.0 (it took the
 * API's HOST) with no authentication. Now it binds 127.0.0.1 unless RELAY_METRICS_HOST says
 * otherwise, and RELAY_METRICS_TOKEN, when set, is required as a bearer token on /metrics — the
 * worker's and the API's — while /healthz stays open for liveness probes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { Metrics } from '../../src/metrics.ts';
import { startService } from '../../src/runtime/service.ts';
import { startHarness } from '../support/harness.ts';
import { listeningAddresses } from '../support/listening.ts';
import { freePort } from '../support/ports.ts';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { startedOrExited, startRelay, type RelayProcess } from '../support/relay-process.ts';

const TOKEN = 'metrics-token-0123456789';

const prefixes: string[] = [];
const running: RelayProcess[] = [];
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
  for (const p of prefixes) await deleteKeys(`${p}:*`);
});

/** A worker-only process (workers/main.ts) with credentials it never uses, its metrics on `port`. */
async function startWorker(port: number, extra: Record<string, string> = {}): Promise<RelayProcess> {
  const prefix = uniquePrefix('metrics-sec');
  prefixes.push(prefix);
  const p = startRelay('workers/main.ts', {
    REDIS_URL,
    RELAY_START_REDIS: 'false',
    RELAY_QUEUE_PREFIX: prefix,
    MATON_API_KEY: 'metrics-sec-maton-key',
    MATON_CONNECTION_ID: 'conn_metrics_sec',
    MATON_GATEWAY_URL: 'http://127.0.0.1:9',
    RELAY_API_KEYS: 'metrics-sec-relay-key-01',
    RELAY_METRICS_PORT: String(port),
    LOG_LEVEL: 'warn',
    ...extra,
  });
  running.push(p);
  const { started } = await startedOrExited(p);
  expect(started, p.output()).toBe(true);
  return p;
}

describe("a worker process's /metrics", () => {
  it('listens on 127.0.0.1 by default and requires RELAY_METRICS_TOKEN when set; /healthz stays open', async () => {
    const port = await freePort();
    const p = await startWorker(port, { RELAY_METRICS_TOKEN: TOKEN });
    expect(listeningAddresses(port)).toEqual(['127.0.0.1']);
    const url = `http://127.0.0.1:${port}`;

    const none = await fetch(`${url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await none.json()).toMatchObject({ error: 'metrics_unauthorized' });
    expect((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer not-the-metrics-token' } })).status).toBe(401);
    expect((await fetch(`${url}/metrics`, { headers: { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` } })).status).toBe(401);

    const ok = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toMatch(/^# HELP relay_/m);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(await p.stop()).toBe(0);
  }, 60_000);

  it('listens where RELAY_METRICS_HOST says (another loopback address here)', async () => {
    const port = await freePort();
    const p = await startWorker(port, { RELAY_METRICS_HOST: '127.0.0.2' });
    expect(listeningAddresses(port)).toEqual(['127.0.0.2']);
    expect((await fetch(`http://127.0.0.2:${port}/metrics`)).status).toBe(200); // no token set: open
    expect(await p.stop()).toBe(0);
  }, 60_000);

  it('a token shorter than 16 characters is refused at start, without echoing it', () => {
    let err: unknown;
    try {
      loadConfig({ MATON_API_KEY: 'mk', RELAY_API_KEYS: 'a-long-relay-key-01', RELAY_METRICS_TOKEN: 'short-tok' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/RELAY_METRICS_TOKEN: use at least 16 characters/);
    expect((err as ConfigError).message).not.toContain('short-tok');
  });
});

describe("the API's /metrics", () => {
  it('requires RELAY_METRICS_TOKEN as a bearer token when set', async () => {
    const h = await startHarness({ name: 'metrics-token', workers: false, env: { RELAY_METRICS_TOKEN: TOKEN } });
    const api = await startService({
      config: { ...h.config, instanceId: 'metrics-token-second' },
      log: createLogger('silent'),
      api: true,
      workers: false,
      metrics: new Metrics(),
    });
    try {
      const none = await fetch(`${api.url}/metrics`);
      expect(none.status).toBe(401);
      expect(await none.json()).toMatchObject({ error: 'metrics_unauthorized' });
      expect((await fetch(`${api.url}/metrics`, { headers: { authorization: 'Bearer not-the-metrics-token' } })).status).toBe(401);
      const ok = await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toMatch(/^text\/plain/);
      expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
    } finally {
      await api.close();
      await h.close();
    }
  });
});
