/**
 * Issue #11, defect 7: managed Redis (TLS + AUTH, clusters too). Against real servers started
 * here on free loopback ports — a TLS-only redis-server with a password and an ACL user, and a
 * 3-master Redis Cluster with TLS on every link, a password and an ACL user — with certificates
 * made by openssl for this run: the relay (startService, and the real entry point as a process)
 * connects with TLS and credentials, every connection (BullMQ's duplicates included) keeps them,
 * events reach the simulator, and a wrong password or an untrusted certificate stops the start at
 * once with the fix. Nothing ever sends a PING in clear to a TLS or remote Redis.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { createRedis } from '../../src/redis.ts';
import { ensureRedis } from '../../src/runtime/ensure-redis.ts';
import { ClusterScenario } from '../cluster/cluster-scenario.ts';
import { CONNECTION, MATON_KEY, RELAY_KEY, startHarness, type Harness } from '../support/harness.ts';
import { freePort } from '../support/ports.ts';
import { privateRedis, type PrivateRedis } from '../support/private-redis.ts';
import { makeTestCerts, type TestCerts } from '../support/test-certs.ts';
import { waitUntil } from '../support/wait.ts';

const ROOT = resolve(import.meta.dirname, '../..');
/** Passwords with every character a URL must percent-encode. */
const DEFAULT_PW = 's3cr:t@/pw%!';
const ACL_USER = 'relay-app';
const ACL_PW = 'acl:P@ss/w%rd';
const enc = encodeURIComponent;
const uniq = (p: string) => `${p}-${Math.random().toString(36).slice(2, 10)}`;

let certs: TestCerts;
beforeAll(() => {
  certs = makeTestCerts();
});
afterAll(() => {
  certs?.remove();
});

