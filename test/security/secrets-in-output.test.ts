/**
 * Issue 11, defect 6: secrets in output. The start-up banner printed REDIS_URL with its password,
 * configuration and start-up errors echoed the value they refused, and `relay doctor` masked a
 * Redis password only when it was written exactly as URL.password re-encodes it. One helper
 * (src/mask-secrets.ts) now serves all of them; each output is checked here for real: the entry
 * points and the `relay` bin as child processes, Redis a private redis-server with requirepass.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { redisAnswers } from '../../src/runtime/ensure-redis.ts';
import { freePort } from '../support/ports.ts';
import { cleanEnv, startedOrExited, startRelay } from '../support/relay-process.ts';
import { waitUntil } from '../support/wait.ts';

const BIN = fileURLToPath(new URL('../../bin/relay.js', import.meta.url));

// Imported in each test, so that on a tree without the helper only its own tests fail and every
// output below is still checked.
const helper = () => import('../../src/mask-secrets.ts');

describe('the masking helper', () => {
  it('hides URL passwords however they are written, and keeps the rest readable', async () => {
    const { maskUrlCredentials } = await helper();
    const cases: [string, string][] = [
      ['redis://:p%40ss@host:6379', 'redis://:***@host:6379'],
      ['redis://:p@ss@host:6379/0', 'redis://:***@host:6379/0'],
      ['rediss://default:s3cr/t@host:6380', 'rediss://default:***@host:6380'],
      ['redis+cluster://u:pw@a:7000,b:7001', 'redis+cluster://u:***@a:7000,b:7001'],
      ['redis://lonepassword@host', 'redis://***@host'],
      ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
      ['Redis does not answer at redis://:pw@h:1: start Redis', 'Redis does not answer at redis://:***@h:1: start Redis'],
      ['"redis://:pw@h" and "https://x:y@z/a"', '"redis://:***@h" and "https://x:***@z/a"'],
    ];
    for (const [given, shown] of cases) expect(maskUrlCredentials(given), given).toBe(shown);
    // One setting's value: a raw space in the password does not end the credentials.
    expect(maskUrlCredentials('redis://:pa ss@bad host:1', { whole: true })).toBe('redis://:***@bad host:1');
  });

  it('never shows a secret setting in an error, and names the problem instead', async () => {
    const { shownValue } = await helper();
    expect(shownValue('RELAY_ADMIN_TOKEN', 'tok-123456789')).not.toContain('tok-123456789');
    expect(shownValue('MATON_API_KEY', 'mk-abcdef')).toMatch(/not shown: it is a secret/);
    expect(shownValue('REDIS_URL', 'redis://:pw-123@h x')).toBe('"redis://:***@h x"');
    expect(shownValue('PORT', 'eighty')).toBe('"eighty"');
  });

  it('redacts the secrets of an environment from any text, encoded and decoded', async () => {
    const { redactSecrets, secretValues } = await helper();
    const env = { REDIS_URL: 'redis://:p%40ss-w0rd@h:1', RELAY_ADMIN_TOKEN: 'admin-token-xyz', PORT: '3000' };
    expect(secretValues(env)).toEqual(expect.arrayContaining(['p%40ss-w0rd', 'p@ss-w0rd', 'admin-token-xyz']));
    const text = redactSecrets('auth p@ss-w0rd failed; token admin-token-xyz; url redis://:p%40ss-w0rd@h:1; port 3000', env);
    expect(text).toBe('auth *** failed; token ***; url redis://:***@h:1; port 3000');
  });
});

describe('configuration errors', () => {
  it('name the bad setting without echoing a password or a secret', () => {
    let err: unknown;
    try {
      loadConfig({ REDIS_URL: 'redis://:hunter2-s3cret@bad host:6379', MATON_GATEWAY_URL: 'ftp://gw:gw-s3cret-pw@gateway', RELAY_API_KEYS: 'short' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as ConfigError).message;
    expect(message).toMatch(/REDIS_URL: must be a redis:\/\/, rediss:\/\/, redis\+cluster:\/\/ or rediss\+cluster/);
    expect(message).toMatch(/MATON_GATEWAY_URL/);
    expect(message).toContain('redis://:***@bad host:6379');
    for (const secret of ['hunter2-s3cret', 'gw-s3cret-pw']) expect(message).not.toContain(secret);
  });
});

// ---------------------------------------------------------------------------------------------
// Real processes

/** A password with every character a URL must encode: the relay must AUTH with the decoded form. */
const PASSWORD = 'p@ss/w0rd:s3cret Zq';
const ENCODED = encodeURIComponent(PASSWORD);
/** Pieces of the password, any of which in the output would be a leak. */
const LEAKS = [PASSWORD, ENCODED, 'w0rd', 's3cret', '%40ss'];

