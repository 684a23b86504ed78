/**
 * Saturated lanes for the governor's gateway tests: takers that ask for a gateway token again the
 * moment they get one (after an optional think time), on real Redis, until stopped. The grants are
 * read back from the governor's per-key minute log, in Redis time (`gatewayGrants`).
 */
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import type { PriorityClass } from '../../src/priority.ts';
import type { QuotaGovernor, QuotaScope } from '../../src/quota/governor.ts';
import { governorKeys } from '../../src/redis-keys.ts';
import { deleteKeys, REDIS_URL, uniquePrefix } from './redis.ts';

/** Limits where only the gateway binds (the endpoint's own windows are far wider than 10/s). */
export function gatewayOnlyLimits(gatewayMarginMs: number) {
  return {
    gatewayPerSecond: 10,
    endpoints: { bulk_create_events: { burst: 1000, steady: 100_000 } },
    burstPaddingMs: 250,
    steadyPaddingMs: 0,
    gatewayMarginMs,
  };
}

/**
 * A gateway test file's setup: its own key prefix, two connections (two processes' worth of
 * governors), gateway-only limits at `gatewayMarginMs`; connections and keys go when the file ends.
 */
export function gatewayRig(name: string, gatewayMarginMs: number) {
  const prefix = uniquePrefix(name);
  const conns = [new Redis(REDIS_URL), new Redis(REDIS_URL)] as const;
  afterAll(async () => {
    for (const c of conns) c.disconnect();
    await deleteKeys(`${prefix}:*`);
  });
  const limits = gatewayOnlyLimits(gatewayMarginMs);
  return { prefix, conns, limits, limit: limits.gatewayPerSecond };
}

export interface Takers {
  /** Stops the takers and waits until each has returned. */
  stop(): Promise<void>;
}

/** `count` takers for `scope`, spread over `governors` (one per connection: several processes), of class `cls`. */
export function saturate(
  governors: readonly QuotaGovernor[],
  scope: QuotaScope,
  count: number,
  thinkMs: () => number = () => 0,
  cls: PriorityClass = 'live',
): Takers {
  const ac = new AbortController();
  const loops = Array.from({ length: count }, async (_, i) => {
    const g = governors[i % governors.length]!;
    while (!ac.signal.aborted) {
      try {
        await g.take(scope, 'bulk_create_events', ac.signal, cls);
      } catch (err) {
        if (ac.signal.aborted) return;
        throw err;
      }
      const think = thinkMs();
      if (think > 0) await new Promise((r) => setTimeout(r, think));
    }
  });
  return {
    async stop() {
      ac.abort();
      await Promise.all(loops);
    },
  };
}

/** Every gateway grant of the key in the last minute: Redis time (ms) and lane, oldest first. */
export async function gatewayGrants(redis: Redis, prefix: string, scope: QuotaScope): Promise<{ t: number; lane: string }[]> {
  const raw = await redis.zrange(governorKeys(prefix, scope).gatewayMinute, '0', '-1', 'WITHSCORES');
  const out: { t: number; lane: string }[] = [];
  for (let i = 0; i < raw.length; i += 2) out.push({ t: Number(raw[i + 1]), lane: raw[i]!.slice(0, raw[i]!.lastIndexOf('|')) });
  return out;
}

/** Redis's clock (ms): the clock the grants are logged in. */
export async function redisNow(redis: Redis): Promise<number> {
  const [s, us] = await redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}
