/**
 * The README's quick start, for real: `npm start` as a child process in sandbox mode, one curl,
 * the event arrives in the built-in sandbox; SIGTERM stops it with exit code 0.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteKeys, uniquePrefix } from '../support/redis.ts';
import { waitUntil } from '../support/wait.ts';

const prefix = uniquePrefix('npm-start');
afterAll(async () => {
  await deleteKeys(`${prefix}:*`);
});

describe('npm start (sandbox mode)', () => {
  it('delivers one curl-posted event end to end, then exits 0 on SIGTERM', async () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      RELAY_QUEUE_PREFIX: prefix,
      RELAY_SANDBOX_PORT: '0',
      LOG_LEVEL: 'warn',
      RELAY_SPOOL_DIR: mkdtempSync(join(tmpdir(), 'relay-spool-e2e-')),
    };
    for (const k of ['MATON_API_KEY', 'KLAVIYO_API_KEY', 'RELAY_API_KEYS', 'RELAY_CONFIG']) delete env[k];
    const child = spawn('npm', ['start', '--silent'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const url = await waitUntil('the listening banner', () => /listening on (http:\/\/\S+)/.exec(output)?.[1], { timeoutMs: 30_000 });
      expect(output).toContain('SANDBOX MODE');

      const { stdout } = await promisify(execFile)('curl', [
        '-s',
        '-X',
        'POST',
        `${url}/v1/events`,
        '-H',
        'Authorization: Bearer dev-key',
        '-H',
        'Content-Type: application/json',
        '-d',
        '{"id":"order-1001","event":"Placed Order","profile":{"email":"ada@example.com"},"value":29.99}',
      ]);
      expect(JSON.parse(stdout)).toEqual({ accepted: 1, ids: ['order-1001'], duplicates: 0 });

      const received = await waitUntil(
        "the sandbox's events",
        async () => {
          const r = (await (await fetch(`${url}/sandbox/events`)).json()) as {
            count: number;
            events: { metric: string; value: number; profile: { email: string } }[];
          };
          return r.count > 0 && r;
        },
        { timeoutMs: 15_000 },
      );
      expect(received.count).toBe(1);
      expect(received.events[0]).toMatchObject({ metric: 'Placed Order', value: 29.99, profile: { email: 'ada@example.com' } });

      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      // SIGTERM the service process itself (as an orchestrator would); npm then exits with its code.
      const pid = Number(/running \(pid (\d+)\)/.exec(output)?.[1]);
      if (pid) process.kill(pid, 'SIGTERM');
      else child.kill('SIGKILL');
    }
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 20_000))]);
    expect(code, output).toBe(0);
  }, 60_000);
});

describe('RELAY_API_PROCESSES', () => {
  it('runs the API in several processes on one port, and stops them all on SIGTERM', async () => {
    const prefix2 = uniquePrefix('api-procs');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      RELAY_QUEUE_PREFIX: prefix2,
      RELAY_SANDBOX_PORT: '0',
      LOG_LEVEL: 'warn',
      RELAY_API_PROCESSES: '2',
      RELAY_SPOOL_DIR: mkdtempSync(join(tmpdir(), 'relay-spool-e2e-')),
    };
    for (const k of ['MATON_API_KEY', 'KLAVIYO_API_KEY', 'RELAY_API_KEYS', 'RELAY_CONFIG']) delete env[k];
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const url = await waitUntil('the listening banner of 2 API processes', () => /listening on (http:\/\/\S+) \(2 API processes\)/.exec(output)?.[1], {
        timeoutMs: 30_000,
      });
      const simUrl = /simulator listens on (http:\/\/\S+);/.exec(output)![1]!;
      const statuses = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          fetch(`${url}/v1/events`, {
            method: 'POST',
            headers: { authorization: 'Bearer dev-key', 'content-type': 'application/json' },
            body: JSON.stringify({ id: `multi-${i}`, event: 'Placed Order', profile: { email: `multi-${i}@example.com` } }),
          }).then((r) => r.status),
        ),
      );
      expect(statuses.every((s) => s === 202)).toBe(true);
      await waitUntil(
        '20 events delivered',
        async () => {
          const stats = (await (await fetch(`${simUrl}/__sim/stats`)).json()) as { events: Record<string, { accepted: number }> };
          return Object.values(stats.events).reduce((n, e) => n + e.accepted, 0) === 20;
        },
        { timeoutMs: 15_000 },
      );
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    await deleteKeys(`${prefix2}:*`);
  }, 60_000);
});