let redis: ChildProcess | undefined;
let redisPort = 0;
let redisDir = '';
beforeAll(async () => {
  redisPort = await freePort();
  redisDir = mkdtempSync(join(tmpdir(), 'relay-secrets-redis-'));
  redis = spawn(
    'redis-server',
    ['--bind', '127.0.0.1', '--port', String(redisPort), '--dir', redisDir, '--save', '', '--appendonly', 'no', '--requirepass', PASSWORD],
    { stdio: 'ignore' },
  );
  await waitUntil('the private redis-server to answer', () => redisAnswers(`redis://127.0.0.1:${redisPort}`, 200), { timeoutMs: 10_000, intervalMs: 50 });
});
afterAll(async () => {
  if (redis && redis.exitCode === null) {
    const gone = new Promise((r) => redis!.once('exit', r));
    redis.kill('SIGTERM');
    await gone;
  }
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
});

const noLeak = (output: string) => {
  for (const leak of LEAKS) expect(output, `leaked ${JSON.stringify(leak)}`).not.toContain(leak);
};

describe('the start-up banner and start-up errors', () => {
  it('the banner shows REDIS_URL without its password, and the relay still authenticates with it', async () => {
    const p = startRelay('src/server.ts', {
      REDIS_URL: `redis://:${ENCODED}@127.0.0.1:${redisPort}`,
      RELAY_START_REDIS: 'false',
      RELAY_API_KEYS: 'secrets-relay-key-01',
      RELAY_SPOOL_DIR: mkdtempSync(join(tmpdir(), 'relay-spool-secrets-')),
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
    });
    try {
      const { started } = await startedOrExited(p);
      expect(started, p.output()).toBe(true);
      expect(p.output()).toContain(`redis: redis://:***@127.0.0.1:${redisPort}`);
      const url = /listening on (http:\/\/\S+)/.exec(p.output())![1]!;
      // Ready = Redis answered PING on the authenticated connection.
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status, await ready.text()).toBe(200);
    } finally {
      expect(await p.stop()).toBe(0);
    }
    noLeak(p.output());
  }, 60_000);

  it('a bad REDIS_URL and an unreachable Redis exit 1 naming the problem, not the password', async () => {
    const dead = await freePort();
    for (const REDIS_URL of [`redis://:${PASSWORD}@bad host:${dead}`, `redis://:${ENCODED}@127.0.0.1:${dead}`]) {
      const p = startRelay('src/server.ts', { REDIS_URL, RELAY_START_REDIS: 'false', RELAY_API_KEYS: 'secrets-relay-key-01', PORT: '0', LOG_LEVEL: 'warn' });
      const { started, code } = await startedOrExited(p);
      if (started) await p.stop();
      expect(started, p.output()).toBe(false);
      expect(code).toBe(1);
      expect(p.output()).toMatch(/REDIS_URL: must be a redis|Redis does not answer at redis:\/\/:\*\*\*@127\.0\.0\.1/);
      noLeak(p.output());
    }
  }, 60_000);
});

describe('relay doctor', () => {
  function doctor(env: Record<string, string>, args: string[] = []): Promise<{ code: number | null; output: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'doctor', ...args], {
        cwd: tmpdir(),
        env: cleanEnv({ NO_COLOR: '1', ...env }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, output });
      });
    });
  }

  it('never prints a Redis password, however REDIS_URL writes it (human and --json)', async () => {
    const dead = await freePort();
    const urls = [
      `redis://:${ENCODED}@127.0.0.1:${redisPort}`, // the right password, percent-encoded: Redis answers
      `redis://:${PASSWORD}@127.0.0.1:${dead}`, // written raw: URL.password re-encodes it
      `redis://default:${ENCODED}@127.0.0.1:${dead}`,
      `redis+cluster://:${ENCODED}@127.0.0.1:${dead}`, // not a URL the doctor can probe
    ];
    for (const REDIS_URL of urls) {
      for (const args of [[], ['--json']]) {
        const r = await doctor({ REDIS_URL }, args);
        expect(r.output, REDIS_URL).toMatch(/Redis/);
        expect(r.output).toMatch(/:\*\*\*@/);
        noLeak(r.output);
      }
    }
  }, 90_000);
});
