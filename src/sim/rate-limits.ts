/**
 * The two layers of rate limiting a relay meets, with peak tracking for tests:
 * - the Maton gateway: `gatewayPerSecond` requests per fixed second per Maton API key, shared by
 *   all connections (docs/klaviyo-and-maton.md §4);
 * - Klaviyo: per account × endpoint, a fixed 1 s burst and a fixed 60 s steady window with the
 *   `x-klaviyo-ratelimit` values from endpoints.ts (docs/klaviyo-and-maton.md §2).
 *
 * "sent" windows count every request that arrived (whatever its fate) — what the relay *tried*;
 * "accepted" windows count requests the limiter admitted. With enforcement on, accepted never
 * exceeds the limit, so a test proving the relay stays under the limits asserts on the sent
 * peaks (or on zero throttles).
 */
import type { EndpointName } from '../klaviyo/endpoints.ts';
import { FixedWindow } from './fixed-window.ts';
import type { ResolvedOptions } from './options.ts';

export interface LimitDecision {
  allowed: boolean;
  /** Whole seconds until the blocking window frees (≥ 1); 0 when allowed. */
  retryAfterS: number;
  /** Klaviyo's RateLimit-* headers, for non-429 responses. */
  headers: Record<string, string>;
}

class KlaviyoLane {
  readonly second = new FixedWindow(1000);
  readonly minute = new FixedWindow(60_000);
  readonly sentSecond = new FixedWindow(1000);
  readonly sentMinute = new FixedWindow(60_000);
}

class GatewayLane {
  readonly second = new FixedWindow(1000);
  readonly sentSecond = new FixedWindow(1000);
}

export interface KlaviyoPeak {
  /** Most requests admitted in one fixed 1 s window. */
  perSecond: number;
  /** Most requests admitted in one fixed 60 s window. */
  perMinute: number;
  /** Most requests that arrived (admitted or not) in one fixed 1 s window. */
  sentPerSecond: number;
  sentPerMinute: number;
}

export interface GatewayPeak {
  perSecond: number;
  sentPerSecond: number;
}

export interface PeakStats {
  /** account id → endpoint → peaks */
  klaviyo: Record<string, Partial<Record<EndpointName, KlaviyoPeak>>>;
  /** Maton API key → peaks */
  gateway: Record<string, GatewayPeak>;
}

const secs = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

export class RateLimits {
  private readonly klaviyo = new Map<string, Map<EndpointName, KlaviyoLane>>();
  private readonly gateway = new Map<string, GatewayLane>();

  constructor(private readonly opts: ResolvedOptions) {}

  private lane(account: string, endpoint: EndpointName): KlaviyoLane {
    let byEndpoint = this.klaviyo.get(account);
    if (!byEndpoint) {
      byEndpoint = new Map();
      this.klaviyo.set(account, byEndpoint);
    }
    let lane = byEndpoint.get(endpoint);
    if (!lane) {
      lane = new KlaviyoLane();
      byEndpoint.set(endpoint, lane);
    }
    return lane;
  }

  private gatewayLane(key: string): GatewayLane {
    let lane = this.gateway.get(key);
    if (!lane) {
      lane = new GatewayLane();
      this.gateway.set(key, lane);
    }
    return lane;
  }

  noteKlaviyoSent(account: string, endpoint: EndpointName, now: number): void {
    const lane = this.lane(account, endpoint);
    lane.sentSecond.hit(now);
    lane.sentMinute.hit(now);
  }

  noteGatewaySent(key: string, now: number): void {
    this.gatewayLane(key).sentSecond.hit(now);
  }

  checkGateway(key: string, now: number): LimitDecision {
    const lane = this.gatewayLane(key);
    if (this.opts.enforceLimits && lane.second.count(now) >= this.opts.gatewayPerSecond) {
      return { allowed: false, retryAfterS: secs(lane.second.msUntilReset(now)), headers: {} };
    }
    lane.second.hit(now);
    return { allowed: true, retryAfterS: 0, headers: {} };
  }

  checkKlaviyo(account: string, endpoint: EndpointName, now: number): LimitDecision {
    const { burst, steady } = this.opts.endpointLimits[endpoint];
    const lane = this.lane(account, endpoint);
    const inSecond = lane.second.count(now);
    const inMinute = lane.minute.count(now);
    if (this.opts.enforceLimits && (inSecond >= burst || inMinute >= steady)) {
      const waitMs = Math.max(inSecond >= burst ? lane.second.msUntilReset(now) : 0, inMinute >= steady ? lane.minute.msUntilReset(now) : 0);
      // Klaviyo's 429 carries Retry-After but no RateLimit-* headers (docs/klaviyo-and-maton.md §3).
      return { allowed: false, retryAfterS: secs(waitMs), headers: {} };
    }
    lane.second.hit(now);
    lane.minute.hit(now);
    const leftSecond = burst - inSecond - 1;
    const leftMinute = steady - inMinute - 1;
    const minuteBinds = leftMinute < leftSecond;
    return {
      allowed: true,
      retryAfterS: 0,
      headers: {
        // The form recorded live (docs/klaviyo-and-maton.md §3): `75, 75;w=1, 750;w=60`.
        'RateLimit-Limit': `${burst}, ${burst};w=1, ${steady};w=60`,
        'RateLimit-Remaining': String(Math.max(0, Math.min(leftSecond, leftMinute))),
        'RateLimit-Reset': String(secs(minuteBinds ? lane.minute.msUntilReset(now) : lane.second.msUntilReset(now))),
      },
    };
  }

  peaks(): PeakStats {
    const klaviyo: PeakStats['klaviyo'] = {};
    for (const [account, byEndpoint] of this.klaviyo) {
      const out: Partial<Record<EndpointName, KlaviyoPeak>> = {};
      for (const [endpoint, lane] of byEndpoint) {
        out[endpoint] = {
          perSecond: lane.second.peak,
          perMinute: lane.minute.peak,
          sentPerSecond: lane.sentSecond.peak,
          sentPerMinute: lane.sentMinute.peak,
        };
      }
      klaviyo[account] = out;
    }
    const gateway: PeakStats['gateway'] = {};
    for (const [key, lane] of this.gateway) {
      gateway[key] = { perSecond: lane.second.peak, sentPerSecond: lane.sentSecond.peak };
    }
    return { klaviyo, gateway };
  }

  reset(): void {
    this.klaviyo.clear();
    this.gateway.clear();
  }
}