/** A plain TCP listener on `host` that records every byte it receives and never answers. */
async function recorder(host: string): Promise<{ port: number; received: () => string; close: () => Promise<void> }> {
  let received = '';
  const server: Server = createServer((sock) => {
    sock.on('data', (d) => (received += d.toString('latin1')));
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as { port: number }).port,
    received: () => received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Posts one event and waits for the simulator to hold it. */
async function deliverOne(h: Harness, tag: string): Promise<void> {
  const id = uniq(tag);
  const res = await h.post('/v1/events', { id, event: 'Placed Order', profile: { email: `${id}@example.com` }, value: 12.5 });
  expect(res).toEqual({ status: 202, body: { accepted: 1, ids: [id], duplicates: 0 } });
  const events = await waitUntil(
    'the event delivered',
    () => {
      const e = h.sim.eventsFor(CONNECTION, { email: `${id}@example.com` });
      return e.length > 0 && e;
    },
    { timeoutMs: 15_000 },
  );
  expect(events).toHaveLength(1);
  expect(events[0]).toMatchObject({ metric: 'Placed Order', value: 12.5 });
}

/** `relay doctor --json` (the real bin, in a child process) with only these settings; its Redis check. */
async function doctorRedis(env: Record<string, string>): Promise<{ state: string; detail: string; fix?: string; output: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/relay.js'), 'doctor', '--json'], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  await new Promise((r) => child.once('exit', r));
  clearTimeout(timer);
  const report = JSON.parse(out.slice(out.indexOf('{'))) as { checks: { name: string; state: string; detail: string; fix?: string }[] };
  return { ...report.checks.find((c) => c.name === 'Redis')!, output: out };
}

describe('Redis settings: credentials and TLS reach every connection', () => {
  it('a cluster URL keeps its percent-encoded credentials, and TLS, for every node and for duplicates', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const plain = createRedis(`redis+cluster://us%3Aer:${enc(DEFAULT_PW)}@127.0.0.1:${p1},127.0.0.1:${p2}`, 'worker') as unknown as Cluster;
    const tls = createRedis(`rediss+cluster://:${enc(ACL_PW)}@127.0.0.1:${p1},127.0.0.1:${p2}`, 'worker') as unknown as Cluster;
    try {
      expect(plain).toBeInstanceOf(Cluster);
      expect(plain.options.redisOptions).toMatchObject({ username: 'us:er', password: DEFAULT_PW });
      expect(plain.options.redisOptions?.tls).toBeUndefined();
      expect(tls).toBeInstanceOf(Cluster);
      expect(tls.options.redisOptions).toMatchObject({ password: ACL_PW, tls: {} });
      expect(tls.options.redisOptions?.username).toBeUndefined();
      // What BullMQ does for a Worker's blocking connection.
      const dup = tls.duplicate();
      expect(dup.options.redisOptions).toMatchObject({ password: ACL_PW, tls: {} });
      dup.disconnect();
    } finally {
      plain.disconnect();
      tls.disconnect();
    }
  });

  it("REDIS_USERNAME / REDIS_PASSWORD override the URL's; the CA and server name reach a single Redis and its duplicates, the CA and password every cluster node", async () => {
    const port = await freePort();
    const config = loadConfig({
      REDIS_URL: `rediss://url-user:${enc('url-pw')}@127.0.0.1:${port}/2`,
      REDIS_USERNAME: ACL_USER,
      REDIS_PASSWORD: ACL_PW,
      REDIS_TLS_CA_FILE: certs.caFile,
      REDIS_TLS_SERVERNAME: 'localhost',
    });
    const single = createRedis(config.redis, 'worker', { lazyConnect: true }) as Redis;
    const dup = single.duplicate();
    try {
      for (const client of [single, dup]) {
        expect(client.options).toMatchObject({ host: '127.0.0.1', port, db: 2, username: ACL_USER, password: ACL_PW });
        expect(client.options.tls).toMatchObject({ servername: 'localhost' });
        expect(String(client.options.tls?.ca)).toContain('-----BEGIN CERTIFICATE-----');
      }
    } finally {
      single.disconnect();
      dup.disconnect();
    }
    const clusterConfig = loadConfig({
      REDIS_URL: 'rediss://127.0.0.1:1',
      REDIS_CLUSTER_NODES: `127.0.0.1:${port}`,
      REDIS_PASSWORD: ACL_PW,
      REDIS_TLS_CA_FILE: certs.caFile,
    });
    const cluster = createRedis(clusterConfig.redis, 'worker') as unknown as Cluster;
    try {
      expect(cluster).toBeInstanceOf(Cluster);
      expect(cluster.options.redisOptions).toMatchObject({ password: ACL_PW });
      expect(String(cluster.options.redisOptions?.tls?.ca)).toContain('-----BEGIN CERTIFICATE-----');
    } finally {
      cluster.disconnect();
    }
  });

  it('refuses TLS settings without a TLS URL and credentials that do not decode, naming the variable and never the secret', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (err) {
        if (err instanceof ConfigError) return err.problems.join('\n');
        throw err;
      }
      return '';
    };
    expect(problems({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_TLS_CA_FILE: certs.caFile })).toMatch(
      /REDIS_TLS_CA_FILE: set, but REDIS_URL is not a TLS URL: use rediss:\/\//,
    );
    expect(problems({ REDIS_URL: 'redis+cluster://127.0.0.1:7000', REDIS_TLS_SERVERNAME: 'redis.internal' })).toMatch(
      /REDIS_TLS_SERVERNAME: set, but REDIS_URL is not a TLS URL/,
    );
    const bad = problems({ REDIS_URL: 'rediss://app:top%zzsecret@127.0.0.1:6380' });
    expect(bad).toMatch(/REDIS_URL: the user name or password is not valid percent-encoding/);
    expect(bad).not.toContain('secret');
    expect(problems({ REDIS_URL: 'rediss://127.0.0.1:6380', REDIS_TLS_CA_FILE: join(certs.dir, 'missing.pem') })).toMatch(
      /REDIS_TLS_CA_FILE: cannot read .*missing\.pem \(ENOENT\)/,
    );
    expect(problems({ REDIS_URL: 'rediss://127.0.0.1:6380', REDIS_TLS_CA_FILE: certs.keyFile })).toMatch(/holds no PEM certificate/);
    expect(problems({ REDIS_URL: 'rediss+cluster://u:p@127.0.0.1:7000,127.0.0.1:7001', REDIS_TLS_CA_FILE: certs.caFile })).toBe('');
  });
});

