/**
 * Klaviyo's cap on coupon-code bulk create jobs: "Max number of jobs queued at once we allow for
 * is 100" (OAS bulk_create_coupon_codes), per account. Every worker process takes a slot before
 * it creates a Klaviyo job and gives it back when it sees the job complete, so all of them
 * together stay under the cap. The slots are a sorted set per account (src/redis-keys.ts
 * couponJobSlotsKey); a take is one Lua call (src/lua/coupon-slot-take.lua).
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient as Redis } from '../../src/redis.ts';
import { luaScript } from '../../src/lua/script.ts';
import { couponJobSlotsKey } from '../../src/redis-keys.ts';

/** A slot held longer than this is taken to be lost (the poll gives up on a Klaviyo job after 15 minutes). */
export const SLOT_TTL_MS = 20 * 60_000;

const TAKE = luaScript({
  name: 'coupon-slot-take',
  keys: ['slots'],
  args: ['member', 'cap', 'ttlMs'],
  reply: (raw) => Number(raw) === 1,
});

export interface CouponJobSlots {
  /** A slot's member, or undefined when `cap` are held. */
  take(): Promise<string | undefined>;
  release(member: string): Promise<void>;
}

export function couponJobSlots(redis: Redis, prefix: string, klaviyoAccount: string, cap: number): CouponJobSlots {
  TAKE.define(redis);
  const key = couponJobSlotsKey(prefix, klaviyoAccount);
  return {
    async take() {
      const member = randomUUID();
      return (await TAKE.run(redis, { keys: { slots: key }, args: { member, cap, ttlMs: SLOT_TTL_MS } })) ? member : undefined;
    },
    async release(member) {
      await redis.zrem(key, member);
    },
  };
}
