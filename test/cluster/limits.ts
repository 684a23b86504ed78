/**
 * The simulator's peak windows held against the documented limits: per account × endpoint the
 * Klaviyo burst (1 s) and steady (60 s) limits of src/klaviyo/endpoints.ts, per Maton key the
 * gateway's GATEWAY_REQUESTS_PER_SECOND. "sent" peaks count every request that arrived, admitted
 * or not, so they show what the relay tried, not what the simulator let through.
 */
import { ENDPOINTS, GATEWAY_REQUESTS_PER_SECOND, type EndpointName } from '../../src/klaviyo/endpoints.ts';
import type { SimStatsView } from '../faults/harness.ts';
import { busiestWindow } from '../support/sliding-window.ts';

export interface LimitsVerdict {
  readonly throttled: { gateway: number; klaviyo: number };
  /** Every limit exceeded, one line each (empty when the relay stayed within them all). */
  readonly over: string[];
  /** One line per endpoint and key: peak / limit. */
  readonly peaks: string[];
}

/** `peaks` lists the windows of `account` and of the gateway keys other than `skipKeys` (all are checked). */
export function checkLimits(stats: SimStatsView, account: string, skipKeys: readonly string[] = []): LimitsVerdict {
  const over: string[] = [];
  const peaks: string[] = [];
  for (const [acct, byEndpoint] of Object.entries(stats.peaks?.klaviyo ?? {})) {
    for (const [endpoint, p] of Object.entries(byEndpoint)) {
      const spec = ENDPOINTS[endpoint as EndpointName];
      if (!spec) {
        over.push(`${acct} ${endpoint}: not an endpoint of src/klaviyo/endpoints.ts`);
        continue;
      }
      if (acct === account) peaks.push(`${endpoint} ${p.sentPerSecond}/${spec.burst} per s, ${p.sentPerMinute}/${spec.steady} per min`);
      if (p.sentPerSecond > spec.burst) over.push(`${acct} ${endpoint}: ${p.sentPerSecond} requests in one second (burst limit ${spec.burst})`);
      if (p.sentPerMinute > spec.steady) over.push(`${acct} ${endpoint}: ${p.sentPerMinute} requests in one minute (steady limit ${spec.steady})`);
    }
  }
  for (const [key, p] of Object.entries(stats.peaks?.gateway ?? {})) {
    if (!skipKeys.includes(key)) peaks.push(`gateway ${p.sentPerSecond}/${GATEWAY_REQUESTS_PER_SECOND} per s`);
    if (p.sentPerSecond > GATEWAY_REQUESTS_PER_SECOND)
      over.push(`gateway key ${key}: ${p.sentPerSecond} requests in one second (limit ${GATEWAY_REQUESTS_PER_SECOND})`);
  }
  if (!stats.peaks) over.push('the simulator reported no peak windows');
  return { throttled: stats.throttled, over, peaks };
}

interface RecordedCall {
  at: number;
  mode: string;
  endpoint?: string;
  status: number | null;
  outcome?: string;
  durationMs?: number;
}

/**
 * Where the gateway saw more than its limit, or answered 429: each such fixed second, with every
 * request that arrived in it (ms into the second, endpoint, status), placed against the run's
 * marks (the worker kill, the failover). Empty when there is nothing to explain.
 */
export async function gatewayHotSeconds(simUrl: string, marks: readonly { label: string; at: number }[]): Promise<string[]> {
  const { requests } = (await (await fetch(`${simUrl}/__sim/requests?limit=5000`)).json()) as { requests: RecordedCall[] };
  const bySecond = new Map<number, RecordedCall[]>();
  for (const r of requests) {
    if (r.mode !== 'gateway') continue;
    const s = Math.floor(r.at / 1000);
    bySecond.set(s, [...(bySecond.get(s) ?? []), r]);
  }
  const out: string[] = [];
  for (const [second, calls] of [...bySecond].sort((a, b) => a[0] - b[0])) {
    if (calls.length <= GATEWAY_REQUESTS_PER_SECOND && !calls.some((c) => c.status === 429)) continue;
    const t = second * 1000;
    const where = marks.map((m) => `${((t - m.at) / 1000).toFixed(1)} s after ${m.label}`).join(', ');
    const prev = bySecond.get(second - 1)?.length ?? 0;
    const list = calls.map((c) => `${c.at - t}ms ${c.endpoint ?? '?'} ${c.status ?? 'pending'}${c.outcome ? `(${c.outcome})` : ''}`).join(', ');
    out.push(`gateway second ${new Date(t).toISOString()} (${where}): ${calls.length} requests (previous second ${prev}): ${list}`);
  }
  return out;
}

/**
 * Records every token the quota governor grants from one of its buckets (a sorted set of grant
 * times, src/quota/governor.ts), by polling it faster than its window expires entries.
 * Compared with the simulator's arrival times it tells a governor that granted too much from
 * grants that were within the limit but arrived bunched.
 */
export class BucketWatch {
  readonly grants = new Map<string, number>();
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(
    private readonly read: () => Promise<string[] | undefined>,
    intervalMs = 100,
  ) {
    this.done = (async () => {
      while (!this.stopped) {
        const flat = await this.read().catch(() => undefined);
        for (let i = 0; flat && i + 1 < flat.length; i += 2) if (!this.grants.has(flat[i]!)) this.grants.set(flat[i]!, Number(flat[i + 1]));
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  /** The most grants in any sliding `windowMs` interval, and in any fixed (epoch-aligned) second. */
  peaks(windowMs: number): { sliding: number; slidingAt: number; fixedSecond: number; fixedAt: number; total: number } {
    const t = [...this.grants.values()];
    const busiest = busiestWindow(t, windowMs);
    const sliding = busiest.count;
    const slidingAt = sliding > 0 ? busiest.at : 0;
    const bySecond = new Map<number, number>();
    for (const x of t) bySecond.set(Math.floor(x / 1000), (bySecond.get(Math.floor(x / 1000)) ?? 0) + 1);
    let fixedSecond = 0;
    let fixedAt = 0;
    for (const [s, n] of bySecond) if (n > fixedSecond) [fixedSecond, fixedAt] = [n, s * 1000];
    return { sliding, slidingAt, fixedSecond, fixedAt, total: t.length };
  }

  /** Grant times (ms into the second) within the fixed second starting at `t`. */
  inSecond(t: number): number[] {
    return [...this.grants.values()]
      .filter((x) => x >= t && x < t + 1000)
      .sort((a, b) => a - b)
      .map((x) => x - t);
  }
}
