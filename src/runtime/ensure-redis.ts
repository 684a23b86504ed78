/**
 * `npm start` should work on a laptop with nothing running: if Redis does not answer at REDIS_URL,
 * the URL points at this machine and `redis-server` is installed, start a private one (data under
 * ./.data/redis, AOF on so accepted work survives a restart) and say so. Otherwise stop with the
 * one-line fix.
 *
 * Only a plain `redis://` URL on this machine is probed here, with a hand-written PING. A TLS URL
 * or another host is left alone — a PING in clear to a TLS port, or to a managed Redis across a
 * network, is exactly what must not happen — and the service's own check (verify-redis.ts, over
 * ioredis with TLS and credentials) reports what is wrong there.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { resolve } from 'node:path';
import { redactRedisUrl } from '../redis-options.ts';

export interface PrivateRedis {
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

export function redisAnswers(url: string, timeoutMs = 1000): Promise<boolean> {
  const u = new URL(url);
  return new Promise((done) => {
    const sock = createConnection({ host: u.hostname || '127.0.0.1', port: Number(u.port || 6379) });
    const finish = (ok: boolean) => {
      sock.destroy();
      done(ok);
    };
    sock.setTimeout(timeoutMs, () => finish(false));
    sock.once('error', () => finish(false));
    // Any reply to PING (PONG, or NOAUTH on a protected server) means a Redis is listening.
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => finish(/^[+-]/.test(d.toString())));
  });
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export class RedisUnavailableError extends Error {}

/** A plain redis:// URL on this machine: the only kind probed here, and the only kind a private redis-server may serve. */
export function isLocalPlainRedis(url: string): boolean {
  if (!/^redis:\/\//i.test(url)) return false;
  try {
    return LOCAL_HOSTS.has(new URL(url).hostname);
  } catch {
    return false;
  }
}

export async function ensureRedis(url: string, allowStart: boolean, dataDir = resolve('.data/redis')): Promise<PrivateRedis | undefined> {
  if (!isLocalPlainRedis(url)) return undefined;
  // Any reply counts as running, NOAUTH included: a protected local Redis is the operator's, and
  // the service's check says whether the credentials are right.
  if (await redisAnswers(url)) return undefined;
  const u = new URL(url);
  const port = Number(u.port || 6379);
  const fix = `start Redis (e.g. \`redis-server --port ${port}\`) or set REDIS_URL to a running one`;
  // A URL with credentials names a Redis someone runs with them; the private one would have none.
  if (!allowStart || u.username || u.password) throw new RedisUnavailableError(`Redis does not answer at ${redactRedisUrl(url)}: ${fix}`);
  if (spawnSync('redis-server', ['--version']).error)
    throw new RedisUnavailableError(`Redis does not answer at ${url} and redis-server is not installed: ${fix}`);

  mkdirSync(dataDir, { recursive: true });
  const child: ChildProcess = spawn(
    'redis-server',
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--dir',
      dataDir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'noeviction',
      '--save',
      '',
    ],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (await redisAnswers(url, 200)) {
      return {
        pid: child.pid,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      };
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new RedisUnavailableError(`Could not start a private redis-server on port ${port}: ${fix}`);
}
