/**
 * Each test gets its own key prefix on the shared Redis and removes its keys afterwards (never
 * FLUSHALL). TEST_REDIS_URL points the suites elsewhere — `npm run test:cluster` runs some of them
 * against a Redis Cluster with a `redis+cluster://` URL, which every helper here understands.
 */
import { randomBytes } from 'node:crypto';
import { Cluster, type Redis } from 'ioredis';
import { createRedis, waitForRedis } from '../../src/redis.ts';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function uniquePrefix(name = 't'): string {
  return `test-${name}-${randomBytes(4).toString('hex')}`;
}

/**
 * A test's own connection, a Cluster for a cluster URL. Typed as Redis: the commands tests use
 * take one key each, which a Cluster routes like a single Redis would answer them.
 */
export function testRedis(url = REDIS_URL): Redis {
  return createRedis(url, 'worker') as Redis;
}

export async function deleteKeys(pattern: string, url = REDIS_URL): Promise<number> {
  const client = testRedis(url) as Redis | Cluster;
  let deleted = 0;
  try {
    // SCAN walks one node: on a cluster, every master in turn; keys are unlinked one by one
    // there, as a multi-key UNLINK may not span slots.
    if (client instanceof Cluster) await waitForRedis(client, 10_000);
    const nodes = client instanceof Cluster ? client.nodes('master') : [client];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length === 0) continue;
        if (client instanceof Cluster) deleted += (await Promise.all(keys.map((k) => node.unlink(k)))).reduce((a, b) => a + b, 0);
        else deleted += await node.unlink(...keys);
      } while (cursor !== '0');
    }
  } finally {
    client.disconnect();
  }
  return deleted;
}
