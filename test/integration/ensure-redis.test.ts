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
    await expect(ensureRedis(`redis://10.255.255.1:${port}`, true)).rejects.toThrow(/REDIS_URL/);
  });
});
