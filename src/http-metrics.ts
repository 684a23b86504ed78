/**
 * The two per-request metrics — relay_http_requests_total{route,method,status} and
 * relay_http_request_duration_seconds{route,method} — counted in plain maps and put into
 * prom-client's form only when scraped. prom-client's own Counter and Histogram hash the label
 * object on every call: ~1.5 µs of every request between them (issue 18). Here a request costs
 * one Map lookup on a joined key and a bucket search; the exposition is the same (same names,
 * help, labels, cumulative buckets, `+Inf`, `_sum`, `_count`).
 */
import type { Registry } from 'prom-client';

const REQUESTS = 'relay_http_requests_total';
const DURATION = 'relay_http_request_duration_seconds';
/** Upper bounds in seconds, as the histogram had them with prom-client. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

interface Count {
  readonly labels: { readonly route: string; readonly method: string; readonly status: string };
  n: number;
}
interface Duration {
  readonly labels: { readonly route: string; readonly method: string };
  /** Observations per bucket (not cumulative); the last slot is past the largest bound. */
  readonly perBucket: number[];
  sum: number;
  count: number;
}

/** What prom-client's Registry reads from a metric when it renders (`get()`); `labelNames` is for readers of the registry. */
interface Sample {
  readonly metricName?: string;
  readonly labels: Record<string, string | number>;
  /** Written after `labels` (prom-client puts a bucket's `le` first). */
  readonly sharedLabels?: Record<string, string>;
  readonly value: number;
}

export class HttpMetrics {
  private readonly counts = new Map<string, Count>();
  private readonly durations = new Map<string, Duration>();

  constructor(registry: Registry) {
    registry.registerMetric({
      name: REQUESTS,
      help: 'HTTP requests answered, by route, method and status',
      type: 'counter',
      aggregator: 'sum',
      labelNames: ['route', 'method', 'status'],
      get: async () => ({
        name: REQUESTS,
        help: 'HTTP requests answered, by route, method and status',
        type: 'counter',
        aggregator: 'sum',
        values: [...this.counts.values()].map((c): Sample => ({ labels: { ...c.labels }, value: c.n })),
      }),
    } as never);
    registry.registerMetric({
      name: DURATION,
      help: 'Time to answer an HTTP request, by route and method',
      type: 'histogram',
      aggregator: 'sum',
      labelNames: ['route', 'method'],
      get: async () => ({
        name: DURATION,
        help: 'Time to answer an HTTP request, by route and method',
        type: 'histogram',
        aggregator: 'sum',
        values: [...this.durations.values()].flatMap(histogramSamples),
      }),
    } as never);
  }

  /** One answered request. Route is the matched pattern (never the path), status its code. */
  record(route: string, method: string, status: number, seconds: number): void {
    const countKey = `${route} ${method} ${status}`;
    let c = this.counts.get(countKey);
    if (!c) {
      c = { labels: { route, method, status: String(status) }, n: 0 };
      this.counts.set(countKey, c);
    }
    c.n++;
    const durationKey = `${route} ${method}`;
    let d = this.durations.get(durationKey);
    if (!d) {
      d = { labels: { route, method }, perBucket: new Array(BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
      this.durations.set(durationKey, d);
    }
    let b = 0;
    while (b < BUCKETS.length && seconds > BUCKETS[b]!) b++;
    d.perBucket[b]!++;
    d.sum += seconds;
    d.count++;
  }
}

/** prom-client's order: each bound's cumulative count, `+Inf`, then `_sum` and `_count`. */
function histogramSamples(d: Duration): Sample[] {
  const out: Sample[] = [];
  let acc = 0;
  BUCKETS.forEach((le, i) => {
    acc += d.perBucket[i]!;
    out.push({ metricName: `${DURATION}_bucket`, labels: { le }, sharedLabels: d.labels, value: acc });
  });
  out.push({ metricName: `${DURATION}_bucket`, labels: { le: '+Inf' }, sharedLabels: d.labels, value: d.count });
  out.push({ metricName: `${DURATION}_sum`, labels: {}, sharedLabels: d.labels, value: d.sum });
  out.push({ metricName: `${DURATION}_count`, labels: {}, sharedLabels: d.labels, value: d.count });
  return out;
}
