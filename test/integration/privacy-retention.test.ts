/**
 * Issue 16, retention: the audit stream drops entries older than RELAY_AUDIT_KEEP_S, and cached
 * profile ids expire after RELAY_PROFILE_ID_CACHE_TTL_S (on real Redis).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { appendAudit, readAudit } from '../../src/ops/audit.ts';
import { profileIdKey } from '../../src/redis-keys.ts';
import { identifierDigest } from '../../src/privacy/identifier-digest.ts';
import { createIdCache } from '../../workers/profiles/id-cache.ts';
import { deleteKeys, testRedis, uniquePrefix } from '../support/redis.ts';

const prefix = uniquePrefix('retention16');
const redis = testRedis();
afterAll(async () => {
  redis.disconnect();
  await deleteKeys(`${prefix}:*`);
});

describe('retention of personal data outside jobs', () => {
  it('the audit stream keeps entries RELAY_AUDIT_KEEP_S seconds', async () => {
    await appendAudit(redis as never, prefix, { actor: 'admin', action: 'note', n: 1 }, 1);
    await new Promise((r) => setTimeout(r, 1200));
    await appendAudit(redis as never, prefix, { actor: 'admin', action: 'note', n: 2 }, 1);
    expect((await readAudit(redis as never, prefix)).map((e) => e['n'])).toEqual([2]);
    await appendAudit(redis as never, prefix, { actor: 'admin', action: 'note', n: 3 }, 3600);
    expect((await readAudit(redis as never, prefix)).map((e) => e['n'])).toEqual([3, 2]);
  });

  it('cached profile ids expire after RELAY_PROFILE_ID_CACHE_TTL_S', async () => {
    const cache = createIdCache(redis as never, prefix, 120);
    await cache.set('default', [{ email: 'Ada@Example.com', phone_number: '+15005550006' }], '01HKID');
    for (const [field, value] of [
      ['email', 'ada@example.com'],
      ['phone_number', '+15005550006'],
    ] as const) {
      const ttl = await redis.ttl(profileIdKey(prefix, 'default', identifierDigest(field, value)));
      expect(ttl).toBeGreaterThan(100);
      expect(ttl).toBeLessThanOrEqual(120);
    }
  });
});
