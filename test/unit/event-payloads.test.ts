import { describe, expect, it } from 'vitest';
import { blamedByPointer, bulkCreateEventsBody, createEventBody } from '../../src/klaviyo/event-payloads.ts';
import type { EventInput } from '../../src/model/event.ts';

const ev = (email: string, extra: Partial<EventInput> = {}): EventInput => ({ event: 'Placed Order', profile: { email }, ...extra });

describe('event payloads', () => {
  it('maps one event to create_event with its unique_id', () => {
    const body = createEventBody({
      uniqueId: 'u1',
      event: ev('a@b.co', { value: 9.5, value_currency: 'USD', time: '2026-01-01T00:00:00Z', properties: { OrderId: 1 } }),
    }) as any;
    expect(body.data.type).toBe('event');
    const a = body.data.attributes;
    expect(a).toMatchObject({ unique_id: 'u1', value: 9.5, value_currency: 'USD', time: '2026-01-01T00:00:00Z', properties: { OrderId: 1 } });
    expect(a.metric.data).toEqual({ type: 'metric', attributes: { name: 'Placed Order' } });
    expect(a.profile.data).toEqual({ type: 'profile', attributes: { email: 'a@b.co' } });
  });

  it('groups bulk events per identical profile and maps pointers back to items', () => {
    const events = [ev('a@b.co'), ev('c@d.co'), ev('a@b.co'), ev('e@f.co')].map((event, i) => ({ uniqueId: `u${i}`, event }));
    const { body, groups } = bulkCreateEventsBody(events) as { body: any; groups: number[][] };
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
});
