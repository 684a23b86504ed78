/**
 * Issue 12 §7: what the status says about the classes — each class's share of a lane's calls, and
 * whether live is holding bulk at its guaranteed minimum (so an operator can tell "bulk is slow
 * because live is busy, as designed" from "bulk is slow"); the per-class rows summed from the
 * queues; and the delivered count of the last minute.
 */
import { describe, expect, it } from 'vitest';
import { laneShare, type ShareLimits } from '../../src/ops/class-share.ts';
import { classStatus, deliveredInLastMinute } from '../../src/ops/class-status.ts';
import type { QueueStatus } from '../../src/ops/status.ts';
import { DEFAULT_LIMITS, type ScopeShare } from '../../src/quota/governor.ts';

const limits: ShareLimits = { ...DEFAULT_LIMITS, bulkMinShare: 0.2 };
const calls = (endpoints: ScopeShare['endpoints']): ScopeShare => {
  const total = { live: 0, bulk: 0 };
  for (const c of Object.values(endpoints)) {
    total.live += c!.live;
    total.bulk += c!.bulk;
  }
  return { windowMs: 60_000, total, endpoints };
};
const items = { live: 10, bulk: 1000 };

describe('bulk at its minimum', () => {
  it('is held on a full bucket where it got no more than its minimum while live took the rest', () => {
    // bulk_create_events: 150 a minute; bulk's minimum is ceil(0.2 × 150) = 30.
    const s = laneShare({ calls: calls({ bulk_create_events: { live: 118, bulk: 30 } }), items, bulkHasWork: true, viaGateway: false, limits });
    expect(s).toMatchObject({ calls: { live: 118, bulk: 30 }, items, bulkMinShare: 0.2, bulkHeldOn: ['bulk_create_events'], bulkAtMinimum: true });
  });

  it('is not held when it got more than its minimum, when the bucket was not full, or when it has no work', () => {
    expect(
      laneShare({ calls: calls({ bulk_create_events: { live: 110, bulk: 38 } }), items, bulkHasWork: true, viaGateway: false, limits }).bulkAtMinimum,
    ).toBe(false);
    expect(laneShare({ calls: calls({ bulk_create_events: { live: 60, bulk: 30 } }), items, bulkHasWork: true, viaGateway: false, limits }).bulkAtMinimum).toBe(
      false,
    );
    expect(
      laneShare({ calls: calls({ bulk_create_events: { live: 118, bulk: 30 } }), items, bulkHasWork: false, viaGateway: false, limits }).bulkAtMinimum,
    ).toBe(false);
    // Bulk alone at its own ceiling (150 a minute) with a trickle of live singles: not held, it is the endpoint's limit.
    expect(
      laneShare({
        calls: calls({ bulk_create_events: { live: 0, bulk: 148 }, create_event: { live: 120, bulk: 0 } }),
        items,
        bulkHasWork: true,
        viaGateway: true,
        limits,
      }).bulkAtMinimum,
    ).toBe(false);
  });

  it('on the gateway: a full minute of its padded 1 s window, bulk at 2 a second', () => {
    // 10/s through a 1.04 s window (the default 40 ms margin) lets 577 calls through in 60 s; bulk's
    // minimum is 2 per window (115 a minute).
    const full = calls({ create_event: { live: 450, bulk: 0 }, bulk_create_events: { live: 0, bulk: 100 } });
    expect(laneShare({ calls: full, items, bulkHasWork: true, viaGateway: true, limits }).bulkHeldOn).toEqual(['gateway']);
    // The same calls without the gateway (Klaviyo direct): no gateway bucket to be held on.
    expect(laneShare({ calls: full, items, bulkHasWork: true, viaGateway: false, limits }).bulkHeldOn).toEqual([]);
    // Bulk got more than its minimum of the gateway.
    expect(
      laneShare({
        calls: calls({ create_event: { live: 400, bulk: 0 }, bulk_create_events: { live: 0, bulk: 150 } }),
        items,
        bulkHasWork: true,
        viaGateway: true,
        limits,
      }).bulkHeldOn,
    ).toEqual([]);
  });

  it('follows the configured limits and share', () => {
    const raised: ShareLimits = { ...limits, endpoints: { bulk_create_events: { burst: 10, steady: 300 } }, bulkMinShare: 0.5 };
    expect(
      laneShare({ calls: calls({ bulk_create_events: { live: 118, bulk: 30 } }), items, bulkHasWork: true, viaGateway: false, limits: raised }).bulkAtMinimum,
    ).toBe(false);
    expect(
      laneShare({ calls: calls({ bulk_create_events: { live: 145, bulk: 145 } }), items, bulkHasWork: true, viaGateway: false, limits: raised }).bulkHeldOn,
    ).toEqual(['bulk_create_events']);
  });

  it("without the lane's quota scope: items only, no calls", () => {
    const s = laneShare({ items, bulkHasWork: true, viaGateway: false, limits });
    expect(s).toEqual({ windowMs: 60_000, items, bulkMinShare: 0.2, bulkHeldOn: [], bulkAtMinimum: false });
  });
});

