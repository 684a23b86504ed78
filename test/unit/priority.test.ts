/** Issue 12: which class work is (src/priority.ts), and queue names (src/queue-catalog.ts). */
import { describe, expect, it } from 'vitest';
import { itemClass, replayClass, requestClass, requestedPriority, splitByClass } from '../../src/priority.ts';
import { jobRef, parseJobRef } from '../../src/item-keys.ts';
import { legacyRef, parseQueueName, queueName, queueRef } from '../../src/queue-catalog.ts';

describe('priority classes', () => {
  it('reads the header and the query parameter, naming the one that is wrong', () => {
    expect(requestedPriority(undefined, undefined)).toEqual({ ok: true, cls: undefined });
    expect(requestedPriority('bulk', undefined)).toEqual({ ok: true, cls: 'bulk' });
    expect(requestedPriority(undefined, 'live')).toEqual({ ok: true, cls: 'live' });
    expect(requestedPriority(' Bulk ', 'bulk')).toEqual({ ok: true, cls: 'bulk' });
    expect(requestedPriority('urgent', undefined)).toMatchObject({ ok: false, issues: [{ field: 'X-Relay-Priority' }] });
    expect(requestedPriority(undefined, '')).toMatchObject({ ok: false, issues: [{ field: 'priority' }] });
    expect(requestedPriority('high', 'low')).toMatchObject({ ok: false, issues: [{ field: 'X-Relay-Priority' }, { field: 'priority' }] });
    expect(requestedPriority('live', 'bulk')).toMatchObject({
      ok: false,
      issues: [{ field: 'priority', message: expect.stringContaining('X-Relay-Priority') }],
    });
  });

  it('decides: backfill → bulk; else the request; else the source; else live; everything live when disabled', () => {
    const on = { enabled: true };
    expect(requestClass(on)).toBe('live');
    expect(requestClass({ ...on, sourceDefault: 'bulk' })).toBe('bulk');
    expect(requestClass({ ...on, sourceDefault: 'bulk', requested: 'live' })).toBe('live');
    expect(requestClass({ ...on, requested: 'bulk' })).toBe('bulk');
    expect(itemClass(on, true)).toBe('bulk');
    expect(itemClass({ ...on, requested: 'live' }, true)).toBe('bulk');
    expect(itemClass({ ...on, requested: 'live', sourceDefault: 'bulk' }, false)).toBe('live');
    const off = { enabled: false, requested: 'bulk' as const, sourceDefault: 'bulk' as const };
    expect(requestClass(off)).toBe('live');
    expect(itemClass(off, true)).toBe('live');
    expect(replayClass(true)).toBe('bulk');
    expect(replayClass(true, 'live')).toBe('live');
    expect(replayClass(false, 'bulk')).toBe('live');
  });

  it('splits a mixed batch by class, keeping each class in order', () => {
    expect(splitByClass([1, 2, 3, 4, 5], (n) => (n % 2 ? 'bulk' : 'live'))).toEqual([
      ['live', [2, 4]],
      ['bulk', [1, 3, 5]],
    ]);
    expect(splitByClass([], () => 'live')).toEqual([]);
  });
});

describe('queue names', () => {
  it('round-trip, with the legacy and webhooks queues named as before', () => {
    const ref = queueRef('events', 'eu-1', 'bulk', 'src-erp');
    expect(queueName(ref)).toBe('events.eu-1.bulk.src-erp');
    expect(parseQueueName('events.eu-1.bulk.src-erp')).toEqual(ref);
    expect(queueName(legacyRef('profiles', 'default'))).toBe('profiles.default');
    expect(parseQueueName('profiles.default')).toEqual({ kind: 'profiles', lane: 'default', cls: 'live' });
    expect(queueName(queueRef('webhooks', 'default', 'bulk', 'flow-vip'))).toBe('webhooks.default');
    for (const bad of [
      'webhooks.default.live.x',
      'events',
      'events.default.urgent.x',
      'events.a.b',
      'other.default',
      'events.default.live.x.y',
      'events.Default',
    ]) {
      expect(parseQueueName(bad), bad).toBeUndefined();
    }
  });

  it('job refs name the queue and the job', () => {
    const ref = queueRef('events', 'default', 'live', 'key-0123456789ab');
    expect(jobRef(ref, 'events-b123')).toBe('events.default.live.key-0123456789ab/events-b123');
    expect(parseJobRef('events.default.live.key-0123456789ab/events-b123')).toEqual({ ref, jobId: 'events-b123' });
    expect(parseJobRef('events.default/events-x')).toEqual({ ref: legacyRef('events', 'default'), jobId: 'events-x' });
    expect(parseJobRef('events-x')).toBeUndefined();
    expect(parseJobRef('events.default/')).toBeUndefined();
  });
});
