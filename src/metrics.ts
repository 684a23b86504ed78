/**
 * Prometheus metrics (prom-client). One registry per process, built by the entry point and handed
 * to the HTTP app and the workers.
 *
 * Two kinds:
 *  - counters and histograms of what this process did (HTTP requests, Klaviyo calls, item outcomes,
 *    delivery latency) — each process exposes its own;
 *  - gauges read from Redis at scrape time (jobs per queue and state, oldest waiting job, dead
 *    letters, paused lanes, quota headroom, webhook counters) — the same from any process.
 *
 * Label values are queue, lane, kind, class, source, route, endpoint, status, outcome: never an
 * email, id or key. `source` is a source id from a queue name (a hash of a key, or a configured
 * name) and comes from the queue registry, which only ingest of authenticated sources writes, so
 * its values are as many as the sources ever configured (src/ops/source-label.ts).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { HttpMetrics } from './http-metrics.ts';

export class Metrics {
  readonly registry = new Registry();

  /** Per-request counts and durations, kept cheaply (src/http-metrics.ts: on every request's path). */
  readonly http = new HttpMetrics(this.registry);
  readonly klaviyoRequests = new Counter({
    name: 'relay_klaviyo_requests_total',
    help: 'Calls to Klaviyo (through the gateway or direct), by lane, endpoint and HTTP status (0 = no answer)',
    labelNames: ['lane', 'endpoint', 'status'] as const,
    registers: [this.registry],
  });
  readonly klaviyoDuration = new Histogram({
    name: 'relay_klaviyo_request_duration_seconds',
    help: 'Duration of calls to Klaviyo, by endpoint',
    labelNames: ['endpoint'] as const,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly klaviyoItems = new Counter({
    name: 'relay_klaviyo_request_items_total',
    help: 'Items carried by calls to Klaviyo, by endpoint (items per call = this / relay_klaviyo_requests_total)',
    labelNames: ['endpoint'] as const,
    registers: [this.registry],
  });
  readonly throttled = new Counter({
    name: 'relay_klaviyo_throttled_total',
    help: '429 answers received, by lane and origin (gateway or klaviyo)',
    labelNames: ['lane', 'origin'] as const,
    registers: [this.registry],
  });
  readonly items = new Counter({
    name: 'relay_items_total',
    help: 'Item outcomes in the workers, by kind, class (live, bulk: the class of the queue the item came from) and outcome (delivered, rejected, retry, paused, yield)',
    labelNames: ['kind', 'class', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly deadLettered = new Counter({
    name: 'relay_dead_lettered_items_total',
    help: 'Items Klaviyo (or the gateway) rejected for good, now dead letters, by kind, class, origin and HTTP status: the reasons behind relay_dead_letters',
    labelNames: ['kind', 'class', 'origin', 'status'] as const,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: 'relay_job_retries_total',
    help: 'Jobs scheduled for another attempt, by queue',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  readonly erasures = new Counter({
    name: 'relay_erasures_total',
    help: 'People erased through POST /v1/privacy/deletions (each also queues a Klaviyo deletion job)',
    registers: [this.registry],
  });
  readonly erasedItems = new Counter({
    name: 'relay_erased_items_total',
    help: 'What erasures removed from the relay, by store (queued, inFlight, completed, deadLetters, profileIdCache, audit, spool)',
    labelNames: ['store'] as const,
    registers: [this.registry],
  });
  readonly sourceLimited = new Counter({
    name: 'relay_source_limited_total',
    help: 'Requests refused with 429 because their source was over a limit, by source name and limit (rate, queued_bytes)',
    labelNames: ['source', 'limit'] as const,
    registers: [this.registry],
  });
  readonly deliveryLatency = new Histogram({
    name: 'relay_delivery_latency_seconds',
    help: "From acceptance by the API to Klaviyo's 2xx, by kind and class",
    labelNames: ['kind', 'class'] as const,
    // 1.5 and 3: live's targets (issue 12: p95 ≤ 1.5 s, max ≤ 3 s) are bucket bounds, so an alert
    // or a dashboard can read them off the histogram.
    buckets: [0.1, 0.25, 0.5, 1, 1.5, 2.5, 3, 5, 10, 30, 60, 300, 900, 3600],
    registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'relay_process_' });
  }

  /** Gauges computed at scrape time by `collect` (one callback per gauge; errors leave it empty). */
  addCollected(
    name: string,
    help: string,
    labelNames: readonly string[],
    collect: (set: (labels: Record<string, string>, value: number) => void) => Promise<void>,
  ): void {
    const gauge: Gauge<string> = new Gauge({
      name,
      help,
      labelNames: [...labelNames],
      registers: [this.registry],
      async collect() {
        gauge.reset();
        await collect((labels, value) => gauge.set(labels, value)).catch(() => undefined);
      },
    });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
