/**
 * Pausing a lane whose credentials are refused, and resuming it.
 *
 * A 401/403 from the gateway or Klaviyo says nothing about the item and everything about the
 * account's connection (an expired OAuth grant, a revoked key): retrying would burn every job's
 * attempts into dead letters. Instead the lane's queues are paused (BullMQ keeps every job; no
 * attempt is spent), the pause is recorded with its reason and logged, and a probe — a cheap
 * GET /api/accounts, one process at a time — resumes the lane once the credentials work again.
 * Operators can resume by hand too (ops API).
 */
import type { RedisClient as Redis } from '../src/redis.ts';
import { createKlaviyoClient, type FetchLike } from '../src/klaviyo/client.ts';
import { AccountsSchema } from '../src/klaviyo/schemas.ts';
import type { Lane } from '../src/lanes.ts';
import type { Logger } from '../src/log.ts';
import type { ItemError } from '../src/job-data.ts';
import type { Queues } from '../src/queues.ts';
import { pauseLane, readPause, resumeLane } from '../src/ops/lane-state.ts';
import { lanePausedKey, lanePauseProbeKey } from '../src/redis-keys.ts';
import type { QuotaGovernor } from '../src/quota/governor.ts';

export interface LaneControl {
  pause(lane: string, error: ItemError): Promise<void>;
  stop(): void;
}

export function startLaneControl(deps: {
  redis: Redis;
  queues: Queues;
  lanes: readonly Lane[];
  governor: QuotaGovernor;
  log: Logger;
  probeIntervalMs: number;
  fetch?: FetchLike;
  onChange?: (lane: string, paused: boolean) => void;
}): LaneControl {
  const { redis, queues, log } = deps;
  const clients = new Map(deps.lanes.map((l) => [l.name, { lane: l, client: createKlaviyoClient(l.target, deps.fetch) }]));

  async function probe(): Promise<void> {
    for (const { lane, client } of clients.values()) {
      const info = await readPause(redis, queues.prefix, lane.name);
      // An operator's pause stays until an operator resumes it; only refused credentials are probed.
      if (!info || info.by) continue;
      // One prober per lane across every worker process.
      const mine = (await redis.set(lanePauseProbeKey(queues.prefix, lane.name), '1', 'PX', deps.probeIntervalMs, 'NX')) === 'OK';
      if (!mine) continue;
      try {
        const grant = await deps.governor.take(lane.scope, 'get_accounts');
        await client.request({ endpoint: 'get_accounts', schema: AccountsSchema, grant });
        await resumeLane(redis, queues, lane.name);
        log.warn({ lane: lane.name, pausedForMs: Date.now() - info.since }, 'lane resumed: the credentials work again');
        deps.onChange?.(lane.name, false);
      } catch (err) {
        await redis.set(lanePausedKey(queues.prefix, lane.name), JSON.stringify({ ...info, lastProbe: Date.now() }), 'XX');
        log.info({ lane: lane.name, err: err instanceof Error ? err.message : String(err) }, 'lane still paused');
      }
    }
  }

  const timer = setInterval(() => void probe().catch((err) => log.warn({ err }, 'lane probe failed')), deps.probeIntervalMs);
  timer.unref();

  return {
    async pause(lane, error) {
      const first = await pauseLane(redis, queues, lane, { since: Date.now(), status: error.status, origin: error.origin, detail: error.detail });
      if (first) {
        log.error(
          { lane, status: error.status, origin: error.origin, detail: error.detail },
          'lane paused: the gateway or Klaviyo refused the credentials; jobs are kept and a probe will resume it',
        );
        deps.onChange?.(lane, true);
      }
    },
    stop: () => clearInterval(timer),
  };
}
