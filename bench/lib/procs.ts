/**
 * Child processes for the benchmark: a private redis-server per scenario (so its memory can be
 * measured and the shared Redis is never loaded), the simulator, the relay's API and workers,
 * the baselines and the load generator — each in its own process, all on loopback.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../test/support/ports.ts';
import { waitUntil } from '../../test/support/wait.ts';

export { freePort };

export const DIST = 'dist';

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  stop(): Promise<void>;
  /** SIGKILL: for the end of a measurement, when a graceful drain would only add waiting. */
  kill(): Promise<void>;
}

const running = new Set<Proc>();

/**
 * `logFile`: the process's stdout goes to this file, as a user's logs go to a file or a log
 * driver, instead of a pipe this process reads (at the default `info` level the API writes a line
 * per request; reading them here would cost the load generator's and the API's shared cores).
 */
export function start(cmd: string, args: string[], env: Record<string, string> = {}, logFile?: string): Proc {
  const stdout = logFile ? openSync(logFile, 'a') : 'pipe';
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', stdout, 'pipe'] });
  if (typeof stdout === 'number') closeSync(stdout);
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const proc: Proc = {
    child,
    pid: child.pid!,
    output: () => out,
    kill: () =>
      new Promise<void>((resolve) => {
        running.delete(proc);
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        running.delete(proc);
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
  running.add(proc);
  return proc;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

export async function startRedis(): Promise<{ url: string; proc: Proc; client: Redis }> {
  const port = await freePort();
  const proc = start('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction']);
  const url = `redis://127.0.0.1:${port}`;
  // No reconnecting: the server is stopped at the end of each scenario.
  const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
  client.on('error', () => undefined);
  await waitUntil(
    'redis-server',
    async () => {
      try {
        if (client.status !== 'ready') await client.connect();
        return (await client.ping()) === 'PONG';
      } catch {
        return false;
      }
    },
    { timeoutMs: 30_000, intervalMs: 50 },
  );
  return { url, proc, client };
}

/**
 * The simulator stands in for Klaviyo's and Maton's own machines. On this shared 2-core box it
 * runs at a higher priority (when allowed), so that it counts requests when they arrive rather
 * than when our own load leaves it a moment: a starved simulator bunches arrivals up and reports
 * 429s that a remote service would not.
 */
/**
 * A private Redis Cluster of three masters (no replicas: the benchmark measures throughput, the
 * cluster test measures failover). Its `url` is a redis+cluster:// URL; `client` talks to the
 * first master (for INFO memory, summed over masters by `usedMemory`).
 */
export async function startCluster(): Promise<{ url: string; procs: Proc[]; nodes: Redis[]; usedMemory(): Promise<number>; stop(): Promise<void> }> {
  const ports = [await freePort(), await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-cluster-'));
  const procs = ports.map((port) =>
    start('redis-server', [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      join(dir, `nodes-${port}.conf`),
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
    ]),
  );
  const nodes = ports.map((port) => {
    const c = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: 1, lazyConnect: true, retryStrategy: () => null });
    c.on('error', () => undefined);
    return c;
  });
  const up = async (n: Redis) => {
    try {
      if (n.status !== 'ready') await n.connect();
      return (await n.ping()) === 'PONG';
    } catch {
      return false;
    }
  };
  await waitUntil('cluster nodes', async () => (await Promise.all(nodes.map(up))).every(Boolean), { timeoutMs: 30_000, intervalMs: 50 });
  const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], { encoding: 'utf8' });
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
  await waitUntil(
    'cluster_state:ok',
    async () => (await Promise.all(nodes.map((n) => n.cluster('INFO') as Promise<string>))).every((i) => i.includes('cluster_state:ok')),
    { timeoutMs: 30_000, intervalMs: 50 },
  );
  return {
    url: `redis+cluster://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
    procs,
    nodes,
    async usedMemory() {
      const infos = await Promise.all(nodes.map((n) => n.info('memory')));
      return infos.reduce((sum, i) => sum + Number(/used_memory:(\d+)/.exec(i)![1]), 0);
    },
    async stop() {
      for (const n of nodes) n.disconnect();
      await Promise.all(procs.map((p) => p.stop()));
    },
  };
}

/** `watch`: note live events' and subscribes' arrival times (bench/lib/arrival-watch.ts). */
export async function startSim(retain: boolean, watch = false): Promise<{ url: string; proc: Proc }> {
  const node = [process.execPath, `${DIST}/bench/sim-process.js`];
  const canRaise = spawnSync('nice', ['-n', '-10', 'true']).status === 0;
  const env = { SIM_RETAIN: retain ? '1' : '0', SIM_WATCH: watch ? '1' : '0' };
  const proc = canRaise ? start('nice', ['-n', '-10', ...node], env) : start(node[0]!, node.slice(1), env);
  const url = await waitUntil('simulator', () => /^(http:\/\/\S+)/m.exec(proc.output())?.[1], { timeoutMs: 30_000, intervalMs: 50 });
  return { url, proc };
}

export const BENCH_KEY = 'bench-relay-key-1';
export const CONNECTION = 'bench';

export function relayEnv(redisUrl: string, simUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_URL: redisUrl,
    RELAY_START_REDIS: 'false',
    MATON_API_KEY: 'bench-maton-key',
    MATON_GATEWAY_URL: simUrl,
    MATON_CONNECTION_ID: CONNECTION,
    RELAY_API_KEYS: BENCH_KEY,
    RELAY_QUEUE_PREFIX: 'relay',
    HOST: '127.0.0.1',
    ...extra,
  };
}

/** The API with the settings given (the default log level, `info`, unless `env` says otherwise); its log goes to a file. */
export async function startApi(env: Record<string, string>): Promise<{ url: string; proc: Proc; logFile: string }> {
  const port = await freePort();
  const logFile = join(mkdtempSync(join(tmpdir(), 'relay-bench-api-')), 'api.log');
  const proc = start(process.execPath, [`${DIST}/src/server.js`], { ...env, PORT: String(port) }, logFile);
  const url = `http://127.0.0.1:${port}`;
  await waitUntil('relay API', async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.ok, { timeoutMs: 30_000, intervalMs: 50 });
  return { url, proc, logFile };
}

export function startWorker(env: Record<string, string>): Proc {
  return start(process.execPath, [`${DIST}/workers/main.js`], env);
}

export async function simStats(simUrl: string): Promise<{
  events: Record<string, { accepted: number; duplicates: number }>;
  throttled: { gateway: number; klaviyo: number };
  requests: { total?: number; byEndpoint: Record<string, Record<string, number>> };
}> {
  return (await (await fetch(`${simUrl}/__sim/stats`)).json()) as never;
}

export function delivered(stats: Awaited<ReturnType<typeof simStats>>, account = CONNECTION): number {
  return stats.events[account]?.accepted ?? 0;
}

export function callsMade(stats: Awaited<ReturnType<typeof simStats>>): number {
  let n = 0;
  for (const byStatus of Object.values(stats.requests.byEndpoint)) for (const [status, c] of Object.entries(byStatus)) if (status.startsWith('2')) n += c;
  return n;
}

/** Runs the load generator (its own process) and returns its JSON summary. */
export async function load(opts: {
  url: string;
  connections: number;
  duration: number;
  body: string;
  headers?: Record<string, string>;
  amount?: number;
}): Promise<LoadResult> {
  const file = join(mkdtempSync(join(tmpdir(), 'relay-load-')), 'opts.json');
  writeFileSync(file, JSON.stringify(opts));
  const proc = start(process.execPath, [`${DIST}/bench/lib/load.js`, `@${file}`]);
  await new Promise((r) => proc.child.once('exit', r));
  const line = proc.output().trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as LoadResult;
  } catch {
    throw new Error(`load generator failed: ${proc.output().slice(-500)}`);
  }
}

export interface LoadResult {
  requests: number;
  rps: number;
  durationS: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
