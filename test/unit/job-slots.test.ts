import { describe, expect, it } from 'vitest';
import { JobSlots } from '../../workers/catalog/job-slots.ts';

describe('JobSlots (catalog jobs in progress)', () => {
  it('never lets more than max be held, and hands a freed slot to the first waiter', async () => {
    const slots = new JobSlots(2);
    const order: number[] = [];
    await slots.take();
    await slots.take();
    const third = slots.take().then(() => order.push(3));
    const fourth = slots.take().then(() => order.push(4));
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([]);
    expect(slots.inUse).toBe(2);
    slots.release();
    await third;
    expect(order).toEqual([3]);
    expect(slots.inUse).toBe(2);
    slots.release();
    await fourth;
    slots.release();
    slots.release();
    expect(slots.inUse).toBe(0);
    expect(slots.peak).toBe(2);
  });

  it('refuses a cap below one', () => {
    expect(() => new JobSlots(0)).toThrow(/at least 1/);
  });
});
