/**
 * Issue 11, defect 1: missing credentials must not silently mean the sandbox. The sandbox answers
 * 202, "delivers" to an in-memory simulator (the work is gone), accepts dev-key and dev-admin and
 * shows every email and phone number at /sandbox. It is kept for a newcomer's `npm start` (API +
 * workers, no NODE_ENV=production) or RELAY_SANDBOX=true, and then listens on 127.0.0.1 only.
 *
 * The rules are checked on loadConfig, then on the real entry points as child processes against
 * the shared Redis (own key prefix, removed afterwards), the bound address read from the kernel.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type ProcessRoles } from '../../src/config.ts';
import { buildLanes, sandboxRefusals } from '../../src/lanes.ts';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { listeningAddresses } from '../support/listening.ts';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { startedOrExited, startRelay, type RelayProcess } from '../support/relay-process.ts';

const ALL: ProcessRoles = { api: true, workers: true };
const API: ProcessRoles = { api: true, workers: false };
const WORKERS: ProcessRoles = { api: false, workers: true };
const NEEDS_CREDENTIALS = /MATON_API_KEY \(\+ MATON_CONNECTION_ID\) or KLAVIYO_API_KEY/;

function problems(env: NodeJS.ProcessEnv, roles: ProcessRoles): string {
  try {
    const c = loadConfig(env, roles);
    return `no problem: ${c.klaviyo.mode} mode`;
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
}

describe('choosing the sandbox (loadConfig)', () => {
  it("keeps it for a newcomer's npm start: API + workers, no credentials, dev key and token, loopback", () => {
    const c = loadConfig({}, ALL);
    expect(c.klaviyo.mode).toBe('sandbox');
    expect(c.apiKeys).toEqual(['dev-key']);
    expect(c.adminToken).toBe('dev-admin');
    expect(c.host).toBe('127.0.0.1');
    // An explicit HOST is the operator's choice, even in the sandbox.
    expect(loadConfig({ HOST: '0.0.0.0' }, ALL).host).toBe('0.0.0.0');
  });

  it('never under NODE_ENV=production: a start-up error naming the missing credentials', () => {
    for (const roles of [ALL, WORKERS]) {
      const msg = problems({ NODE_ENV: 'production', RELAY_API_KEYS: 'a-long-relay-key-01' }, roles);
      expect(msg).toMatch(NEEDS_CREDENTIALS);
      expect(msg).toMatch(/NODE_ENV=production never runs the built-in sandbox/);
    }
    // Not even when asked for.
    for (const roles of [ALL, API, WORKERS]) {
      expect(problems({ NODE_ENV: 'production', RELAY_SANDBOX: 'true' }, roles)).toMatch(
        /RELAY_SANDBOX: true is refused under NODE_ENV=production: set MATON_API_KEY/,
      );
    }
  });

  it('never with RELAY_SANDBOX=false', () => {
    expect(problems({ RELAY_SANDBOX: 'false' }, ALL)).toMatch(/RELAY_SANDBOX=false turns the built-in sandbox off/);
    expect(problems({ RELAY_SANDBOX: 'false' }, WORKERS)).toMatch(NEEDS_CREDENTIALS);
  });

  it('never in a worker-only process by accident; RELAY_SANDBOX=true asks for it', () => {
    const msg = problems({}, WORKERS);
    expect(msg).toMatch(NEEDS_CREDENTIALS);
    expect(msg).toMatch(/RELAY_SANDBOX=true for the built-in sandbox/);
    expect(loadConfig({ RELAY_SANDBOX: 'true' }, WORKERS).klaviyo.mode).toBe('sandbox');
  });

  it('an API-only process without credentials is not the sandbox: no dev key, no dev token, keys required', () => {
    expect(problems({}, API)).toMatch(/RELAY_API_KEYS: set at least one key/);
    const c = loadConfig({ RELAY_API_KEYS: 'a-long-relay-key-01' }, API);
    expect(c.klaviyo.mode).toBe('none');
    expect(c.apiKeys).toEqual(['a-long-relay-key-01']);
    expect(c.usingDevKey).toBe(false);
    expect(c.adminToken).toBeUndefined();
    expect(c.host).toBe('0.0.0.0');
    // Asked for, it is the sandbox (its workers run elsewhere with RELAY_SANDBOX=true too).
    const asked = loadConfig({ RELAY_SANDBOX: 'true' }, API);
    expect([asked.klaviyo.mode, asked.apiKeys, asked.host]).toEqual(['sandbox', ['dev-key'], '127.0.0.1']);
  });

  it('RELAY_SANDBOX=true next to real credentials is refused, not guessed', () => {
    expect(problems({ RELAY_SANDBOX: 'true', MATON_API_KEY: 'mk', RELAY_API_KEYS: 'a-long-relay-key-01' }, ALL)).toMatch(
      /RELAY_SANDBOX: true, but MATON_API_KEY is set too/,
    );
    // Credentials are what they always were; HOST defaults to every interface outside the sandbox.
    const g = loadConfig({ MATON_API_KEY: 'mk', RELAY_API_KEYS: 'a-long-relay-key-01', NODE_ENV: 'production' }, ALL);
    expect([g.klaviyo.mode, g.host, g.adminToken]).toEqual(['gateway', '0.0.0.0', undefined]);
  });

  it('never for a config-file account that names its own connection or key', () => {
    const file = parseRelayConfig({ accounts: { eu: { connection: 'conn_eu' }, us: { klaviyoApiKey: 'pk_us' } } }, {});
    const refused = sandboxRefusals(file).join('\n');
    expect(refused).toMatch(/accounts\.eu names its own connection, but no credentials are set: set MATON_API_KEY/);
    expect(refused).toMatch(/accounts\.us names its own klaviyoApiKey/);
    expect(() => buildLanes(loadConfig({}, ALL), file, 'http://127.0.0.1:9')).toThrow(/accounts\.eu names its own connection/);
  });
});

// ---------------------------------------------------------------------------------------------
// The real entry points

const prefixes: string[] = [];
const running: RelayProcess[] = [];
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
  for (const p of prefixes) await deleteKeys(`${p}:*`);
});

/** The settings every start here shares: the shared Redis under a prefix of its own, a private spool. */
function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  const prefix = uniquePrefix('sandbox-sec');
  prefixes.push(prefix);
  return {
    REDIS_URL,
    RELAY_START_REDIS: 'false',
    RELAY_QUEUE_PREFIX: prefix,
    RELAY_SPOOL_DIR: mkdtempSync(join(tmpdir(), 'relay-spool-sandbox-sec-')),
    RELAY_SANDBOX_PORT: '0',
    PORT: '0',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

async function start(entry: string, env: Record<string, string>) {
  const p = startRelay(entry, env);
  running.push(p);
  const r = await startedOrExited(p);
  return { p, ...r };
}

/** A process that must refuse to start: exit 1 with `message`, no stack trace. */
async function expectRefused(entry: string, env: Record<string, string>, message: RegExp) {
  const { p, started, code } = await start(entry, env);
  if (started) await p.stop();
  expect(started, `${entry} started instead of refusing:\n${p.output()}`).toBe(false);
  expect(code).toBe(1);
  expect(p.output()).toMatch(message);
  expect(p.output()).not.toMatch(/\n\s+at /);
}

const portOf = (output: string) => Number(/listening on http:\/\/[^\s:]+:(\d+)/.exec(output)?.[1]);

describe('the entry points', () => {
  it('npm start (src/main.ts) without credentials opens the sandbox on 127.0.0.1 only', async () => {
    const { p, started } = await start('src/main.ts', baseEnv());
    expect(started, p.output()).toBe(true);
    expect(p.output()).toContain('SANDBOX MODE');
    const port = portOf(p.output());
    expect(port).toBeGreaterThan(0);
    expect(listeningAddresses(port)).toEqual(['127.0.0.1']);
    // The quick start still works: the dev key is accepted.
    const res = await fetch(`http://127.0.0.1:${port}/v1/events`, {
      method: 'POST',
      headers: { authorization: 'Bearer dev-key', 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'quick-start-1', event: 'Placed Order', profile: { email: 'ada@example.com' } }),
    });
    expect(res.status).toBe(202);
    expect(await p.stop()).toBe(0);
  }, 60_000);

  it('src/main.ts under NODE_ENV=production without credentials exits 1 naming them', async () => {
    await expectRefused('src/main.ts', baseEnv({ NODE_ENV: 'production', RELAY_API_KEYS: 'a-long-relay-key-01' }), NEEDS_CREDENTIALS);
  }, 60_000);

  it('src/main.ts with RELAY_SANDBOX=false, or a config account naming its connection, exits 1', async () => {
    await expectRefused('src/main.ts', baseEnv({ RELAY_SANDBOX: 'false' }), /RELAY_SANDBOX=false turns the built-in sandbox off/);
    const dir = mkdtempSync(join(tmpdir(), 'relay-sandbox-sec-'));
    writeFileSync(join(dir, 'relay.yaml'), 'accounts:\n  eu: { connection: conn_eu }\n');
    await expectRefused(
      'src/main.ts',
      baseEnv({ RELAY_CONFIG: join(dir, 'relay.yaml') }),
      /accounts\.eu names its own connection, but no credentials are set: set MATON_API_KEY/,
    );
  }, 60_000);

  it('the worker alone (workers/main.ts) without credentials exits 1; with RELAY_SANDBOX=true it runs the sandbox', async () => {
    await expectRefused(
      'workers/main.ts',
      baseEnv({ RELAY_METRICS_PORT: '0' }),
      /MATON_API_KEY \(\+ MATON_CONNECTION_ID\) or KLAVIYO_API_KEY; RELAY_SANDBOX=true for the built-in sandbox/,
    );
    const { p, started } = await start('workers/main.ts', baseEnv({ RELAY_SANDBOX: 'true', RELAY_METRICS_PORT: '0' }));
    expect(started, p.output()).toBe(true);
    expect(p.output()).toContain('SANDBOX MODE');
    expect(await p.stop()).toBe(0);
  }, 60_000);

  it('the API alone (src/server.ts) without credentials needs RELAY_API_KEYS, and is not the sandbox', async () => {
    await expectRefused('src/server.ts', baseEnv(), /RELAY_API_KEYS: set at least one key/);

    const key = 'api-only-relay-key-01';
    const { p, started } = await start('src/server.ts', baseEnv({ RELAY_API_KEYS: key, HOST: '127.0.0.1' }));
    expect(started, p.output()).toBe(true);
    expect(p.output()).not.toContain('SANDBOX');
    const url = `http://127.0.0.1:${portOf(p.output())}`;
    const post = (auth: string) =>
      fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id: `api-only-${auth}`, event: 'Placed Order', profile: { email: 'ada@example.com' } }),
      });
    expect((await post('dev-key')).status).toBe(401);
    expect((await post(key)).status).toBe(202);
    // No dev admin token: /ops is shut until RELAY_ADMIN_TOKEN is set; no sandbox view.
    const ops = await fetch(`${url}/ops/status`, { headers: { authorization: 'Bearer dev-admin' } });
    expect(ops.status).toBe(503);
    expect(((await ops.json()) as { error: string }).error).toBe('ops_disabled');
    expect((await fetch(`${url}/sandbox/events`)).status).toBe(404);
    expect(await p.stop()).toBe(0);
  }, 60_000);
});
