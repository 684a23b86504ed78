/**
 * Redis key names are stored: data written under them survives restarts and upgrades. Each family
 * is spelled here as it was before src/redis-keys.ts gathered them, and must stay so.
 */
import { describe, expect, it } from 'vitest';
import {
  auditKey,
  bucketBulkLog,
  bucketWaiters,
  bullPrefix,
  claimRouteKey,
  deliveredKey,
  governorKeys,
  itemKeyName,
  itemKeyPrefix,
  jobHashKey,
  lanePausedKey,
  lanePauseProbeKey,
  legacyJobKeyPrefix,
  pendingSetKey,
  profileIdKey,
  profileSeqKey,
  queueBytesKey,
  queueKeyPrefix,
  queueRegistryKey,
  sourceBytesKey,
  sourceLedgerKey,
  sourcePruneLockKey,
  sourceRateKey,
  statsKey,
  webhookIdKey,
  webhookMetaKey,
  webhookPendingKey,
  webhookRetireKey,
  webhookSecretsKey,
} from '../../src/redis-keys.ts';

describe('Redis key names', () => {
  it('of the queues of a kind and lane, all under the tag {<kind>.<lane>}', () => {
    expect(bullPrefix('relay', 'events', 'default')).toBe('relay:{events.default}');
    expect(queueKeyPrefix('relay', 'events', 'default', 'events.default.bulk.src-erp')).toBe('relay:{events.default}:events.default.bulk.src-erp:');
    expect(jobHashKey('relay:{events.default}:events.default', 'events-x')).toBe('relay:{events.default}:events.default:events-x');
    expect(queueRegistryKey('relay', 'profiles', 'eu')).toBe('relay:{profiles.eu}:queues');
    expect(itemKeyName('relay', 'events', 'default', 'abc')).toBe('relay:{events.default}:events.default:id:abc');
    expect(itemKeyPrefix('relay', 'webhooks', 'eu')).toBe('relay:{webhooks.eu}:webhooks.eu:id:');
    expect(claimRouteKey('relay', 'events', 'default')).toBe('relay:{events.default}:events.default:meta');
    expect(legacyJobKeyPrefix('relay', 'profiles', 'default')).toBe('relay:{profiles.default}:profiles.default:');
    expect(pendingSetKey('relay', 'default', 'pk1')).toBe('relay:{profiles.default}:profiles.default:pend:pk1');
    expect(profileSeqKey('relay', 'default')).toBe('relay:{profiles.default}:profiles.default:seq');
    expect(queueBytesKey('relay:{events.default}:events.default')).toBe('relay:{events.default}:events.default:qbytes');
  });

  it('of sources, under {src:<id>}', () => {
    expect(sourceBytesKey('relay', 'src-erp')).toBe('relay:{src:src-erp}:qbytes');
    expect(sourceLedgerKey('relay', 'src-erp')).toBe('relay:{src:src-erp}:qbytes:jobs');
    expect(sourcePruneLockKey('relay', 'src-erp')).toBe('relay:{src:src-erp}:qbytes:prune');
    expect(sourceRateKey('relay', 'src-erp')).toBe('relay:{src:src-erp}:rate');
  });

  it('of the quota governor, under {<key id>}', () => {
    const k = governorKeys('relay', { keyId: 'k1', klaviyoAccount: 'acct' });
    expect(k.gatewayBlock).toBe('relay:gov:{k1}:block:gateway');
    expect(k.gatewayBurst).toBe('relay:gov:{k1}:gateway:1s');
    expect(k.endpointBlock('create_event')).toBe('relay:gov:{k1}:block:acct:create_event');
    expect(k.burst('create_event')).toBe('relay:gov:{k1}:acct:create_event:1s');
    expect(k.steady('create_event')).toBe('relay:gov:{k1}:acct:create_event:60s');
    expect(bucketBulkLog(k.steady('create_event'))).toBe('relay:gov:{k1}:acct:create_event:60s:bulk');
    expect(bucketWaiters(k.burst('create_event'), 'live')).toBe('relay:gov:{k1}:acct:create_event:1s:want:live');
  });

  it('and the rest', () => {
    expect(statsKey('relay', 'webhooks')).toBe('relay:stats:webhooks');
    expect(deliveredKey('relay', 'default', 'events.default.live.src-erp', 42)).toBe('relay:rate:default:events.default.live.src-erp:10s:42');
    expect(auditKey('relay')).toBe('relay:audit');
    expect(lanePausedKey('relay', 'eu')).toBe('relay:lane:eu:paused');
    expect(lanePauseProbeKey('relay', 'eu')).toBe('relay:lane:eu:paused:probe');
    expect(webhookIdKey('relay', 'src-pos', 'msg_1')).toBe('relay:{webhook-ids}:src-pos:msg_1');
    expect(profileIdKey('relay', 'default', 'd1')).toBe('relay:kid:{default}:d1');
  });

  it('of the Klaviyo webhook secrets the relay made, a webhook’s under {<webhook id>}', () => {
    expect(webhookSecretsKey('relay', '01WH')).toBe('relay:kwh:{01WH}:secrets');
    expect(webhookRetireKey('relay', '01WH')).toBe('relay:kwh:{01WH}:retire');
    expect(webhookMetaKey('relay')).toBe('relay:kwh:meta');
    expect(webhookPendingKey('relay')).toBe('relay:kwh:pending');
    expect(statsKey('relay', 'klaviyo-webhooks')).toBe('relay:stats:klaviyo-webhooks');
  });
});
