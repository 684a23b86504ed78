/**
 * The fault suite's harness: every scenario runs its own private redis-server (AOF on, a free
 * loopback port, a temporary directory), the simulator in its own process, and the relay's API
 * and workers as separate `node --import tsx` processes — the shared Redis on 6379 is never
 * touched. A load loop posts events (single and batch requests, unique ids) and records which
 * ids got a 2xx; after the fault and a bounded drain the simulator's recorded unique_ids are
 * compared with that set.
 *
 * Every process started here is registered with its scenario and killed by `cleanup()` (and, as a
 * last resort, when the test process exits); each process's output goes to
 * test/artifacts/faults-logs/<scenario>/ for diagnosis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Cluster, Redis } from 'ioredis';
import { expect } from 'vitest';
import { eventKey } from '../../src/item-keys.ts';
import { sourceIdForKey } from '../../src/sources.ts';
import type { FaultRule } from '../../src/sim/index.ts';
import { freePort } from '../support/ports.ts';
import { StopWaiting, waitUntil } from '../support/wait.ts';

export { freePort };

export const ROOT = resolve(import.meta.dirname, '../..');
export const ARTIFACTS = join(ROOT, 'test/artifacts');
export const TABLE_FILE = join(ARTIFACTS, 'faults-table.json');
export const LOG_DIR = join(ARTIFACTS, 'faults-logs');

export const RELAY_KEY = 'faults-relay-key-1';
export const MATON_KEY = 'x';
export const CONNECTION = 'faults';
const QUEUE_PREFIX = 'relay';
/** The BullMQ key prefix of one of the default lane's queues (every key of it shares the hash tag). */
const SOURCE_ID = sourceIdForKey(RELAY_KEY);
/**
 * The key prefixes of a kind's queues that the scenarios' work can be in (issue 12: one queue per
 * class and source, plus the legacy `<kind>.default`), all under the hash tag `{<kind>.default}`.
 */
export const queueKeyPrefixes = (kind: 'events' | 'profiles' | 'webhooks' = 'events') => {
  const names = kind === 'webhooks' ? [`${kind}.default`] : [`${kind}.default`, `${kind}.default.live.${SOURCE_ID}`, `${kind}.default.bulk.${SOURCE_ID}`];
  return names.map((name) => `${QUEUE_PREFIX}:{${kind}.default}:${name}`);
};

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Processes

/** Every live child of this test process: killed on exit even if a scenario's cleanup never ran. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  private out = '';
  private readonly log: WriteStream;

  constructor(
    readonly name: string,
    cmd: string,
    args: string[],
    env: Record<string, string>,
    logFile: string,
  ) {
    this.log = createWriteStream(logFile, { flags: 'a' });
    this.log.write(`\n=== ${new Date().toISOString()} ${cmd} ${args.join(' ')}\n`);
    this.child = spawn(cmd, args, { cwd: ROOT, env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this.child);
    const onData = (d: Buffer) => {
      this.log.write(d);
      this.out += d.toString();
      if (this.out.length > 200_000) this.out = this.out.slice(-100_000);
    };
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        live.delete(this.child);
        this.log.write(`=== exited code=${code} signal=${signal}\n`);
        this.log.end();
        resolve({ code, signal });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  output(): string {
    return this.out;
  }

  /** Sends `signal` and waits for the exit; SIGKILL after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<Exit & { ms: number; forced: boolean }> {
    const t0 = Date.now();
    if (!this.alive) return { ...(await this.exited), ms: 0, forced: false };
    this.child.kill(signal);
    let forced = false;
    const timer = setTimeout(() => {
      forced = true;
      this.child.kill('SIGKILL');
    }, timeoutMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return { ...exit, ms: Date.now() - t0, forced };
  }

  kill9(): Promise<Exit> {
    if (this.alive) this.child.kill('SIGKILL');
    return this.exited;
  }
}

/** Children get a clean environment: nothing from the developer's shell can steer the relay. */
function baseEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ', 'TSX_TSCONFIG_PATH']) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return { ...env, ...extra };
}

// ---------------------------------------------------------------------------------------------
// A scenario's world: private Redis, simulator, API, workers

export interface QueueCounts {
  wait: number;
  paused: number;
  active: number;
  delayed: number;
  prioritized: number;
  waitingChildren: number;
  failed: number;
  /** Everything not yet finished. */
  pending: number;
}