describe('ensureRedis: no hand-written PING in clear to a TLS or remote Redis', () => {
  it('a rediss:// URL is not probed (a TLS port would get PING in clear) and gets no private redis-server', async () => {
    const tcp = await recorder('127.0.0.1');
    const dir = mkdtempSync(join(tmpdir(), 'relay-no-probe-'));
    try {
      const outcome = await ensureRedis(`rediss://:${enc(DEFAULT_PW)}@127.0.0.1:${tcp.port}`, true, dir).catch((err: Error) => err);
      await new Promise((r) => setTimeout(r, 200));
      expect(tcp.received()).toBe('');
      expect(outcome).toBeUndefined();
    } finally {
      await tcp.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a Redis on another host is not probed either (ioredis connects, with its TLS and credentials)', async () => {
    // 127.0.0.2: not one of this machine's names for a private Redis, yet still loopback.
    const tcp = await recorder('127.0.0.2');
    try {
      const outcome = await ensureRedis(`redis://127.0.0.2:${tcp.port}`, true).catch((err: Error) => err);
      await new Promise((r) => setTimeout(r, 200));
      expect(tcp.received()).toBe('');
      expect(outcome).toBeUndefined();
    } finally {
      await tcp.close();
    }
  });

  it('a protected local Redis (NOAUTH) counts as running: nothing is started in its place', async () => {
    const protectedRedis = await privateRedis({ password: DEFAULT_PW, aof: false });
    try {
      expect(await ensureRedis(protectedRedis.url, true, join(tmpdir(), 'relay-never-used'))).toBeUndefined();
    } finally {
      await protectedRedis.destroy();
    }
  });
});

describe('a TLS-only Redis with a password and an ACL user', () => {
  let server: PrivateRedis;
  let caEnv: Record<string, string>;
  beforeAll(async () => {
    server = await privateRedis({ tls: certs, password: DEFAULT_PW, users: [{ name: ACL_USER, password: ACL_PW }], aof: false });
    caEnv = { REDIS_TLS_CA_FILE: certs.caFile };
  });
  afterAll(async () => {
    await server?.destroy();
  });

  /** The test's own connection, as the default user. */
  const adminClient = () =>
    new Redis({
      host: '127.0.0.1',
      port: server.port,
      password: DEFAULT_PW,
      tls: { ca: readFileSync(certs.caFile, 'utf8') },
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });

  /** CLIENT LIST as the default user: who is connected. */
  async function clients(): Promise<string[]> {
    const admin = adminClient();
    try {
      await admin.connect();
      return ((await admin.client('LIST')) as string).trim().split('\n');
    } finally {
      admin.disconnect();
    }
  }

  it("delivers with the default user's percent-encoded password in a rediss:// URL", async () => {
    const h = await startHarness({ name: 'tls-pw', env: { REDIS_URL: `rediss://:${enc(DEFAULT_PW)}@127.0.0.1:${server.port}`, ...caEnv } });
    try {
      await deliverOne(h, 'tls-pw');
    } finally {
      await h.close();
    }
  });

  it("delivers as an ACL user given by REDIS_USERNAME / REDIS_PASSWORD; every connection, BullMQ's blocking ones included, is that user", async () => {
    const h = await startHarness({
      name: 'tls-acl',
      env: { REDIS_URL: `rediss://127.0.0.1:${server.port}`, REDIS_USERNAME: ACL_USER, REDIS_PASSWORD: ACL_PW, ...caEnv },
    });
    try {
      await deliverOne(h, 'tls-acl');
      const mine = (await clients()).filter((l) => / user=relay-app /.test(l));
      // The API's and the worker's connections, and a blocking duplicate per BullMQ Worker (3 per lane).
      expect(mine.length).toBeGreaterThanOrEqual(5);
      expect(mine.filter((l) => / cmd=(bzpopmin|bzpopmax|brpoplpush|blmove)\b/.test(l) || / flags=b /.test(l)).length).toBeGreaterThanOrEqual(1);
    } finally {
      await h.close();
    }
  });

  it('an API takes work into Redis from its first request: it listens once its TLS + AUTH connection is ready', async () => {
    const h = await startHarness({ name: 'tls-first', workers: false, env: { REDIS_URL: `rediss://:${enc(DEFAULT_PW)}@127.0.0.1:${server.port}`, ...caEnv } });
    try {
      const id = uniq('first');
      // At once, as a load balancer would send it: not spooled (and a profile operation not refused) for want of a handshake.
      const [event, profile] = await Promise.all([
        h.post('/v1/events', { id, event: 'Placed Order', profile: { email: `${id}@example.com` } }),
        h.post('/v1/profiles', { id: `${id}-p`, email: `${id}@example.com`, first_name: 'Ada' }),
      ]);
      expect(event).toEqual({ status: 202, body: { accepted: 1, ids: [id], duplicates: 0 } });
      expect(profile).toEqual({ status: 202, body: { accepted: 1, ids: [`${id}-p`], duplicates: 0 } });
    } finally {
      await h.close();
    }
  });

  it('a wrong password, or no CA for the private certificate, fails the start at once with the fix, never the secret', async () => {
    const t0 = Date.now();
    const wrong = await startHarness({
      name: 'tls-wrong',
      env: { REDIS_URL: `rediss://${ACL_USER}:${enc('not-the-password')}@127.0.0.1:${server.port}`, ...caEnv },
    }).then(
      async (h) => {
        await h.close();
      },
      (err: Error) => err,
    );
    expect(wrong?.message).toMatch(
      /^Redis at rediss:\/\/relay-app:\*\*\*@127\.0\.0\.1:\d+ refused the connection \(WRONGPASS[^)]*\): check the user name and password/,
    );
    expect(wrong?.message).not.toContain('not-the-password');
    const untrusted = await startHarness({ name: 'tls-noca', env: { REDIS_URL: `rediss://:${enc(DEFAULT_PW)}@127.0.0.1:${server.port}` } }).then(
      async (h) => {
        await h.close();
      },
      (err: Error) => err,
    );
    expect(untrusted?.message).toMatch(
      /^TLS to Redis at rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+ failed \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)[^)]*\): set REDIS_TLS_CA_FILE/,
    );
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('relay doctor connects as the relay does: TLS with the CA, the ACL user; a wrong password is a failure with its fix', async () => {
    const ok = await doctorRedis({ REDIS_URL: `rediss://${ACL_USER}:${enc(ACL_PW)}@127.0.0.1:${server.port}`, ...caEnv });
    expect(ok, ok.output).toMatchObject({ state: 'ok', detail: `answers at rediss://${ACL_USER}:***@127.0.0.1:${server.port}` });
    const wrong = await doctorRedis({
      REDIS_URL: `rediss://127.0.0.1:${server.port}`,
      REDIS_USERNAME: ACL_USER,
      REDIS_PASSWORD: 'wrong-password-456',
      ...caEnv,
    });
    expect(wrong.state).toBe('fail');
    expect(wrong.detail).toMatch(/refused the connection \(WRONGPASS/);
    expect(wrong.fix).toMatch(/check the user name and password/);
    expect(wrong.output).not.toContain('wrong-password-456');
    expect(server.log()).not.toMatch(/wrong version number/);
  });

  it('the real entry point (API process) starts on it without a PING in clear, and exits 1 with the fix on a wrong password', async () => {
    const spool = mkdtempSync(join(tmpdir(), 'relay-spool-tls-'));
    const prefix = uniq('tls-entry');
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      MATON_API_KEY: MATON_KEY,
      MATON_CONNECTION_ID: CONNECTION,
      RELAY_API_KEYS: RELAY_KEY,
      RELAY_QUEUE_PREFIX: prefix,
      RELAY_SPOOL_DIR: spool,
      REDIS_URL: `rediss://127.0.0.1:${server.port}`,
      REDIS_PASSWORD: DEFAULT_PW,
      ...caEnv,
    };
    const logBefore = server.log().length;
    const run = (extra: Record<string, string>) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { cwd: ROOT, env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      return { child, out: () => out, exited };
    };
    const ok = run({});
    onTestFinished(() => rmSync(spool, { recursive: true, force: true }));
    try {
      const url = await waitUntil(
        'the listening banner (or the exit)',
        () => /listening on (http:\/\/\S+)/.exec(ok.out())?.[1] ?? (ok.child.exitCode !== null && `exited: ${ok.out()}`),
        { timeoutMs: 30_000 },
      );
      expect(url).toMatch(/^http:/);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const id = uniq('entry');
      const res = await fetch(`${url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${RELAY_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ id, event: 'Placed Order', profile: { email: `${id}@example.com` } }),
      });
      // Accepted into Redis itself (not the local spool): the API's connection is TLS + AUTH.
      expect(await res.json()).toEqual({ accepted: 1, ids: [id], duplicates: 0 });
    } finally {
      ok.child.kill('SIGTERM');
    }
    expect(await ok.exited).toBe(0);
    // A PING in clear makes the TLS-only server log "Error accepting a client connection: …
    // wrong version number" (checked when this test was written).
    expect(server.log().slice(logBefore)).not.toMatch(/wrong version number/);

    const bad = run({ REDIS_PASSWORD: 'wrong-password-123' });
    const code = await Promise.race([bad.exited, new Promise((r) => setTimeout(() => r('still running after 20 s'), 20_000))]);
    if (code !== 1) bad.child.kill('SIGKILL');
    expect(code, bad.out()).toBe(1);
    expect(bad.out()).toMatch(/klaviyo-relay: could not start: Redis at rediss:\/\/127\.0\.0\.1:\d+ refused the connection \(WRONGPASS/);
    expect(bad.out()).not.toContain('wrong-password-123');
    expect(server.log().slice(logBefore)).not.toMatch(/wrong version number/);

    // What the accepted event left in this server.
    const admin = adminClient();
    await admin.connect();
    const keys = await admin.keys(`${prefix}:*`);
    if (keys.length) await admin.unlink(...keys);
    admin.disconnect();
  }, 60_000);
});

describe('a Redis Cluster with TLS on every link, a password and an ACL user', () => {
  let sc: ClusterScenario | undefined;
  beforeAll(async () => {
    sc = await ClusterScenario.redisOnly('security-tls-auth', {
      replicas: 0,
      security: { password: DEFAULT_PW, users: [{ name: ACL_USER, password: ACL_PW }], tls: certs },
    });
  }, 90_000);
  afterAll(async () => {
    await sc?.cleanup();
  });

  it('delivers through rediss+cluster://user:password@… (credentials percent-encoded in the URL)', async () => {
    const url = sc!.redisUrl.replace('rediss+cluster://', `rediss+cluster://${ACL_USER}:${enc(ACL_PW)}@`);
    expect(url).toMatch(/^rediss\+cluster:\/\/relay-app:acl%3AP%40ss%2Fw%25rd@127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$/);
    const h = await startHarness({ name: 'cluster-tls', env: { REDIS_URL: url, REDIS_TLS_CA_FILE: certs.caFile } });
    try {
      await deliverOne(h, 'cluster-tls');
    } finally {
      await h.close();
    }
  }, 60_000);

  it('relay doctor answers for the cluster URL', async () => {
    const url = sc!.redisUrl.replace('rediss+cluster://', `rediss+cluster://${ACL_USER}:${enc(ACL_PW)}@`);
    const ok = await doctorRedis({ REDIS_URL: url, REDIS_TLS_CA_FILE: certs.caFile });
    expect(ok, ok.output).toMatchObject({ state: 'ok', detail: `answers at ${url.replace(enc(ACL_PW), '***')}` });
  });

  it('a wrong password fails the start at once with the fix, never the secret', async () => {
    const url = sc!.redisUrl.replace('rediss+cluster://', `rediss+cluster://${ACL_USER}:${enc('nope-nope')}@`);
    const t0 = Date.now();
    const err = await startHarness({ name: 'cluster-wrong', env: { REDIS_URL: url, REDIS_TLS_CA_FILE: certs.caFile } }).then(
      async (h) => {
        await h.close();
      },
      (e: Error) => e,
    );
    expect(err?.message).toMatch(
      /^Redis at rediss\+cluster:\/\/relay-app:\*\*\*@127\.0\.0\.1:\d+,.* refused the connection \(WRONGPASS[^)]*\): check the user name and password/,
    );
    expect(err?.message).not.toContain('nope-nope');
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});
