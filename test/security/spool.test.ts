/**
 * Issue 11, defect 3: the local spool was named by pid (`spool-<pid>.log`). In a container the pid
 * is always 1, so the process that restarts after a crash during a Redis outage took its
 * predecessor's file for its own, empty one and never drained it. Files are now named by a stable
 * instance id; every abandoned file is recovered (this process's own name included), never one a
 * live process writes; files are 0600 and the directory 0700.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { Spool, SpoolInUseError, type SpoolRecord } from '../../src/ingest/spool.ts';
import { Queues } from '../../src/queues.ts';
import { createRedis } from '../../src/redis.ts';
import { CONNECTION, RELAY_KEY, RELAY_SOURCE, startHarness, type Harness } from '../support/harness.ts';
import { queueRef } from '../../src/queue-catalog.ts';
import { freePort } from '../support/ports.ts';
import { privateRedis } from '../support/private-redis.ts';
import { uniquePrefix } from '../support/redis.ts';
import { StopWaiting, waitUntil } from '../support/wait.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const tmp = (p: string) => mkdtempSync(join(tmpdir(), `relay-${p}-`));
const event = (tag: string, i: number) => ({ id: `${tag}-${i}`, event: 'Placed Order', profile: { email: `${tag}-${i}@example.com` } });
const mode = (path: string) => statSync(path).mode & 0o777;

async function post(url: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${RELAY_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

describe('a spool left by a previous life under the same name', () => {
  it('is delivered by the next start (same instance id, same pid as the process before)', async () => {
    const redis = await privateRedis();
    cleanups.push(() => redis.destroy());
    const dir = tmp('spool-life');
    const env = { REDIS_URL: redis.url, RELAY_SPOOL_DIR: dir, RELAY_INSTANCE_ID: 'api-a' };
    const tag = `life-${Math.random().toString(36).slice(2, 8)}`;

    // First life: Redis goes away, requests are answered from the spool, then the process stops.
    const first = await startHarness({ name: 'spool-life1', workers: false, env });
    await redis.stop();
    for (let i = 0; i < 5; i++) expect(await first.post('/v1/events', event(tag, i))).toMatchObject({ status: 202, body: { spooled: true } });
    await first.close();
    expect(readdirSync(dir).filter((f) => f.endsWith('.log'))).toHaveLength(1);

    // Second life: same name (and, in this test process, the same pid — as pid 1 is in a container).
    await redis.start();
    const second = await startHarness({ name: 'spool-life2', env });
    cleanups.push(() => second.close());
    await waitUntil(
      'every spooled event delivered',
      () => [0, 1, 2, 3, 4].every((i) => second.sim.eventsFor(CONNECTION, { email: `${tag}-${i}@example.com` }).length === 1),
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    // It was this process's own file: named by the instance id, emptied once drained.
    expect(readdirSync(dir).filter((f) => f.endsWith('.log'))).toEqual(['spool-api-a-0.log']);
    await waitUntil('the spool file emptied', () => !existsSync(join(dir, 'spool-api-a-0.log')) || statSync(join(dir, 'spool-api-a-0.log')).size === 0);
  }, 60_000);

  it('is delivered after kill -9 and a restart as pid 1 in a fresh pid namespace (a container restart)', async () => {
    const redis = await privateRedis();
    cleanups.push(() => redis.destroy());
    const dir = tmp('spool-pid1');
    const port = await freePort();
    const prefix = uniquePrefix('spool-pid1');
    const url = `http://127.0.0.1:${port}`;
    // No RELAY_INSTANCE_ID: the default (host name and port) is what a restarted container gets again.
    const env = {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: redis.url,
      RELAY_START_REDIS: 'false',
      MATON_API_KEY: 'test-maton-key',
      MATON_GATEWAY_URL: 'http://127.0.0.1:9',
      MATON_CONNECTION_ID: CONNECTION,
      RELAY_API_KEYS: RELAY_KEY,
      RELAY_QUEUE_PREFIX: prefix,
      RELAY_SPOOL_DIR: dir,
      LOG_LEVEL: 'warn',
    };
    const startApi = async () => {
      // `unshare --pid --fork`: the API runs as pid 1, as in a container; --kill-child: kill -9 of
      // unshare kills it too. Without root, a user namespace maps us to root inside.
      const ns = process.getuid?.() === 0 ? [] : ['--user', '--map-root-user'];
      const child = spawn('unshare', [...ns, '--pid', '--fork', '--kill-child=SIGKILL', process.execPath, '--import', 'tsx', 'src/server.ts'], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stderr!.on('data', (d) => (out += d));
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      cleanups.push(async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      });
      await waitUntil(
        'the API to be ready',
        async () => {
          if (child.exitCode !== null) throw new StopWaiting(`the API exited (${child.exitCode}): ${out.slice(-2000)}`);
          return (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200;
        },
        { timeoutMs: 40_000, intervalMs: 100 },
      );
      expect(out).toMatch(/\(pid 1\)/); // the banner: it really ran as pid 1
      return { child, exited };
    };

    const tag = `pid1-${Math.random().toString(36).slice(2, 8)}`;
    const first = await startApi();
    await redis.stop();
    for (let i = 0; i < 5; i++) expect(await post(url, event(tag, i))).toMatchObject({ status: 202, body: { spooled: true } });
    first.child.kill('SIGKILL');
    await first.exited;
    await redis.start();

    await startApi();
    const client = createRedis(redis.url, 'worker');
    cleanups.push(() => void client.disconnect());
    const queue = new Queues(client, prefix, { attempts: 1, keepCompletedS: 60 }).get(queueRef('events', 'default', 'live', RELAY_SOURCE));
    cleanups.push(() => queue.close());
    const ids = await waitUntil(
      'the spooled events queued in Redis',
      async () => {
        const jobs = await queue.getJobs(['waiting', 'prioritized', 'delayed']);
        const got = new Set(jobs.flatMap((j) => (j.data.items as { id: string }[]).map((it) => it.id)));
        return [0, 1, 2, 3, 4].every((i) => got.has(`${tag}-${i}`)) && got;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect([...ids].filter((id) => id.startsWith(tag)).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `${tag}-${i}`));
  }, 120_000);
});

describe('spool files', () => {
  it('are 0600 in a 0700 directory (also when the directory existed with a looser mode)', async () => {
    const redis = await privateRedis();
    cleanups.push(() => redis.destroy());
    const dir = join(tmp('spool-modes'), 'spool');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const h: Harness = await startHarness({ name: 'spool-modes', workers: false, env: { REDIS_URL: redis.url, RELAY_SPOOL_DIR: dir } });
    cleanups.push(() => h.close());
    await redis.stop();
    expect(await h.post('/v1/events', event('modes', 1))).toMatchObject({ status: 202, body: { spooled: true } });
    const files = readdirSync(dir).filter((f) => f.endsWith('.log'));
    expect(files).toHaveLength(1);
    expect(mode(join(dir, files[0]!)).toString(8)).toBe('600');
    expect(mode(dir).toString(8)).toBe('700');
    await redis.start();
  }, 30_000);
});

describe('siblings sharing a spool directory', () => {
  const timing = { heartbeatMs: 100, staleMs: 1000 };
  const record = (rec: SpoolRecord) => rec.items[0] as string;

  function writer(dir: string, name: string) {
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/security/support/spool-writer.ts', dir, name, String(timing.heartbeatMs), String(timing.staleMs)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    return {
      ready: () =>
        waitUntil(
          'the writer to be ready',
          () => {
            if (child.exitCode !== null) throw new StopWaiting(`writer ${name} exited: ${out}`);
            return out.includes('ready');
          },
          { timeoutMs: 20_000 },
        ),
      appended: () => [...out.matchAll(/^appended (\d+)$/gm)].map((m) => `${name}-${m[1]}`),
      kill: async () => {
        child.kill('SIGKILL');
        await exited;
      },
    };
  }

  it("a live sibling's file is never taken, however long it lives; a dead one's is recovered whole, once", async () => {
    const dir = tmp('spool-siblings');
    const a = writer(dir, 'api-a');
    const b = writer(dir, 'api-b');
    await Promise.all([a.ready(), b.ready()]);
    const c = await Spool.open(dir, 'api-c', 1 << 30, timing);
    cleanups.push(() => c.close());
    const applied: string[] = [];
    const apply = async (rec: SpoolRecord) => void applied.push(record(rec));

    // Three stale periods while both siblings write: nothing of theirs is touched.
    const until = Date.now() + 3 * timing.staleMs;
    while (Date.now() < until) {
      await c.drain(apply);
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(applied).toEqual([]);
    expect(a.appended().length).toBeGreaterThan(10);
    expect(readdirSync(dir).sort()).toEqual(expect.arrayContaining(['spool-api-a.log', 'spool-api-b.log']));

    // A dies: once its file is stale, it is recovered — every record it acknowledged, once; B's stays put.
    await a.kill();
    const acknowledged = a.appended();
    await waitUntil(
      'every acknowledged record applied',
      async () => {
        await c.drain(apply);
        return acknowledged.every((r) => applied.includes(r));
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    expect(new Set(applied).size).toBe(applied.length);
    expect(applied.every((r) => r.startsWith('api-a-'))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.startsWith('spool-api-a'))).toEqual([]);
    const bFile = readFileSync(join(dir, 'spool-api-b.log'), 'utf8');
    expect(bFile.split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(b.appended().length);
  }, 60_000);

  it('a second live process under the same name is refused at start', async () => {
    const dir = tmp('spool-same-name');
    const a = writer(dir, 'api-a');
    await a.ready();
    await expect(Spool.open(dir, 'api-a', 1 << 30, timing)).rejects.toThrow(SpoolInUseError);
    // Once it is gone, the name is taken over, with what it left.
    await waitUntil('three records appended', () => a.appended().length >= 3);
    await a.kill();
    const left = a.appended();
    const again = await Spool.open(dir, 'api-a', 1 << 30, timing);
    cleanups.push(() => again.close());
    expect(again.active).toBe(true);
    const applied: string[] = [];
    await again.drain(async (rec) => void applied.push(record(rec)));
    expect(applied).toEqual(expect.arrayContaining(left));
    expect(again.active).toBe(false);
  }, 30_000);
});

describe('the image and docker-compose.yml', () => {
  it('give the node user a writable data directory on a volume, and the API a named volume there', () => {
    const dockerfile = readFileSync('Dockerfile', 'utf8');
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('FROM '));
    expect(runtime).toMatch(/^RUN mkdir -p \/app\/\.data && chown node:node \/app\/\.data/m);
    expect(runtime).toMatch(/^VOLUME \/app\/\.data$/m);
    expect(runtime.indexOf('chown node:node /app/.data')).toBeLessThan(runtime.indexOf('USER node'));
    const compose = parseYaml(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as {
      services: Record<string, { volumes?: string[] }>;
      volumes: Record<string, unknown>;
    };
    for (const api of ['api', 'api-cluster']) {
      const mount = compose.services[api]!.volumes?.find((v) => v.endsWith(':/app/.data'));
      expect(mount, api).toBeDefined();
      expect(Object.keys(compose.volumes)).toContain(mount!.split(':')[0]);
    }
  });
});