export class Scenario {
  readonly dir: string;
  readonly logDir: string;
  readonly procs = new Set<Proc>();
  redisPort = 0;
  apiPort = 0;
  simUrl = '';
  redis?: Proc;
  sim?: Proc;
  api?: Proc;
  workers: Proc[] = [];
  protected client?: Redis | Cluster;
  private seq = 0;
  private readonly t0 = Date.now();

  /** `where` lets another suite (test/cluster) keep its temp dirs and logs apart; the defaults are the fault suite's. */
  protected constructor(
    readonly name: string,
    where: { tmpPrefix?: string; logRoot?: string } = {},
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `${where.tmpPrefix ?? 'relay-faults'}-${name}-`));
    this.logDir = join(where.logRoot ?? LOG_DIR, name);
    rmSync(this.logDir, { recursive: true, force: true });
    mkdirSync(this.logDir, { recursive: true });
  }

  get redisUrl(): string {
    return `redis://127.0.0.1:${this.redisPort}`;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  /** Seconds since the scenario started, for notes. */
  elapsed(): string {
    return ((Date.now() - this.t0) / 1000).toFixed(1);
  }

  /** Redis, simulator, API and one worker, started together. */
  static async start(name: string, opts: { workers?: number } = {}): Promise<Scenario> {
    const sc = new Scenario(name);
    try {
      [sc.redisPort, sc.apiPort] = await Promise.all([freePort(), freePort()]);
      await Promise.all([sc.startRedis(), sc.startSim()]);
      await Promise.all([sc.startApi(), ...Array.from({ length: opts.workers ?? 1 }, () => sc.startWorker())]);
      return sc;
    } catch (err) {
      await sc.cleanup();
      throw err;
    }
  }

  protected spawn(name: string, cmd: string, args: string[], env: Record<string, string> = {}): Proc {
    const p = new Proc(name, cmd, args, env, join(this.logDir, `${name}.log`));
    this.procs.add(p);
    void p.exited.then(() => this.procs.delete(p));
    return p;
  }

  /** Starts (or restarts: same port, same directory, so the AOF is replayed) the private redis-server. */
  async startRedis(): Promise<void> {
    if (this.redis?.alive) throw new Error('redis-server is already running');
    const p = this.spawn('redis', 'redis-server', [
      '--bind',
      '127.0.0.1',
      '--port',
      String(this.redisPort),
      '--dir',
      this.dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
      '--daemonize',
      'no',
      '--protected-mode',
      'yes',
    ]);
    this.redis = p;
    await waitUntil(
      'redis-server to answer PING',
      async () => {
        if (!p.alive) throw new StopWaiting(`redis-server exited: ${p.output().slice(-2000)}`);
        const probe = new Redis(this.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
        probe.on('error', () => undefined);
        try {
          await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          return false;
        } finally {
          probe.disconnect();
        }
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
  }

  /** SIGTERM: Redis fsyncs its AOF and exits (what a restart or a clean stop does). */
  async stopRedis(): Promise<void> {
    const r = this.redis;
    if (!r) return;
    const exit = await r.stop('SIGTERM', 15_000);
    if (exit.forced) throw new Error('redis-server did not exit on SIGTERM within 15 s');
  }

  async startSim(): Promise<void> {
    const p = this.spawn('sim', process.execPath, ['--import', 'tsx', 'test/faults/sim-process.ts']);
    this.sim = p;
    this.simUrl = await waitUntil(
      'the simulator',
      () => {
        if (!p.alive) throw new StopWaiting(`simulator exited: ${p.output().slice(-2000)}`);
        return /^(http:\/\/\S+)/m.exec(p.output())?.[1];
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
  }

  relayEnv(extra: Record<string, string> = {}): Record<string, string> {
    return {
      REDIS_URL: this.redisUrl,
      RELAY_START_REDIS: 'false',
      MATON_API_KEY: MATON_KEY,
      MATON_GATEWAY_URL: this.simUrl,
      MATON_CONNECTION_ID: CONNECTION,
      RELAY_API_KEYS: RELAY_KEY,
      PORT: String(this.apiPort),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      RELAY_RETRY_BASE_MS: '200',
      RELAY_RETRY_MAX_MS: '2000',
      RELAY_JOB_ATTEMPTS: '50',
      KLAVIYO_TIMEOUT_MS: '2000',
      RELAY_SHUTDOWN_TIMEOUT_MS: '5000',
      // The API's local spool (when Redis is down) lives in the scenario's directory: never in the
      // checkout's .data/spool, where another run's API would find and replay it.
      RELAY_SPOOL_DIR: join(this.dir, 'spool'),
      ...extra,
    };
  }

  /**
   * The API on the scenario's fixed port (a restarted API answers at the same URL), or on `port`
   * (a scenario with several API processes); resolves once /readyz is 200.
   */
  async startApi(port: number = this.apiPort): Promise<Proc> {
    const p = this.spawn(`api-${++this.seq}`, process.execPath, ['--import', 'tsx', 'src/server.ts'], this.relayEnv({ PORT: String(port) }));
    this.api = p;
    await waitUntil(
      'the relay API to be ready',
      async () => {
        if (!p.alive) throw new StopWaiting(`relay API exited: ${p.output().slice(-2000)}`);
        const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
        await res?.body?.cancel();
        return res?.status === 200;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    return p;
  }

  /** A worker process; resolves once it printed its banner (its BullMQ workers are ready by then). */
  async startWorker(): Promise<Proc> {
    const p = this.spawn(`worker-${++this.seq}`, process.execPath, ['--import', 'tsx', 'workers/main.ts'], this.relayEnv({ PORT: '0' }));
    this.workers.push(p);
    await waitUntil(
      'a relay worker to start',
      () => {
        if (!p.alive) throw new StopWaiting(`relay worker exited: ${p.output().slice(-2000)}`);
        return /workers running \(pid \d+\)/.test(p.output());
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    return p;
  }

  // --- simulator control -----------------------------------------------------------------------

  async addFault(rule: FaultRule | FaultRule[]): Promise<string[]> {
    const res = await fetch(`${this.simUrl}/__sim/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(rule) });
    const body = (await res.json()) as { faults?: { id: string }[] };
    if (res.status !== 201 || !body.faults) throw new Error(`could not add fault rule: ${res.status} ${JSON.stringify(body)}`);
    return body.faults.map((f) => f.id);
  }

  async removeFault(id: string): Promise<void> {
    await (await fetch(`${this.simUrl}/__sim/faults/${encodeURIComponent(id)}`, { method: 'DELETE' })).body?.cancel();
  }

  async clearFaults(): Promise<void> {
    await (await fetch(`${this.simUrl}/__sim/faults`, { method: 'DELETE' })).body?.cancel();
  }

  async simStats(): Promise<SimStatsView> {
    return (await (await fetch(`${this.simUrl}/__sim/stats`)).json()) as SimStatsView;
  }

  /**
   * Calls caught by fault rule `ruleId` that the simulator has not answered yet (delayed or hung):
   * a rule counts a call when it fires, the request log records it when it is answered.
   */
  async simInFlight(ruleId: string): Promise<number> {
    const { faults } = (await (await fetch(`${this.simUrl}/__sim/faults`)).json()) as { faults: { id: string; fired: number }[] };
    const fired = faults.find((f) => f.id === ruleId)?.fired ?? 0;
    const { requests } = (await (await fetch(`${this.simUrl}/__sim/requests?limit=5000`)).json()) as { requests: { fault?: string }[] };
    return fired - requests.filter((r) => r.fault === ruleId).length;
  }

  /** Every event the simulated account recorded (one per (profile, metric, unique_id)) and the duplicates it dropped. */
  async simEvents(): Promise<{ uniqueIds: string[]; duplicates: number }> {
    const state = (await (await fetch(`${this.simUrl}/__sim/state?events=all`)).json()) as {
      accounts: { id: string; duplicateEvents: number; events: { uniqueId: string | null }[] }[];
    };
    const account = state.accounts.find((a) => a.id === CONNECTION);
    return { uniqueIds: (account?.events ?? []).map((e) => e.uniqueId ?? '(none)'), duplicates: account?.duplicateEvents ?? 0 };
  }

  // --- Redis ---------------------------------------------------------------------------------

  /** The test's own connection to the scenario's Redis (a subclass may return a Cluster). */
  protected newClient(): Redis | Cluster {
    return new Redis(this.redisUrl, { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => 200, connectTimeout: 1000 });
  }

  /** A kind's counts over its queues (events unless told), read straight from the private Redis; undefined while Redis is away. */
  async queueCounts(kind: 'events' | 'profiles' | 'webhooks' = 'events'): Promise<QueueCounts | undefined> {
    if (!this.client) {
      this.client = this.newClient();
      this.client.on('error', () => undefined);
    }
    const client = this.client;
    const starting = () => client.status === 'wait' || client.status === 'connecting' || client.status === 'connect';
    if (starting()) await waitUntil('the first connection to Redis', () => !starting(), { timeoutMs: 2000, intervalMs: 10 }).catch(() => undefined);
    if (client.status !== 'ready') return undefined;
    try {
      const pipe = client.pipeline();
      const prefixes = queueKeyPrefixes(kind);
      for (const q of prefixes) {
        pipe
          .llen(`${q}:wait`)
          .llen(`${q}:paused`)
          .llen(`${q}:active`)
          .zcard(`${q}:delayed`)
          .zcard(`${q}:prioritized`)
          .zcard(`${q}:waiting-children`)
          .zcard(`${q}:failed`);
      }
      const r = await pipe.exec();
      const n = (i: number) => prefixes.reduce((sum, _, p) => sum + Number(r?.[p * 7 + i]?.[1] ?? 0), 0);
      const c = { wait: n(0), paused: n(1), active: n(2), delayed: n(3), prioritized: n(4), waitingChildren: n(5), failed: n(6) };
      return { ...c, pending: c.wait + c.paused + c.active + c.delayed + c.prioritized + c.waitingChildren };
    } catch {
      return undefined;
    }
  }

  /** Attempts BullMQ recorded on the completed jobs: how many jobs needed more than one, and the most any needed. */
  async attempts(): Promise<{ jobs: number; retried: number; max: number } | undefined> {
    await this.queueCounts();
    const client = this.client;
    if (client?.status !== 'ready') return undefined;
    try {
      const pipe = client.pipeline();
      let jobs = 0;
      for (const q of queueKeyPrefixes('events')) {
        const ids = await client.zrange(`${q}:completed`, '0', '-1');
        jobs += ids.length;
        for (const id of ids) pipe.hmget(`${q}:${id}`, 'atm', 'attemptsMade');
      }
      const rows = (await pipe.exec()) ?? [];
      let retried = 0;
      let max = 0;
      for (const [, v] of rows) {
        const [atm, made] = (v as (string | null)[] | undefined) ?? [];
        const n = Number(atm ?? made ?? 0);
        if (n > 1) retried++;
        max = Math.max(max, n);
      }
      return { jobs, retried, max };
    } catch {
      return undefined;
    }
  }

  /** Reads any key of the private Redis (e.g. a lane's pause marker); undefined while Redis is away. */
  async redisGet(key: string): Promise<string | null | undefined> {
    await this.queueCounts();
    if (this.client?.status !== 'ready') return undefined;
    return this.client.get(key).catch(() => undefined);
  }

  /** Kills every process of the scenario (SIGKILL: nothing is left to drain) and removes its directory. */
  async cleanup(): Promise<void> {
    this.client?.disconnect();
    this.client = undefined;
    await Promise.all([...this.procs].map((p) => p.kill9()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface SimStatsView {
  requests: { total: number; byEndpoint: Record<string, Record<string, number>> };
  throttled: { gateway: number; klaviyo: number };
  faulted: number;
  events: Record<string, { accepted: number; duplicates: number }>;
  /** Peak windows (src/sim/rate-limits.ts): per account × endpoint, and per (masked) Maton key. */
  peaks?: {
    klaviyo: Record<string, Record<string, { perSecond: number; perMinute: number; sentPerSecond: number; sentPerMinute: number }>>;
    gateway: Record<string, { perSecond: number; sentPerSecond: number }>;
  };
}

/** Answers with `status` across every endpoint (and 'hung' for requests never answered). */
export function countStatus(stats: SimStatsView, status: string): number {
  let n = 0;
  for (const byStatus of Object.values(stats.requests.byEndpoint)) n += byStatus[status] ?? 0;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Load

export interface PlannedRequest {
  readonly ids: readonly string[];
  readonly body: string;
}

/** Deterministic pseudo-random numbers (mulberry32), so a scenario's mix is the same every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `events` events with unique ids: about a fifth as single-event requests, the rest in batches of
 * 10 to 150, shuffled together. Events share ~100 profiles (Klaviyo dedupes on profile, metric
 * and unique_id, so each event's unique_id is what counts).
 */
export function planLoad(scenario: string, events: number, seed = 1): PlannedRequest[] {
  const rand = rng(seed);
  const run = Date.now().toString(36);
  let next = 0;
  const event = () => {
    const i = next++;
    return {
      id: `${scenario}-${run}-${i}`,
      event: 'Fault Check',
      profile: { email: `fault-${i % 97}@example.com` },
      properties: { n: i, scenario },
      value: 1 + (i % 10),
    };
  };
  const requests: PlannedRequest[] = [];
  const singles = Math.round(events * 0.2);
  for (let i = 0; i < singles; i++) {
    const e = event();
    requests.push({ ids: [e.id], body: JSON.stringify(e) });
  }
  while (next < events) {
    const size = Math.min(events - next, 10 + Math.floor(rand() * 141));
    const batch = Array.from({ length: size }, event);
    requests.push({ ids: batch.map((e) => e.id), body: JSON.stringify({ events: batch }) });
  }
  for (let i = requests.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [requests[i], requests[j]] = [requests[j]!, requests[i]!];
  }
  return requests;
}

export interface Answer {
  readonly at: number;
  /** HTTP status, or 0 for a transport error / timeout. */
  readonly status: number;
  readonly events: number;
  /** For status 0: the error's code (ECONNREFUSED: never sent; anything else: sent, no answer). */
  readonly error?: string;
}

/** The unique_id the relay gives an event posted with RELAY_KEY. */
export function uniqueIdOf(id: string): string {
  return eventKey(SOURCE_ID, id);
}

/**
 * Posts planned requests (bounded concurrency, paced over `durationMs`) and records each answer.
 * Ids answered with a 2xx are accepted; the rest can be retried once the fault is over, as the
 * README tells clients to (same ids: the relay deduplicates them).
 */
export class Loader {
  readonly accepted = new Set<string>();
  readonly answers: Answer[] = [];
  /** Requests whose last answer was not a 2xx. */
  failed: PlannedRequest[] = [];
  /** Events whose first answer was not a 2xx. */
  firstTryRejected = 0;
  retried = 0;
  /** Events answered 2xx that the relay reported as already seen (a retry of committed work). */
  duplicatesAtIngest = 0;
  /** Events answered 2xx from an API's local spool (`"spooled": true`: Redis did not take them then). */
  spooledAtIngest = 0;

  constructor(
    private readonly url: () => string,
    readonly plan: readonly PlannedRequest[],
  ) {}

  get planned(): number {
    return this.plan.reduce((n, r) => n + r.ids.length, 0);
  }

  private async post(req: PlannedRequest): Promise<boolean> {
    let status = 0;
    let duplicates = 0;
    let error: string | undefined;
    try {
      const res = await fetch(`${this.url()}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${RELAY_KEY}`, 'content-type': 'application/json' },
        body: req.body,
        signal: AbortSignal.timeout(15_000),
      });
      status = res.status;
      const text = await res.text();
      if (status >= 200 && status < 300) {
        const body = JSON.parse(text) as { duplicates?: number; spooled?: boolean };
        duplicates = Number(body.duplicates ?? 0);
        if (body.spooled === true) this.spooledAtIngest += req.ids.length;
      }
    } catch (err) {
      status = 0;
      const e = err as { name?: string; cause?: { code?: string; name?: string } };
      error = e.cause?.code ?? e.cause?.name ?? e.name ?? 'error';
    }
    this.answers.push({ at: Date.now(), status, events: req.ids.length, error });
    if (status >= 200 && status < 300) {
      for (const id of req.ids) this.accepted.add(id);
      this.duplicatesAtIngest += duplicates;
      return true;
    }
    return false;
  }

  /** Sends every planned request once, `concurrency` at a time, the i-th not before start + i·durationMs/n. */
  async run(opts: { concurrency: number; durationMs: number; isStopped?: () => boolean }): Promise<void> {
    const t0 = Date.now();
    const n = this.plan.length;
    let i = 0;
    const lane = async () => {
      for (;;) {
        const k = i++;
        if (k >= n) return;
        const due = t0 + (k * opts.durationMs) / n;
        if (due > Date.now()) await sleep(due - Date.now());
        const req = this.plan[k]!;
        if (!(await this.post(req))) {
          this.failed.push(req);
          this.firstTryRejected += req.ids.length;
        }
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, lane));
  }

  /** Re-posts the failed requests (same bodies, same ids), up to `rounds` times, `pauseMs` apart. */
  async retryFailed(opts: { rounds?: number; pauseMs?: number; concurrency?: number } = {}): Promise<void> {
    const rounds = opts.rounds ?? 3;
    for (let round = 0; round < rounds && this.failed.length > 0; round++) {
      if (round > 0) await sleep(opts.pauseMs ?? 1000);
      const todo = this.failed;
      this.failed = [];
      let i = 0;
      const lane = async () => {
        for (;;) {
          const req = todo[i++];
          if (!req) return;
          this.retried += req.ids.length;
          if (!(await this.post(req))) this.failed.push(req);
        }
      };
      await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, lane));
    }
  }

  /** Events whose answer satisfies `pred` (status 0 = transport error), optionally within a time window. */
  eventsAnswered(pred: (status: number, error?: string) => boolean, window?: { from: number; to: number }): number {
    let n = 0;
    for (const a of this.answers) if (pred(a.status, a.error) && (!window || (a.at >= window.from && a.at <= window.to))) n += a.events;
    return n;
  }

  statusSummary(): string {
    const by = new Map<string, number>();
    for (const a of this.answers) {
      const k = a.status === 0 ? (a.error ?? 'error') : String(a.status);
      by.set(k, (by.get(k) ?? 0) + 1);
    }
    return [...by]
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([s, c]) => `${s}×${c}`)
      .join(' ');
  }
}

// ---------------------------------------------------------------------------------------------
// Drain and verdict

export interface Verdict {
  readonly scenario: string;
  readonly accepted: number;
  readonly deliveredUnique: number;
  readonly lost: number;
  readonly unexpected: number;
  readonly duplicatesAbsorbed: number;
  /** Seconds from the end of ingest (`since`) until every accepted event was delivered and the queue was empty. */
  readonly drainS: number;
  readonly drained: boolean;
  readonly deadLetters: number;
  readonly pendingAtEnd: number;
  readonly notes: string;
  /** A few lost ids, for the failure message. */
  readonly lostSample: readonly string[];
}

/**
 * Waits (at most `timeoutMs`) until the simulator holds every accepted event and the queue has
 * nothing left, then compares. Gives up early when the queue is empty and nothing new arrived for
 * `quietMs` (what is missing by then is not coming).
 */
export async function drainAndCompare(
  sc: Scenario,
  loader: Loader,
  opts: { since: number; timeoutMs?: number; quietMs?: number; notes?: string[] },
): Promise<Verdict> {
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const quietMs = opts.quietMs ?? 15_000;
  const expected = new Map<string, string>(); // unique_id → id
  for (const id of loader.accepted) expected.set(uniqueIdOf(id), id);
  const planned = new Set<string>();
  for (const r of loader.plan) for (const id of r.ids) planned.add(uniqueIdOf(id));

  const deadline = Date.now() + timeoutMs;
  let lastDelivered = -1;
  let lastChange = Date.now();
  let drained = false;
  let drainedAt = 0;
  let counts: QueueCounts | undefined;
  for (;;) {
    const stats = await sc.simStats().catch(() => undefined);
    counts = await sc.queueCounts();
    const delivered = stats?.events[CONNECTION]?.accepted ?? 0;
    if (delivered !== lastDelivered) {
      lastDelivered = delivered;
      lastChange = Date.now();
    }
    if (counts && counts.pending === 0 && delivered >= expected.size) {
      const { uniqueIds } = await sc.simEvents();
      const got = new Set(uniqueIds);
      if ([...expected.keys()].every((u) => got.has(u))) {
        drained = true;
        drainedAt = Date.now();
        break;
      }
    }
    if (counts && counts.pending === 0 && Date.now() - lastChange > quietMs) break;
    if (Date.now() > deadline) break;
    await sleep(250);
  }
  const end = drained ? drainedAt : Date.now();
  // A moment for anything still in flight (a late duplicate) to land before the final count.
  await sleep(500);
  const { uniqueIds, duplicates } = await sc.simEvents();
  const got = new Set(uniqueIds);
  const lost = [...expected.keys()].filter((u) => !got.has(u));
  const unexpected = [...got].filter((u) => !expected.has(u));
  const foreign = unexpected.filter((u) => !planned.has(u)).length;
  const finalCounts = (await sc.queueCounts()) ?? counts;
  const attempts = await sc.attempts();
  const notes = [...(opts.notes ?? [])];
  notes.push(`answers: ${loader.statusSummary()}`);
  if (attempts) notes.push(`${attempts.jobs} jobs completed, ${attempts.retried} after more than one attempt (most: ${attempts.max})`);
  if (loader.firstTryRejected > 0)
    notes.push(`${loader.firstTryRejected} events refused at first, ${loader.retried} re-posted, ${loader.planned - loader.accepted.size} never accepted`);
  if (loader.duplicatesAtIngest > 0) notes.push(`${loader.duplicatesAtIngest} re-posted events already held (ingest dedupe)`);
  if (uniqueIds.length !== got.size) notes.push(`simulator recorded ${uniqueIds.length - got.size} unique_ids twice (dedupe broken?)`);
  if (foreign > 0) notes.push(`${foreign} delivered events were never posted`);
  if (!drained) notes.push(`not drained: queue ${JSON.stringify(finalCounts)}`);
  return {
    scenario: sc.name,
    accepted: expected.size,
    deliveredUnique: got.size,
    lost: lost.length,
    unexpected: unexpected.length,
    duplicatesAbsorbed: duplicates,
    drainS: Math.round((end - opts.since) / 100) / 10,
    drained,
    deadLetters: finalCounts?.failed ?? -1,
    pendingAtEnd: finalCounts?.pending ?? -1,
    notes: notes.join('; '),
    lostSample: lost.slice(0, 5).map((u) => expected.get(u)!),
  };
}

// ---------------------------------------------------------------------------------------------
// The table

const COLUMNS: [keyof Verdict, string][] = [
  ['scenario', 'scenario'],
  ['accepted', 'accepted'],
  ['deliveredUnique', 'delivered unique'],
  ['lost', 'lost'],
  ['unexpected', 'unexpected'],
  ['duplicatesAbsorbed', 'dup. deliveries absorbed'],
  ['deadLetters', 'dead letters'],
  ['drainS', 'time to drain (s)'],
];

export function formatRows(rows: readonly Verdict[]): string {
  const cells = rows.map((r) => COLUMNS.map(([k]) => (k === 'drainS' && !r.drained ? `>${r.drainS} (not drained)` : String(r[k]))));
  const header = COLUMNS.map(([, h]) => h);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i === 0 ? ':' : '-') + '-'.repeat(w) + (i === 0 ? '-' : ':')).join('|')}|`;
  return [line(header), sep, ...cells.map(line)].join('\n');
}

/** Prints the scenario's row and appends it to the suite's table (test/artifacts/faults-table.json unless told). */
export function record(v: Verdict, tableFile: string = TABLE_FILE): void {
  mkdirSync(ARTIFACTS, { recursive: true });
  const rows: Verdict[] = existsSync(tableFile) ? (JSON.parse(readFileSync(tableFile, 'utf8')) as Verdict[]) : [];
  rows.push(v);
  writeFileSync(tableFile, JSON.stringify(rows, null, 2));
  console.log(`${formatRows([v])}\n  notes: ${v.notes}`);
}

export function describeFailure(v: Verdict): string {
  return `${v.scenario}: ${v.lost} accepted events lost (e.g. ${v.lostSample.join(', ')}), drained=${v.drained}, dead letters ${v.deadLetters}, pending ${v.pendingAtEnd}; ${v.notes}`;
}

/** Records the row, then holds the scenario to its promise: every accepted event delivered, once in effect. */
export function verdictHolds(v: Verdict, tableFile: string = TABLE_FILE): void {
  record(v, tableFile);
  expect(v.lost, describeFailure(v)).toBe(0);
  expect(v.drained, describeFailure(v)).toBe(true);
}
