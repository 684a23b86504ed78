import { describe, expect, it } from 'vitest';
import { blamedByPointer, bulkCreateEventsBody, createEventBody, revisionHasBackfill } from '../../src/klaviyo/event-payloads.ts';
import type { EventInput } from '../../src/model/event.ts';

const REVISION = '2026-07-15';
const ev = (email: string, extra: Partial<EventInput> = {}): EventInput => ({ event: 'Placed Order', profile: { email }, ...extra });

describe('event payloads', () => {
  it('maps one event to create_event with its unique_id', () => {
    const body = createEventBody(
      {
        uniqueId: 'u1',
        event: ev('a@b.co', { value: 9.5, value_currency: 'USD', time: '2026-01-01T00:00:00Z', properties: { OrderId: 1 } }),
      },
      REVISION,
    ) as any;
    expect(body.data.type).toBe('event');
    const a = body.data.attributes;
    expect(a).toMatchObject({ unique_id: 'u1', value: 9.5, value_currency: 'USD', time: '2026-01-01T00:00:00Z', properties: { OrderId: 1 } });
    expect(a.metric.data).toEqual({ type: 'metric', attributes: { name: 'Placed Order' } });
    expect(a.profile.data).toEqual({ type: 'profile', attributes: { email: 'a@b.co' } });
  });

  it('groups bulk events per identical profile and maps pointers back to items', () => {
    const events = [ev('a@b.co'), ev('c@d.co'), ev('a@b.co'), ev('e@f.co')].map((event, i) => ({ uniqueId: `u${i}`, event }));
    const { body, groups } = bulkCreateEventsBody(events, REVISION) as { body: any; groups: number[][] };
    expect(groups).toEqual([[0, 2], [1], [3]]);
    const data = body.data.attributes['events-bulk-create'].data;
    expect(data).toHaveLength(3);
    expect(data[0].attributes.events.data.map((e: any) => e.attributes.unique_id)).toEqual(['u0', 'u2']);
    expect(blamedByPointer('/data/attributes/events-bulk-create/data/0/attributes/events/data/1/attributes/time', groups)).toEqual([2]);
    expect(blamedByPointer('/data/attributes/events-bulk-create/data/0/attributes/profile/data/attributes/email', groups)).toEqual([0, 2]);
    expect(blamedByPointer('/data/attributes/events-bulk-create/data/9', groups)).toBeUndefined();
    expect(blamedByPointer('/data', groups)).toBeUndefined();
    expect(blamedByPointer(undefined, groups)).toBeUndefined();
  });

  it('sends `backfill` only with a revision that has it (2026-07-15 on)', () => {
    const e = { uniqueId: 'u1', event: ev('a@b.co', { backfill: true }) };
    const single = (revision: string) => (createEventBody(e, revision) as any).data.attributes;
    const inBulk = (revision: string) =>
      (bulkCreateEventsBody([e], revision).body as any).data.attributes['events-bulk-create'].data[0].attributes.events.data[0].attributes;
    for (const revision of ['2026-07-15', '2026-07-15.pre', '2026-10-15']) {
      expect(single(revision).backfill).toBe(true);
      expect(inBulk(revision).backfill).toBe(true);
    }
    for (const revision of ['2026-04-15', '2026-04-15.pre', '2024-10-15']) {
      expect(single(revision)).not.toHaveProperty('backfill');
      expect(inBulk(revision)).not.toHaveProperty('backfill');
    }
    expect(revisionHasBackfill('2026-07-14')).toBe(false);
    expect((createEventBody({ uniqueId: 'u2', event: ev('a@b.co', { backfill: false }) }, REVISION) as any).data.attributes.backfill).toBe(false);
  });
});
