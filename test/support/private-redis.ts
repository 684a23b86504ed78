/**
 * A redis-server of the test's own on a free loopback port, for tests that stop or restart Redis,
 * or need one set up like a managed Redis: TLS only (`tls`: the plain port is off), a password
 * for the default user (`password`), ACL users (`users`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redisAnswers } from '../../src/runtime/ensure-redis.ts';
import { freePort } from './ports.ts';
import type { TestCerts } from './test-certs.ts';
import { StopWaiting, waitUntil } from './wait.ts';

export interface PrivateRedis {
  /** `redis://127.0.0.1:<port>`, or `rediss://…` with TLS (no credentials: tests add their own). */
  readonly url: string;
  readonly port: number;
  /** What redis-server printed (its log), e.g. to check what reached it. */
  log(): string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its data directory. */
  destroy(): Promise<void>;
}

export interface PrivateRedisOptions {
  aof?: boolean;
  /** Serve TLS only, with this CA's server certificate (clients are not asked for one). */
  tls?: TestCerts;
  /** `requirepass`: the default user's password. */
  password?: string;
  /** ACL users: `{ name, password }`, each allowed every key, channel and command. */
  users?: readonly { name: string; password: string }[];
}

export async function privateRedis(opts: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'relay-test-redis-'));
  const url = `${opts.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`;
  const args = ['--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', opts.aof === false ? 'no' : 'yes', '--appendfsync', 'always'];
  if (opts.tls) {
    args.push(
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--tls-cert-file',
      opts.tls.certFile,
      '--tls-key-file',
      opts.tls.keyFile,
      '--tls-ca-cert-file',
      opts.tls.caFile,
      '--tls-auth-clients',
      'no',
    );
  } else {
    args.push('--port', String(port));
  }
  if (opts.password) args.push('--requirepass', opts.password);
  for (const u of opts.users ?? []) args.push('--user', u.name, 'on', `>${u.password}`, '~*', '&*', '+@all');
  let child: ChildProcess | undefined;
  let log = '';
  const start = async () => {
    const seen = log.length;
    child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    // A TLS-only server is ready when it says so (a PING in clear is what it must never get).
    const ready = opts.tls ? async () => /Ready to accept connections/.test(log.slice(seen)) : () => redisAnswers(url, 200);
    const started = child;
    await waitUntil(
      'redis-server to accept connections',
      () => {
        if (started.exitCode !== null) throw new StopWaiting(`redis-server exited: ${log.slice(seen)}`);
        return ready();
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
  };
  const stop = () =>
    new Promise<void>((resolve) => {
      if (!child || child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  await start();
  return {
    url,
    port,
    log: () => log,
    start,
    stop,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
