/**
 * Item keys, job ids and job references are stored (Redis, job data, Klaviyo's unique_id): the
 * values below were computed by the code before src/item-keys.ts existed, and must never change.
 */
import { describe, expect, it } from 'vitest';
import {
  DONE,
  eventKey,
  itemKeyOfPendingMember,
  jobIdForItems,
  jobRef,
  keysForId,
  listMemberKey,
  madeFromId,
  orderEventId,
  orderEventKey,
  orderLinePart,
  parseJobRef,
  pendingMember,
  profileListAddKey,
  profileUpsertKey,
  readItemKeyValue,
  ruleActionId,
  ruleActionKey,
  webhookItemKey,
} from '../../src/item-keys.ts';
import { MAX_ORDER_ITEMS } from '../../src/model/order.ts';
import { legacyRef, queueRef } from '../../src/queue-catalog.ts';

const SRC = 'key-0123456789ab';

describe('item keys', () => {
  it('are built as they always were, for every kind of item', () => {
    expect(eventKey(SRC, 'evt-1')).toBe('0aw8wOI0muH2lp1lUIIYMn');
    expect(webhookItemKey(SRC, 'evt-1')).toBe('0aw8wOI0muH2lp1lUIIYMn');
    expect(orderEventKey(SRC, 'order-1', 'placed')).toBe('Tq0oL3NrFJ1CiR0knRwfaj');
    expect(orderEventKey(SRC, 'order-1', orderLinePart(119))).toBe('TFS0AMogCrXzUfcq2pcUW0');
    expect(orderEventKey(SRC, 'order-1', 'refunded')).toBe('S3Z52vJ7UpS7d8qR3fU2c2');
    expect(profileUpsertKey(SRC, 'p-1')).toBe('uNjA4nf0dcoWDVRuM6C60i');
    expect(profileListAddKey(SRC, 'p-1', 'LIST1')).toBe('AwZULtA4iuPltyUbIM0xUu');
    expect(listMemberKey(SRC, 'sub-1', 'subscribe', 'LIST1', { field: 'email', value: 'a@example.com' })).toBe('uw2bGfI5a2hfjKRPb35Qvu');
    expect(ruleActionKey('klaviyo-webhooks', 'wh-1', 2, 0)).toBe('bXNAb_bG2-g2BGovbhstga');
    expect(jobIdForItems('events', [eventKey(SRC, 'evt-1')])).toBe('events-0aw8wOI0muH2lp1lUIIYMn');
    expect(jobIdForItems('profiles', ['a', 'b'])).toBe('profiles-bfhj3NzEbLcOy8mndeDlrA1');
  });

  it('and the ids stored on derived items', () => {
    expect(orderEventId('order-1', orderLinePart(119))).toBe('order-1#line:119');
    expect(ruleActionId('wh-1', 2, 0)).toBe('wh-1#r2a0');
  });
});

describe('from a caller id back to its keys', () => {
  it("names an order's every event, to its last possible line, and an item id shown for one", () => {
    const keys = keysForId('events', SRC, 'order-1');
    expect(keys).toContain(eventKey(SRC, 'order-1'));
    expect(keys).toContain(orderEventKey(SRC, 'order-1', 'placed'));
    expect(keys).toContain(orderEventKey(SRC, 'order-1', 'fulfilled'));
    expect(keys).toContain(orderEventKey(SRC, 'order-1', orderLinePart(MAX_ORDER_ITEMS - 1)));
    expect(keys).not.toContain(orderEventKey(SRC, 'order-1', orderLinePart(MAX_ORDER_ITEMS)));
    expect(keysForId('events', SRC, 'order-1#line:119')).toContain(orderEventKey(SRC, 'order-1', orderLinePart(119)));
    // Not an order part: only the id itself (and its would-be order events).
    expect(keysForId('events', SRC, 'order-1#line:500')).not.toContain(orderEventKey(SRC, 'order-1', 'line:500'));
    expect(keysForId('events', SRC, 'order-1#line:07')).not.toContain(orderEventKey(SRC, 'order-1', 'line:07'));
  });

  it('names a profile upsert and a webhook item', () => {
    expect(keysForId('profiles', SRC, 'p-1')).toEqual([profileUpsertKey(SRC, 'p-1')]);
    expect(keysForId('webhooks', 'klaviyo-webhooks', 'wh-1')).toEqual([webhookItemKey('klaviyo-webhooks', 'wh-1')]);
  });

  it('tells which stored ids were made from a caller id', () => {
    expect(madeFromId('sub-1', 'sub-1')).toBe(true);
    expect(madeFromId('order-1#line:3', 'order-1')).toBe(true);
    expect(madeFromId('wh-1#r2a0', 'wh-1')).toBe(true);
    expect(madeFromId('order-10#placed', 'order-1')).toBe(false);
    expect(madeFromId('order-1', 'order-1#placed')).toBe(false);
    expect(madeFromId('order-1#', 'order-1')).toBe(false);
  });
});

describe('job references', () => {
  const ref = queueRef('profiles', 'default', 'bulk', SRC);

  it('name a job anywhere in a lane, and read back', () => {
    expect(jobRef(ref, 'profiles-x')).toBe(`profiles.default.bulk.${SRC}/profiles-x`);
    expect(jobRef('events.default', 'events-x')).toBe('events.default/events-x');
    expect(parseJobRef(jobRef(ref, 'profiles-x'))).toEqual({ ref, jobId: 'profiles-x' });
  });

  it('are what an item key holds, or `done`, or (before issue 12) a bare job id of the legacy queue', () => {
    expect(readItemKeyValue(DONE, 'events', 'default')).toEqual({ done: true });
    expect(readItemKeyValue(jobRef(ref, 'profiles-x'), 'profiles', 'default')).toEqual({ done: false, ref, jobId: 'profiles-x' });
    expect(readItemKeyValue('events-x', 'events', 'eu')).toEqual({ done: false, ref: legacyRef('events', 'eu'), jobId: 'events-x' });
  });

  it("start a profile's pending-set member, which names its item", () => {
    const member = pendingMember(ref, 'profiles-x', 'item-k', 1234);
    expect(member).toBe(`profiles.default.bulk.${SRC}/profiles-x|item-k|1234`);
    expect(itemKeyOfPendingMember(member)).toBe('item-k');
    expect(itemKeyOfPendingMember('profiles-old|old-k|1')).toBe('old-k');
  });
});
