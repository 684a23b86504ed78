/** A bounded record of the requests the simulator answered, plus counters. */
import type { EndpointName } from '../klaviyo/endpoints.ts';

export interface RecordedRequest {
  seq: number;
  /** Arrival time (simulator clock, epoch ms). */
  at: number;
  method: string;
  /** Path as received, e.g. `/klaviyo/api/events`. */
  path: string;
  query: Record<string, string>;
  /** Lower-cased header names; `authorization` kept verbatim (masked in the HTTP dump). */
  headers: Record<string, string>;
  mode: 'gateway' | 'direct' | 'connections';
  account?: string | undefined;
  endpoint?: EndpointName | undefined;
  /** Status answered; null while pending, and for a hung request that was never answered. */
  status: number | null;
  /** Parsed JSON body (only when `retainEventBodies`). */
  body?: unknown;
  /** Id of the fault rule that fired, if any. */
  fault?: string | undefined;
  /** Why the simulator refused it, when it did: e.g. 'gateway_auth', 'throttled', 'invalid'. */
  outcome?: string | undefined;
  durationMs?: number | undefined;
}

export class RequestLog {
  private items: RecordedRequest[] = [];
  private start = 0;
  private seq = 0;

  constructor(private readonly max: number) {}

  add(entry: Omit<RecordedRequest, 'seq'>): RecordedRequest {
    const rec: RecordedRequest = { seq: ++this.seq, ...entry };
    this.items.push(rec);
    // Drop from the front in chunks so trimming stays O(1) amortised.
    if (this.items.length - this.start > this.max) {
      this.start++;
      if (this.start > 1024 && this.start * 2 > this.items.length) {
        this.items = this.items.slice(this.start);
        this.start = 0;
      }
    }
    return rec;
  }

  all(): RecordedRequest[] {
    return this.items.slice(this.start);
  }

  clear(): void {
    this.items = [];
    this.start = 0;
  }
}

export interface StatsSnapshot {
  requests: {
    total: number;
    /** endpoint (or 'connections' / 'unknown') → status → count */
    byEndpoint: Record<string, Record<string, number>>;
  };
  throttled: { gateway: number; klaviyo: number };
  /** Requests answered (or delayed/hung) by a fault rule. */
  faulted: number;
}

export class RequestCounters {
  total = 0;
  readonly byEndpoint = new Map<string, Map<string, number>>();
  throttledGateway = 0;
  throttledKlaviyo = 0;
  faulted = 0;

  note(endpoint: string, status: number | null): void {
    this.total++;
    let byStatus = this.byEndpoint.get(endpoint);
    if (!byStatus) {
      byStatus = new Map();
      this.byEndpoint.set(endpoint, byStatus);
    }
    const key = status === null ? 'hung' : String(status);
    byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
  }

  snapshot(): StatsSnapshot {
    const byEndpoint: Record<string, Record<string, number>> = {};
    for (const [endpoint, byStatus] of this.byEndpoint) byEndpoint[endpoint] = Object.fromEntries(byStatus);
    return {
      requests: { total: this.total, byEndpoint },
      throttled: { gateway: this.throttledGateway, klaviyo: this.throttledKlaviyo },
      faulted: this.faulted,
    };
  }

  reset(): void {
    this.total = 0;
    this.byEndpoint.clear();
    this.throttledGateway = 0;
    this.throttledKlaviyo = 0;
    this.faulted = 0;
  }
}
