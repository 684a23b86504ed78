import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureRedis, redisAnswers } from '../../src/runtime/ensure-redis.ts';
import { freePort } from '../support/ports.ts';

describe('ensureRedis', () => {
  it('uses a Redis that answers and starts nothing', async () => {
    expect(await ensureRedis('redis://127.0.0.1:6379', true)).toBeUndefined();
  });

  it('starts a private redis-server with AOF when none answers on a local URL', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'relay-redis-'));
    const url = `redis://127.0.0.1:${port}`;
    const priv = await ensureRedis(url, true, dir);
    try {
      expect(priv?.pid).toBeGreaterThan(0);
      expect(await redisAnswers(url)).toBe(true);
      expect(existsSync(join(dir, 'appendonlydir'))).toBe(true);
    } finally {
      await priv?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(await redisAnswers(url)).toBe(false);
  });

  it('explains the fix when it may not start one', async () => {
    const port = await freePort();
    await expect(ensureRedis(`redis://127.0.0.1:${port}`, false)).rejects.toThrow(/does not answer.*start Redis/);
    // A URL with credentials names a Redis someone runs with them: no private one (which would have none).
    const err = await ensureRedis(`redis://app:${encodeURIComponent('pw@secret')}@127.0.0.1:${port}`, true).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/^Redis does not answer at redis:\/\/app:\*\*\*@127\.0\.0\.1:\d+: start Redis.*REDIS_URL/);
    expect(err?.message).not.toContain('secret');
  });
  // TLS and remote URLs are never probed here: test/security/redis-tls-auth.test.ts.
});
