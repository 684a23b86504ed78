/**
 * The share each class got of a lane in the last minute (issue 12), and whether live is holding
 * bulk to its guaranteed minimum — what an operator needs to tell "bulk is slow because live is
 * busy, as designed" from "bulk is slow for another reason".
 *
 * Calls come from the governor's logs (`share(scope)`: every grant, per class, per endpoint);
 * items from what the workers delivered. The two read very differently — one bulk call carries up
 * to 1,000 events, a live call often one — so both are shown.
 *
 * Bulk is "at its minimum" on a bucket when, over the last minute, that bucket was full, live used
 * it, bulk used it too, and bulk got no more than its minimum of it (src/quota/governor.ts:
 * while live waits for a bucket, bulk takes from it only below ceil(bulkMinShare × limit)). The
 * buckets visible over a minute are each endpoint's steady window and, through the gateway, the
 * gateway's 1 s window summed over the minute. A bucket is full at 90 % of what its window lets
 * through in 60 s (the governor pads every window, so the log never reaches the bare limit).
 */
import { ENDPOINTS, type EndpointName } from '../klaviyo/endpoints.ts';
import type { QuotaScope } from '../lanes.ts';
import type { Metrics } from '../metrics.ts';
import { PRIORITY_CLASSES, type PriorityClass } from '../priority.ts';
import {
  bulkMinimum,
  DEFAULT_PRIORITY_LIMITS,
  GATEWAY_MARGIN_MS,
  SHARE_WINDOW_MS,
  type ClassShare,
  type GovernorLimits,
  type QuotaGovernor,
  type ScopeShare,
} from '../quota/governor.ts';

export interface LaneShare {
  readonly windowMs: number;
  /** Calls to Klaviyo per class (the governor's logs); absent where this process cannot know the lane's quota scope. */
  readonly calls?: ClassShare;
  /** Calls per class per endpoint called in the window. */
  readonly endpoints?: Partial<Record<EndpointName, ClassShare>>;
  /** Items delivered per class (about the last 60 s). */
  readonly items: ClassShare;
  /** RELAY_CONFIG `priorities.bulkMinShare`. */
  readonly bulkMinShare: number;
  /** Buckets (endpoint names, `gateway`) on which live held bulk to its minimum in the last minute. */
  readonly bulkHeldOn: readonly string[];
  readonly bulkAtMinimum: boolean;
}

const FULL = 0.9;

export type ShareLimits = Pick<GovernorLimits, 'gatewayPerSecond' | 'endpoints' | 'burstPaddingMs' | 'steadyPaddingMs' | 'bulkMinShare' | 'gatewayMarginMs'>;

export function laneShare(input: {
  calls?: ScopeShare;
  items: ClassShare;
  /** Whether bulk has work (waiting or active) in this lane: without it, bulk is not being held. */
  bulkHasWork: boolean;
  viaGateway: boolean;
  limits: ShareLimits;
}): LaneShare {
  const { calls, limits } = input;
  const minShare = limits.bulkMinShare ?? DEFAULT_PRIORITY_LIMITS.bulkMinShare;
  const held: string[] = [];
  if (calls && input.bulkHasWork) {
    for (const [e, c] of Object.entries(calls.endpoints) as [EndpointName, ClassShare][]) {
      const steady = (limits.endpoints[e] ?? ENDPOINTS[e]).steady;
      // Calls in 60 s that the padded 60 s window lets through.
      const capacity = (steady * SHARE_WINDOW_MS) / (60_000 + limits.steadyPaddingMs);
      if (c.live > 0 && c.bulk > 0 && c.live + c.bulk >= FULL * capacity && c.bulk <= bulkMinimum(minShare, steady)) held.push(e);
    }
    if (input.viaGateway) {
      const perWindow = SHARE_WINDOW_MS / (1000 + (limits.gatewayMarginMs ?? GATEWAY_MARGIN_MS));
      const { live, bulk } = calls.total;
      if (live > 0 && live + bulk >= FULL * limits.gatewayPerSecond * perWindow && bulk <= bulkMinimum(minShare, limits.gatewayPerSecond) * perWindow)
        held.push('gateway');
    }
  }
  return {
    windowMs: SHARE_WINDOW_MS,
    ...(calls ? { calls: calls.total, endpoints: calls.endpoints } : {}),
    items: input.items,
    bulkMinShare: minShare,
    bulkHeldOn: held,
    bulkAtMinimum: held.length > 0,
  };
}

/** A class's fraction of the calls (0–1), or undefined when there were none. */
export function fraction(share: ClassShare, cls: PriorityClass): number | undefined {
  const total = share.live + share.bulk;
  return total === 0 ? undefined : share[cls] / total;
}

/**
 * `relay_class_share{lane,class}`: each class's fraction of the lane's calls to Klaviyo in the last
 * 60 s, from the governor's logs. Registered where the governor and the lanes' scopes are known
 * (the workers, beside relay_quota_headroom). No samples for a lane without calls: a share of
 * nothing is not 0.
 */
export function registerClassShareGauge(metrics: Metrics, governor: Pick<QuotaGovernor, 'share'>, lanes: readonly { name: string; scope: QuotaScope }[]): void {
  metrics.addCollected('relay_class_share', "Each class's fraction (0–1) of a lane's calls to Klaviyo in the last 60 s", ['lane', 'class'], async (set) => {
    for (const lane of lanes) {
      const { total } = await governor.share(lane.scope);
      for (const cls of PRIORITY_CLASSES) {
        const f = fraction(total, cls);
        if (f !== undefined) set({ lane: lane.name, class: cls }, f);
      }
    }
  });
}
