/**
 * What the people on call look at first: per queue and per lane (Klaviyo account), how much is
 * waiting, active, delayed, dead; how old the oldest waiting job is; how much went out in the
 * last minute; how much quota is left; whether the lane is paused and why. Per lane × kind × class
 * (and per source within it), the same summed over the class's queues; per lane, the share each
 * class got in the last minute (src/ops/class-status.ts, src/ops/class-share.ts).
 */
import type { RedisClient as Redis } from '../redis.ts';
import type { EndpointName } from '../klaviyo/endpoints.ts';
import type { QuotaScope } from '../lanes.ts';
import type { JobKind, Queues } from '../queues.ts';
import { queueName } from '../queue-catalog.ts';
import type { PriorityClass } from '../priority.ts';
import { readPause, type PauseInfo } from './lane-state.ts';
import { queueBytesKey, statsKey } from '../redis-keys.ts';
import type { SourceLimitStatus } from '../ingest/source-limits.ts';
import type { QuotaGovernor } from '../quota/governor.ts';
import { DELIVERED_PERIOD_MS, readDelivered } from '../delivery-marks.ts';
import { classStatus, deliveredInLastMinute, type ClassStatus } from './class-status.ts';
import { laneShare, type LaneShare, type ShareLimits } from './class-share.ts';
import { readGatewayUse, type GatewayKeyStatus } from './gateway-use.ts';
import type { SourceNamer } from './source-label.ts';

export interface QueueStatus {
  readonly queue: string;
  readonly kind: JobKind;
  readonly lane: string;
  readonly class: PriorityClass;
  /** The source whose work it holds; absent for the legacy queue `<kind>.<lane>`. */
  readonly source?: string;
  readonly waiting: number;
  readonly active: number;
  readonly delayed: number;
  readonly failed: number;
  readonly completed: number;
  readonly oldestWaitingSeconds: number;
  /** Items from this queue delivered to Klaviyo in about the last 60 s (deliveredInLastMinute). */
  readonly deliveredLastMinute: number;
  /** Bytes of accepted work not yet finished (what RELAY_MAX_QUEUED_BYTES bounds). */
  readonly queuedBytes: number;
}

export interface LaneStatus {
  readonly lane: string;
  readonly paused: PauseInfo | null;
  readonly deliveredLastMinute: number;
  /** Calls left now in each quota window of the main endpoints. */
  readonly headroom: Readonly<Record<string, { burst: number; steady: number; gateway?: number }>>;
  /** The share each class got in the last minute: calls (absent without the lane's quota scope) and items. */
  readonly share: LaneShare;
}

export interface Status {
  readonly at: string;
  /** Per lane × kind × class, summed over the class's queues, with each source's counts. */
  readonly classes: readonly ClassStatus[];
  /** Per queue, for tools. */
  readonly queues: readonly QueueStatus[];
  readonly lanes: readonly LaneStatus[];
  /** Per Maton key: the gateway's use in the last minute and each lane's share of it (issue 19). */
  readonly gatewayKeys: readonly GatewayKeyStatus[];
  /** Sources with ingest limits: the limits, and their queued bytes. */
  readonly sources?: readonly SourceLimitStatus[];
  /** Tracking API messages (Segment/RudderStack) by type and outcome, once any arrived. */
  readonly tracking?: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export type StatusGovernor = Pick<QuotaGovernor, 'headroom' | 'share' | 'gatewayUse'>;

export interface StatusOptions {
  /** The governor's limits (RELAY_CONFIG `limits`, `priorities`): to tell whether bulk is held at its minimum. */
  readonly limits: ShareLimits;
  /** Configured source names, shown beside the ids. */
  readonly sourceName?: SourceNamer;
}

const HEADROOM_ENDPOINTS: readonly EndpointName[] = [
  'create_event',
  'bulk_create_events',
  'create_or_update_profile',
  'add_profiles_to_list',
  'bulk_subscribe_profiles',
  'create_back_in_stock_subscription',
  'bulk_create_coupon_codes',
];

/** A lane without a scope (an API-only process without credentials cannot know it) reports no headroom. */
export async function readStatus(
  redis: Redis,
  queues: Queues,
  lanes: readonly { name: string; scope?: QuotaScope }[],
  governor: StatusGovernor,
  limits: { status(): Promise<SourceLimitStatus[]> } | undefined,
  opts: StatusOptions,
): Promise<Status> {
  const now = Date.now();
  const queueStatus: QueueStatus[] = [];
  for (const lane of lanes) {
    for (const ref of await queues.catalog.all([lane.name])) {
      const q = queues.get(ref);
      const [counts, oldest, delivered, bytes] = await Promise.all([
        q.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'),
        q.getWaiting(-1, -1),
        readDelivered(redis, queues.prefix, ref, now),
        redis.get(queueBytesKey(q.qualifiedName)),
      ]);
      queueStatus.push({
        queue: queueName(ref),
        kind: ref.kind,
        lane: lane.name,
        class: ref.cls,
        ...(ref.source !== undefined ? { source: ref.source } : {}),
        waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
        failed: counts.failed ?? 0,
        completed: counts.completed ?? 0,
        oldestWaitingSeconds: oldest[0] ? Math.round((Date.now() - oldest[0].timestamp) / 1000) : 0,
        deliveredLastMinute: deliveredInLastMinute(delivered, now, DELIVERED_PERIOD_MS),
        queuedBytes: Number(bytes ?? 0),
      });
    }
  }
  const classes = classStatus(
    queueStatus,
    lanes.map((l) => l.name),
    opts.sourceName,
  );
  const laneStatus: LaneStatus[] = [];
  for (const lane of lanes) {
    const headroom: Record<string, { burst: number; steady: number; gateway?: number }> = {};
    if (lane.scope) for (const e of HEADROOM_ENDPOINTS) headroom[e] = await governor.headroom(lane.scope, e);
    const mine = classes.filter((c) => c.lane === lane.name);
    const items = (cls: PriorityClass) => mine.filter((c) => c.class === cls).reduce((n, c) => n + c.deliveredLastMinute, 0);
    const share = laneShare({
      calls: lane.scope ? await governor.share(lane.scope) : undefined,
      items: { live: items('live'), bulk: items('bulk') },
      bulkHasWork: mine.some((c) => c.class === 'bulk' && c.waiting + c.active > 0),
      viaGateway: lane.scope?.viaGateway === true,
      limits: opts.limits,
    });
    laneStatus.push({
      lane: lane.name,
      paused: await readPause(redis, queues.prefix, lane.name),
      deliveredLastMinute: queueStatus.filter((q) => q.lane === lane.name).reduce((n, q) => n + q.deliveredLastMinute, 0),
      headroom,
      share,
    });
  }
  const sources = limits ? await limits.status() : [];
  const tracking: Record<string, Record<string, number>> = {};
  for (const [field, n] of Object.entries(await redis.hgetall(statsKey(queues.prefix, 'tracking')))) {
    const [type, outcome] = field.split(':');
    const byOutcome = tracking[type!] ?? {};
    byOutcome[outcome ?? ''] = Number(n);
    tracking[type!] = byOutcome;
  }
  return {
    at: new Date().toISOString(),
    classes,
    queues: queueStatus,
    lanes: laneStatus,
    gatewayKeys: await readGatewayUse(governor, lanes, opts.limits.gatewayPerSecond),
    ...(sources.length > 0 ? { sources } : {}),
    ...(Object.keys(tracking).length > 0 ? { tracking } : {}),
  };
}
