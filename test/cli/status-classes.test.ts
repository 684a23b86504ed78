/**
 * Issue 12: `relay status` prints a table per lane × kind × class — waiting, active, oldest,
 * delivered/min and the class's share — with a row per source under a class that has more than
 * one, and per lane the share of calls and items each class got and whether live holds bulk at its
 * minimum. A relay that predates classes still gets its per-queue table.
 */
import { describe, expect, it } from 'vitest';
import { percent, renderStatus, type Status } from '../../src/cli/status.ts';

const zero = { waiting: 0, active: 0, delayed: 0, failed: 0, oldestWaitingSeconds: 0, deliveredLastMinute: 0 };
const headroom = { bulk_create_events: { burst: 10, steady: 0, gateway: 3 }, create_event: { burst: 350, steady: 3400, gateway: 3 } };

const status: Status = {
  at: '2026-11-27T10:00:00.000Z',
  classes: [
    {
      lane: 'default',
      kind: 'events',
      class: 'live',
      ...zero,
      active: 2,
      deliveredLastMinute: 120,
      sources: [
        { source: 'legacy', queue: 'events.default', ...zero },
        { source: 'key-1a2b3c4d5e6f', name: 'api-key-1', queue: 'events.default.live.key-1a2b3c4d5e6f', ...zero, active: 2, deliveredLastMinute: 60 },
        { source: 'src-shop-eu', queue: 'events.default.live.src-shop-eu', ...zero, deliveredLastMinute: 60 },
      ],
    },
    {
      lane: 'default',
      kind: 'events',
      class: 'bulk',
      ...zero,
      waiting: 992_000,
      active: 8_000,
      oldestWaitingSeconds: 252,
      deliveredLastMinute: 149_880,
      sources: [
        {
          source: 'key-1a2b3c4d5e6f',
          name: 'api-key-1',
          queue: 'events.default.bulk.key-1a2b3c4d5e6f',
          ...zero,
          waiting: 992_000,
          active: 8_000,
          oldestWaitingSeconds: 252,
          deliveredLastMinute: 149_880,
        },
      ],
    },
    { lane: 'default', kind: 'profiles', class: 'live', ...zero, sources: [{ source: 'legacy', queue: 'profiles.default', ...zero }] },
    { lane: 'default', kind: 'profiles', class: 'bulk', ...zero, sources: [] },
    { lane: 'default', kind: 'webhooks', class: 'live', ...zero, sources: [{ source: 'all', queue: 'webhooks.default', ...zero }] },
  ],
  queues: [],
  lanes: [
    {
      lane: 'default',
      paused: null,
      deliveredLastMinute: 150_000,
      headroom,
      share: {
        windowMs: 60_000,
        calls: { live: 120, bulk: 150 },
        items: { live: 120, bulk: 149_880 },
        bulkMinShare: 0.2,
        bulkHeldOn: [],
        bulkAtMinimum: false,
      },
    },
  ],
};

describe('relay status: classes', () => {
  it('a row per lane, kind and class, and per source where a class has more than one', () => {
    const text = renderStatus(status);
    expect(text).toMatch(/^LANE\s+KIND\s+CLASS\s+SOURCE\s+WAITING\s+ACTIVE\s+OLDEST WAITING\s+DELIVERED\/MIN\s+SHARE$/m);
    // Live events: two sources (the empty legacy queue is not one), so a total row and one per source.
    expect(text).toMatch(/^default\s+events\s+live\s+all\s+0\s+2\s+—\s+120\s+<1 %$/m);
    expect(text).toMatch(/^default\s+events\s+live\s+api-key-1 \(key-1a2b3c4d5e6f\)\s+0\s+2\s+—\s+60\s+50 %$/m);
    expect(text).toMatch(/^default\s+events\s+live\s+src-shop-eu\s+0\s+0\s+—\s+60\s+50 %$/m);
    expect(text).not.toMatch(/^default\s+events\s+live\s+legacy/m);
    // Bulk events: one source, named in the class row itself.
    expect(text).toMatch(/^default\s+events\s+bulk\s+api-key-1 \(key-1a2b3c4d5e6f\)\s+992,000\s+8,000\s+4m 12s\s+149,880\s+>99 %$/m);
    expect(text.match(/^default\s+events\s+bulk/gm)).toHaveLength(1);
    expect(text).toMatch(/^default\s+profiles\s+bulk\s+—\s+0\s+0\s+—\s+0\s+—$/m);
    expect(text).toMatch(/^default\s+webhooks\s+live\s+—\s+0/m);
    // The per-queue table is for --json now, and for a relay from before classes (no `classes`, no `share`).
    expect(text).not.toMatch(/^QUEUE\s/m);
    const old = renderStatus({
      at: status.at,
      queues: [{ queue: 'events.default', waiting: 3, active: 1, delayed: 0, failed: 0, oldestWaitingSeconds: 5, deliveredLastMinute: 7 }],
      lanes: [{ lane: 'default', paused: null, deliveredLastMinute: 7, headroom }],
    });
    expect(old).toMatch(/^QUEUE\s+WAITING\s+ACTIVE\s+DELAYED\s+FAILED\s+OLDEST WAITING\s+DELIVERED\/MIN$/m);
    expect(old).toMatch(/^events\.default\s+3\s+1\s+0\s+0\s+5s\s+7$/m);
    expect(old).not.toMatch(/^LANE\s+KIND\s/m);
    expect(old).not.toContain('LIVE CALLS');
  });

  it('per lane: calls and items per class, and bulk minimum', () => {
    const text = renderStatus(status);
    expect(text).toMatch(/^LANE\s+LIVE CALLS\s+BULK CALLS\s+LIVE ITEMS\s+BULK ITEMS\s+BULK MINIMUM$/m);
    expect(text).toMatch(/^default\s+120 \(44 %\)\s+150 \(56 %\)\s+120 \(<1 %\)\s+149,880 \(>99 %\)\s+20 %$/m);
    const held = renderStatus({
      ...status,
      lanes: [
        {
          ...status.lanes[0]!,
          share: {
            windowMs: 60_000,
            calls: { live: 450, bulk: 30 },
            items: { live: 9_000, bulk: 30_000 },
            bulkMinShare: 0.2,
            bulkHeldOn: ['bulk_create_events'],
            bulkAtMinimum: true,
          },
        },
      ],
    });
    expect(held).toMatch(/^default\s+450 \(94 %\)\s+30 \(6 %\)\s+9,000 \(23 %\)\s+30,000 \(77 %\)\s+20 %, held there \(bulk_create_events\)$/m);
    // Without the lane's quota scope (an API process without credentials) the calls are unknown.
    const noScope = renderStatus({ ...status, lanes: [{ ...status.lanes[0]!, share: { ...status.lanes[0]!.share!, calls: undefined } }] });
    expect(noScope).toMatch(/^default\s+n\/a\s+n\/a\s+120 \(<1 %\)/m);
  });

  it('percentages: the smaller class never rounds away', () => {
    expect([percent(0, 0), percent(0, 5), percent(1, 1000), percent(999, 1000), percent(3, 100), percent(5, 5)]).toEqual([
      '—',
      '0 %',
      '<1 %',
      '>99 %',
      '3 %',
      '100 %',
    ]);
  });
});
