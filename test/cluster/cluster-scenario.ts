/**
 * The fault harness's Scenario on a Redis Cluster: six `redis-server --cluster-enabled yes`
 * processes (3 masters with a replica each, AOF on, free loopback ports, a temp dir each) joined
 * by `redis-cli --cluster create`, the simulator, and the relay's API and worker processes with
 * `REDIS_URL=redis+cluster://<the masters>`. The shared Redis on 6379 is never touched: every port
 * comes from the OS (and its cluster bus port, +10000, is checked free too).
 *
 * Everything started here is a Proc of the scenario: `cleanup()` SIGKILLs it and removes the temp
 * dir; logs go to test/artifacts/cluster-logs/<scenario>/.
 *
 * `redisOnly(name, { replicas, security })` starts a cluster set up like a managed one instead:
 * fewer nodes, a password (`requirepass` + `masterauth`), ACL users, TLS only (`--tls-cluster`,
 * `--tls-replication`: the bus and replication too); then every command of the scenario's own
 * (node commands, redis-cli, its Cluster client) authenticates and speaks TLS.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { TestCerts } from '../support/test-certs.ts';
import { BODY_ENDPOINTS, ENDPOINTS } from '../../src/klaviyo/endpoints.ts';
import { ARTIFACTS, freePort, Scenario, sleep, type Proc } from '../faults/harness.ts';
import { StopWaiting, waitUntil } from '../support/wait.ts';

export const CLUSTER_LOG_DIR = join(ARTIFACTS, 'cluster-logs');
export const CLUSTER_TABLE_FILE = join(ARTIFACTS, 'cluster-table.json');
/** The Maton key (and connection) the simulator warm-up uses: never the relay's. */
export const WARM_UP_MATON_KEY = 'warm-up-maton-key-0001';

/** One line of CLUSTER NODES. */
export interface NodeView {
  readonly id: string;
  readonly port: number;
  readonly flags: readonly string[];
  readonly master: boolean;
  /** The master's node id, for a replica. */
  readonly masterId?: string;
  readonly failed: boolean;
  /** Slot ranges `[from, to]` (masters only). */
  readonly slots: readonly (readonly [number, number])[];
}

export function parseClusterNodes(text: string): NodeView[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, addr, flagStr, masterId, , , , , ...slots] = line.trim().split(' ');
      const flags = flagStr!.split(',');
      const port = Number(/:(\d+)@/.exec(addr!)?.[1] ?? 0);
      return {
        id: id!,
        port,
        flags,
        master: flags.includes('master'),
        masterId: masterId !== '-' ? masterId : undefined,
        failed: flags.includes('fail') || flags.includes('fail?'),
        slots: slots
          .filter((s) => !s.startsWith('['))
          .map((s) => {
            const [a, b] = s.split('-').map(Number);
            return [a!, b ?? a!] as const;
          }),
      };
    });
}

/** A cluster set up like a managed one: the default user's password, ACL users, TLS only. */
export interface ClusterSecurity {
  readonly password: string;
  readonly users?: readonly { name: string; password: string }[];
  readonly tls?: TestCerts;
}

/** A node: its port, and how to reach it when the cluster is protected. */
export type NodeAddress = number | { readonly port: number; readonly security?: ClusterSecurity };

/** ioredis options that authenticate (as the default user) and speak TLS to a protected cluster's nodes. */
export function securityOptions(security: ClusterSecurity | undefined): RedisOptions {
  if (!security) return {};
  return { password: security.password, ...(security.tls ? { tls: { ca: readFileSync(security.tls.caFile, 'utf8') } } : {}) };
}

/** Runs one command on one node over a short-lived connection (no cluster redirection). */
export async function nodeCommand(node: NodeAddress, ...args: (string | number)[]): Promise<unknown> {
  const { port, security } = typeof node === 'number' ? { port: node, security: undefined } : node;
  const r = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectTimeout: 1000,
    commandTimeout: 2000,
    ...securityOptions(security),
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await r.call(String(args[0]), ...args.slice(1).map(String));
  } finally {
    r.disconnect();
  }
}