describe('delivered in the last minute', () => {
  it('counts the last 50 s exactly and the part of the oldest period still inside the minute', () => {
    const periods = [1, 2, 3, 4, 5, 6, 100];
    // 2.5 s into this period: the oldest one is 75 % inside the last 60 s.
    expect(deliveredInLastMinute(periods, 1_000_002_500)).toBe(21 + 75);
    expect(deliveredInLastMinute(periods, 1_000_000_000)).toBe(121);
    expect(deliveredInLastMinute([7], 1_000_009_999)).toBe(7);
  });
});

describe('per class rows', () => {
  const q = (queue: string, o: Partial<QueueStatus> & Pick<QueueStatus, 'kind' | 'class'>): QueueStatus => ({
    queue,
    lane: 'default',
    waiting: 0,
    active: 0,
    delayed: 0,
    failed: 0,
    completed: 0,
    oldestWaitingSeconds: 0,
    deliveredLastMinute: 0,
    queuedBytes: 0,
    ...o,
  });

  it('sum their queues (the oldest is the oldest of any), every class of every kind, sources named', () => {
    const rows = classStatus(
      [
        q('events.default', { kind: 'events', class: 'live', waiting: 1, oldestWaitingSeconds: 90 }),
        q('events.default.live.key-aa', {
          kind: 'events',
          class: 'live',
          source: 'key-aa',
          waiting: 2,
          active: 3,
          oldestWaitingSeconds: 4,
          deliveredLastMinute: 50,
        }),
        q('events.default.live.src-shop', { kind: 'events', class: 'live', source: 'src-shop', failed: 1, deliveredLastMinute: 25 }),
        q('webhooks.default', { kind: 'webhooks', class: 'live', delayed: 2 }),
        q('events.other.bulk.key-aa', { lane: 'other', kind: 'events', class: 'bulk', source: 'key-aa', waiting: 9 }),
      ],
      ['default'],
      (id) => (id === 'key-aa' ? 'api-key-1' : undefined),
    );
    expect(rows.map((r) => `${r.lane} ${r.kind} ${r.class}`)).toEqual([
      'default events live',
      'default events bulk',
      'default profiles live',
      'default profiles bulk',
      'default webhooks live',
      'default catalog live',
      'default back-in-stock live',
      'default coupon-codes live',
    ]);
    expect(rows[0]).toMatchObject({ waiting: 3, active: 3, delayed: 0, failed: 1, oldestWaitingSeconds: 90, deliveredLastMinute: 75 });
    expect(rows[0]!.sources).toEqual([
      { source: 'legacy', queue: 'events.default', waiting: 1, active: 0, delayed: 0, failed: 0, oldestWaitingSeconds: 90, deliveredLastMinute: 0 },
      {
        source: 'key-aa',
        name: 'api-key-1',
        queue: 'events.default.live.key-aa',
        waiting: 2,
        active: 3,
        delayed: 0,
        failed: 0,
        oldestWaitingSeconds: 4,
        deliveredLastMinute: 50,
      },
      {
        source: 'src-shop',
        queue: 'events.default.live.src-shop',
        waiting: 0,
        active: 0,
        delayed: 0,
        failed: 1,
        oldestWaitingSeconds: 0,
        deliveredLastMinute: 25,
      },
    ]);
    expect(rows[1]).toMatchObject({ waiting: 0, sources: [] });
    expect(rows[4]).toMatchObject({ delayed: 2, sources: [{ source: 'all', queue: 'webhooks.default' }] });
  });
});
