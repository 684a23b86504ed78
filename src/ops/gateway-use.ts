/**
 * Per Maton key: how much of the gateway's requests/s the relay used in the last minute, and each
 * lane's share of it (issue 19) — what tells an operator that a key, not Klaviyo, is the
 * bottleneck, and that a second key (or a bigger Maton plan) is due (README "Many accounts on one
 * Maton key"). From the governor's per-key minute log (`gatewayUse`): every gateway grant, by any
 * process, tagged with its lane's Klaviyo account.
 */
import type { QuotaScope } from '../lanes.ts';
import type { Metrics } from '../metrics.ts';
import type { QuotaGovernor } from '../quota/governor.ts';

export interface GatewayKeyStatus {
  /** The key's id (a short hash of the Maton API key, never the key). */
  readonly key: string;
  readonly limitPerSecond: number;
  readonly windowMs: number;
  readonly callsLastMinute: number;
  /** Calls ÷ (limit × window): 1 is the gateway's whole allowance. */
  readonly utilisation: number;
  /** At ≥ 90 % the key is what limits delivery: spread the accounts over more keys. */
  readonly saturated: boolean;
  /** Per lane on the key: its weight (RELAY_CONFIG accounts.<name>.weight), calls and share of the key's calls. */
  readonly lanes: readonly { lane: string; weight: number; calls: number; share: number }[];
  /** Calls of the key made for Klaviyo accounts no lane here names (another deployment on the same key). */
  readonly otherCalls: number;
}

const SATURATED = 0.9;

export async function readGatewayUse(
  governor: Pick<QuotaGovernor, 'gatewayUse'>,
  lanes: readonly { name: string; scope?: QuotaScope }[],
  limitPerSecond: number,
): Promise<GatewayKeyStatus[]> {
  const byKey = new Map<string, { name: string; scope: QuotaScope }[]>();
  for (const l of lanes) {
    if (!l.scope?.viaGateway) continue;
    byKey.set(l.scope.keyId, [...(byKey.get(l.scope.keyId) ?? []), { name: l.name, scope: l.scope }]);
  }
  const out: GatewayKeyStatus[] = [];
  for (const [key, keyLanes] of byKey) {
    const use = await governor.gatewayUse(keyLanes[0]!.scope);
    const left = { ...use.lanes };
    const rows = keyLanes.map((l) => {
      // Two lanes on one Klaviyo account share its calls: each shows the account's.
      const calls = use.lanes[l.scope.klaviyoAccount] ?? 0;
      delete left[l.scope.klaviyoAccount];
      return { lane: l.name, weight: l.scope.weight ?? 1, calls, share: use.calls === 0 ? 0 : calls / use.calls };
    });
    const utilisation = use.calls / ((limitPerSecond * use.windowMs) / 1000);
    out.push({
      key,
      limitPerSecond,
      windowMs: use.windowMs,
      callsLastMinute: use.calls,
      utilisation,
      saturated: utilisation >= SATURATED,
      lanes: rows,
      otherCalls: Object.values(left).reduce((a, b) => a + b, 0),
    });
  }
  return out;
}

/**
 * `relay_gateway_utilisation{key}` (0–1) and `relay_gateway_lane_share{key,lane}` (0–1 of the key's
 * calls), over the last 60 s. Registered where the lanes' scopes are known (the workers).
 */
export function registerGatewayGauges(
  metrics: Metrics,
  governor: Pick<QuotaGovernor, 'gatewayUse'>,
  lanes: readonly { name: string; scope: QuotaScope }[],
  limitPerSecond: number,
): void {
  let last: Promise<GatewayKeyStatus[]> | undefined;
  // One read serves both gauges of a scrape.
  const read = () => (last ??= readGatewayUse(governor, lanes, limitPerSecond).finally(() => setTimeout(() => (last = undefined), 500)));
  metrics.addCollected('relay_gateway_utilisation', "Fraction (0–1) of a Maton key's gateway requests/s used in the last 60 s", ['key'], async (set) => {
    for (const k of await read()) set({ key: k.key }, k.utilisation);
  });
  metrics.addCollected(
    'relay_gateway_lane_share',
    "Each lane's fraction (0–1) of its Maton key's gateway calls in the last 60 s",
    ['key', 'lane'],
    async (set) => {
      for (const k of await read()) for (const l of k.lanes) if (k.callsLastMinute > 0) set({ key: k.key, lane: l.lane }, l.share);
    },
  );
}