/** `CLUSTER INFO` / `INFO replication` as a map; undefined when the node does not answer. */
async function infoMap(node: NodeAddress, ...args: string[]): Promise<Record<string, string> | undefined> {
  const text = (await nodeCommand(node, ...args).catch(() => undefined)) as string | undefined;
  if (typeof text !== 'string') return undefined;
  return Object.fromEntries(
    text
      .split(/\r?\n/)
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** `n` distinct free ports whose cluster bus ports (+10000) are free as well, none of them 6379/16379. */
async function clusterPorts(n: number): Promise<number[]> {
  const out: number[] = [];
  const taken = new Set<number>([6379, 16379]);
  for (let tries = 0; out.length < n; tries++) {
    if (tries > 500) throw new Error('could not find free ports for the Redis Cluster');
    const p = await freePort();
    if (p > 55_000 || taken.has(p) || taken.has(p + 10_000)) continue;
    if (!(await portIsFree(p + 10_000))) continue;
    out.push(p);
    taken.add(p).add(p + 10_000);
  }
  return out;
}

/** Runs a short command (redis-cli) to completion; its output is logged with the scenario's logs. */
function run(cmd: string, args: string[], timeoutMs = 30_000, env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

export interface FailoverTimes {
  /** The master that was failed over, and its replica that took over. */
  readonly oldMaster: number;
  readonly newMaster: number;
  /** Scenario-relative seconds (sc.elapsed()) when the failover was asked for, and the epoch ms. */
  readonly at: string;
  readonly atMs: number;
  /** ms from `CLUSTER FAILOVER` until the replica reported role:master. */
  readonly promotedMs: number;
  /** ms from `CLUSTER FAILOVER` until the old master was SIGKILLed. */
  readonly killedMs: number;
  /** Resolves with ms from `CLUSTER FAILOVER` until every live node has cluster_state:ok, sees the new master own its slots and flags the old one failed (undefined if not within the bound). */
  readonly settled: Promise<{ topologyMs?: number; failFlaggedMs?: number }>;
}

export class ClusterScenario extends Scenario {
  /** Ports of the six redis-servers, by port. */
  readonly nodes = new Map<number, Proc>();
  /** The masters' ports as created (the relay's REDIS_URL lists these). */
  seedMasters: number[] = [];
  apiPorts: number[] = [];
  apis: Proc[] = [];
  /** The relay's logs and the test's own: where problems get their evidence. */
  readonly clusterLog: string[] = [];

  private constructor(
    name: string,
    /** Replicas per master (the default cluster: 1). */
    readonly replicas = 1,
    /** Password, ACL users and TLS of a cluster set up like a managed one. */
    readonly security?: ClusterSecurity,
  ) {
    super(name, { tmpPrefix: 'relay-cluster', logRoot: CLUSTER_LOG_DIR });
  }

  /** The masters; rediss+cluster:// for a TLS cluster. Never with credentials: a test adds its own. */
  override get redisUrl(): string {
    return `${this.security?.tls ? 'rediss' : 'redis'}+cluster://${this.seedMasters.map((p) => `127.0.0.1:${p}`).join(',')}`;
  }

  /** How to reach node `port` (with the password and TLS of a protected cluster). */
  private at(port: number): NodeAddress {
    return { port, security: this.security };
  }

  /** redis-cli's TLS flags, and its password (REDISCLI_AUTH keeps it off the command line). */
  private cli(): { args: string[]; env: Record<string, string> } {
    const s = this.security;
    return { args: s?.tls ? ['--tls', '--cacert', s.tls.caFile] : [], env: s ? { REDISCLI_AUTH: s.password } : {} };
  }

  /** API ports in turn: the load goes to every API process. */
  private next = 0;
  nextApiUrl(): string {
    return `http://127.0.0.1:${this.apiPorts[this.next++ % this.apiPorts.length]}`;
  }

  override relayEnv(extra: Record<string, string> = {}): Record<string, string> {
    // Worker processes without the API serve /metrics on a port of their own: any free one. Info
    // logs (a line per request and per job, "moved spooled work into Redis") are the evidence
    // when something goes wrong.
    return super.relayEnv({ RELAY_METRICS_PORT: '0', LOG_LEVEL: 'info', ...extra });
  }

  protected override newClient(): Cluster {
    return new Cluster(
      this.seedMasters.map((port) => ({ host: '127.0.0.1', port })),
      {
        enableOfflineQueue: false,
        clusterRetryStrategy: () => 200,
        retryDelayOnMoved: 50,
        redisOptions: { maxRetriesPerRequest: 0, connectTimeout: 1000, ...securityOptions(this.security) },
      },
    );
  }

  /** The cluster, the simulator, `apis` API processes (each on its own port) and `workers` worker processes. */
  static async startCluster(name: string, opts: { apis: number; workers: number }): Promise<ClusterScenario> {
    const sc = new ClusterScenario(name);
    try {
      sc.apiPorts = [];
      while (sc.apiPorts.length < opts.apis) {
        const p = await freePort();
        if (p !== 6379 && !sc.apiPorts.includes(p)) sc.apiPorts.push(p);
      }
      sc.apiPort = sc.apiPorts[0]!;
      await Promise.all([sc.startRedisCluster(), sc.startSim().then(() => sc.warmUpSim())]);
      sc.apis = await Promise.all(sc.apiPorts.map((port) => sc.startApi(port)));
      await Promise.all(Array.from({ length: opts.workers }, () => sc.startWorker()));
      return sc;
    } catch (err) {
      await sc.cleanup();
      throw err;
    }
  }

  /** Just the Redis Cluster (3 masters, `replicas` each, default 1): for suites that bring their own relay and simulator. */
  static async redisOnly(name: string, opts: { replicas?: number; security?: ClusterSecurity } = {}): Promise<ClusterScenario> {
    const sc = new ClusterScenario(name, opts.replicas ?? 1, opts.security);
    try {
      await sc.startRedisCluster();
      return sc;
    } catch (err) {
      await sc.cleanup();
      throw err;
    }
  }

  /**
   * The simulator compiles each operation's OpenAPI validator on its first request (ajv, 50–250 ms
   * idle, more on a busy machine), and stamps arrivals only when its event loop gets to them: the
   * relay's first calls to an endpoint would look bunched into one second although the governor
   * spaced them. One request per body-carrying operation, from another Maton key and connection
   * (their own windows, checked with the rest), compiles them all before the relay runs.
   */
  async warmUpSim(): Promise<void> {
    // Only operations with a request body have a validator to compile (DELETE /api/webhooks/{id} has none).
    for (const name of BODY_ENDPOINTS) {
      const spec = ENDPOINTS[name];
      const res = await fetch(`${this.simUrl}/klaviyo${spec.path.replace('{id}', 'Warmup1')}`, {
        method: spec.method,
        headers: {
          authorization: `Bearer ${WARM_UP_MATON_KEY}`,
          'maton-connection': 'warm-up',
          revision: '2026-01-15',
          'content-type': 'application/vnd.api+json',
        },
        body: '{}',
      });
      await res.text();
      if (res.status !== 400) throw new Error(`simulator warm-up: ${spec.method} ${spec.path} answered ${res.status}, expected 400 (validated and refused)`);
      await sleep(120); // the warm-up key stays under the gateway's 10 requests/s too
    }
  }

  /** Three masters with `replicas` each (six nodes by default), `redis-cli --cluster create`, then cluster_state:ok everywhere. */
  async startRedisCluster(): Promise<void> {
    const t0 = Date.now();
    const total = 3 * (1 + this.replicas);
    const ports = await clusterPorts(total);
    const s = this.security;
    await Promise.all(
      ports.map(async (port) => {
        const dir = join(this.dir, `node-${port}`);
        mkdirSync(dir, { recursive: true });
        // A protected node: TLS only (client port, cluster bus and replication), the password for
        // clients and for its replicas' link to it, and the ACL users on every node.
        const secure = [
          ...(s?.tls
            ? [
                '--port',
                '0',
                '--tls-port',
                String(port),
                '--tls-cluster',
                'yes',
                '--tls-replication',
                'yes',
                '--tls-cert-file',
                s.tls.certFile,
                '--tls-key-file',
                s.tls.keyFile,
                '--tls-ca-cert-file',
                s.tls.caFile,
                '--tls-auth-clients',
                'no',
              ]
            : ['--port', String(port)]),
          ...(s ? ['--requirepass', s.password, '--masterauth', s.password] : []),
          ...(s?.users ?? []).flatMap((u) => ['--user', u.name, 'on', `>${u.password}`, '~*', '&*', '+@all']),
        ];
        const p = this.spawn(`redis-${port}`, 'redis-server', [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, 'nodes.conf'),
          '--appendonly',
          'yes',
          '--save',
          '',
          '--bind',
          '127.0.0.1',
          ...secure,
          '--dir',
          dir,
        ]);
        this.nodes.set(port, p);
        await waitUntil(
          `redis-server on ${port} to answer PING`,
          async () => {
            if (!p.alive) throw new StopWaiting(`redis-server ${port} exited: ${p.output().slice(-2000)}`);
            return (await nodeCommand(this.at(port), 'PING').catch(() => undefined)) === 'PONG';
          },
          { timeoutMs: 20_000, intervalMs: 50 },
        );
      }),
    );
    const cli = this.cli();
    const create = await run(
      'redis-cli',
      [...cli.args, '--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(this.replicas), '--cluster-yes'],
      60_000,
      cli.env,
    );
    this.clusterLog.push(`redis-cli --cluster create: exit ${create.code}\n${create.out}`);
    if (create.code !== 0) throw new Error(`redis-cli --cluster create failed (${create.code}): ${create.out.slice(-2000)}`);
    await waitUntil(
      'cluster_state:ok on every node',
      async () => {
        for (const port of ports) if ((await infoMap(this.at(port), 'CLUSTER', 'INFO'))?.['cluster_state'] !== 'ok') return false;
        // …and every node knows all of them, with the three masters' replicas attached.
        const views = await Promise.all(ports.map((port) => this.topology(port)));
        return views.every(
          (v) =>
            v &&
            v.length === total &&
            v.filter((n) => n.master && n.slots.length > 0).length === 3 &&
            v.filter((n) => !n.master && n.masterId).length === total - 3,
        );
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const view = (await this.topology(ports[0]!))!;
    this.seedMasters = view.filter((n) => n.master).map((n) => n.port);
    this.clusterLog.push(`cluster ready in ${Date.now() - t0} ms: ${this.describeTopology(view)}`);
  }

  /** CLUSTER NODES as seen by `port`; undefined when it does not answer. */
  async topology(port: number): Promise<NodeView[] | undefined> {
    const text = await nodeCommand(this.at(port), 'CLUSTER', 'NODES').catch(() => undefined);
    return typeof text === 'string' ? parseClusterNodes(text) : undefined;
  }

  describeTopology(view: readonly NodeView[]): string {
    const byId = new Map(view.map((n) => [n.id, n]));
    return view
      .filter((n) => n.master)
      .sort((a, b) => (a.slots[0]?.[0] ?? 0) - (b.slots[0]?.[0] ?? 0))
      .map((m) => {
        const replicas = view.filter((n) => n.masterId === m.id).map((r) => `${r.port}${r.failed ? '(failed)' : ''}`);
        return `master ${m.port}${m.failed ? '(failed)' : ''} [${m.slots.map(([a, b]) => `${a}-${b}`).join(',')}] ← ${replicas.join(',') || 'no replica'}`;
      })
      .concat(view.filter((n) => !n.master && n.masterId && !byId.has(n.masterId)).map((n) => `replica ${n.port} of unknown ${n.masterId}`))
      .join('; ');
  }

  /** Ports of the nodes still running. */
  livePorts(): number[] {
    return [...this.nodes].filter(([, p]) => p.alive).map(([port]) => port);
  }

  /** The slot of a hash tag (CLUSTER KEYSLOT), and the port of the master serving it. */
  async masterFor(tag: string): Promise<{ slot: number; port: number; replica: number }> {
    const port0 = this.livePorts()[0]!;
    const slot = Number(await nodeCommand(this.at(port0), 'CLUSTER', 'KEYSLOT', tag));
    const view = (await this.topology(port0))!;
    const master = view.find((n) => n.master && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));
    if (!master) throw new Error(`no master serves slot ${slot}`);
    const replica = view.find((n) => n.masterId === master.id && !n.failed);
    if (!replica) throw new Error(`master ${master.port} has no live replica`);
    return { slot, port: master.port, replica: replica.port };
  }

  /**
   * The failover of the brief: `redis-cli -p <replica> cluster failover`, wait until the replica
   * reports role:master, then SIGKILL the old master. Settling (every live node agrees) is
   * watched in the background, bounded by `settleBoundMs`.
   */
  async failover(oldMaster: number, replica: number, settleBoundMs = 45_000): Promise<FailoverTimes> {
    const at = this.elapsed();
    const t0 = Date.now();
    const cli = this.cli();
    const res = await run('redis-cli', [...cli.args, '-p', String(replica), 'cluster', 'failover'], 10_000, cli.env);
    this.clusterLog.push(
      `${at} s (${new Date(t0).toISOString().slice(11, 23)}): redis-cli -p ${replica} cluster failover → ${res.out.trim()} (exit ${res.code})`,
    );
    if (res.code !== 0 || !/OK/.test(res.out)) throw new Error(`CLUSTER FAILOVER on ${replica} failed: ${res.out}`);
    await waitUntil(`replica ${replica} to report role:master`, async () => (await infoMap(this.at(replica), 'INFO', 'replication'))?.['role'] === 'master', {
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    const promotedMs = Date.now() - t0;
    const oldId = (await this.topology(oldMaster))?.find((n) => n.flags.includes('myself'))?.id;
    const newId = (await this.topology(replica))?.find((n) => n.flags.includes('myself'))?.id;
    await this.nodes.get(oldMaster)!.kill9();
    const killedMs = Date.now() - t0;
    this.clusterLog.push(`${this.elapsed()} s: replica ${replica} role:master after ${promotedMs} ms; old master ${oldMaster} SIGKILLed at +${killedMs} ms`);

    const settled = (async () => {
      let topologyMs: number | undefined;
      let failFlaggedMs: number | undefined;
      const deadline = t0 + settleBoundMs;
      while (Date.now() < deadline && failFlaggedMs === undefined) {
        const live = this.livePorts();
        const [infos, views] = await Promise.all([
          Promise.all(live.map((p) => infoMap(this.at(p), 'CLUSTER', 'INFO'))),
          Promise.all(live.map((p) => this.topology(p))),
        ]);
        const ok = infos.every((i) => i?.['cluster_state'] === 'ok');
        const agreed =
          ok &&
          views.every((v) => {
            const nm = v?.find((n) => n.id === newId);
            const om = v?.find((n) => n.id === oldId);
            // The old master may be seen as a replica of the new one, or (killed before it could
            // say so) as a master with no slots left.
            return nm?.master && nm.slots.length > 0 && om && om.slots.length === 0;
          });
        if (agreed && topologyMs === undefined) topologyMs = Date.now() - t0;
        if (agreed && views.every((v) => v?.find((n) => n.id === oldId)?.flags.includes('fail'))) failFlaggedMs = Date.now() - t0;
        await sleep(100);
      }
      const view = await this.topology(replica);
      this.clusterLog.push(
        `settled: topology agreed after ${topologyMs ?? '?'} ms, old master flagged fail after ${failFlaggedMs ?? '?'} ms; ${view ? this.describeTopology(view) : '(no view)'}`,
      );
      return { topologyMs, failFlaggedMs };
    })();
    return { oldMaster, newMaster: replica, at, atMs: t0, promotedMs, killedMs, settled };
  }

  /** ZRANGE key 0 -1 WITHSCORES through the test's own cluster connection (undefined while it cannot answer). */
  async zrangeWithScores(key: string): Promise<string[] | undefined> {
    await this.queueCounts();
    if (this.client?.status !== 'ready') return undefined;
    return (await this.client.zrange(key, '0', '-1', 'WITHSCORES')) as string[];
  }

  /** cluster_state of every live node (for the notes). */
  async clusterStates(): Promise<string> {
    const live = this.livePorts();
    const infos = await Promise.all(live.map((p) => infoMap(this.at(p), 'CLUSTER', 'INFO')));
    return live.map((p, i) => `${p}:${infos[i]?.['cluster_state'] ?? 'no answer'}`).join(' ');
  }
}
