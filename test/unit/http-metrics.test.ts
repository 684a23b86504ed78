/**
 * The per-request metrics are kept outside prom-client (src/http-metrics.ts) for their cost; a
 * scrape must read exactly what prom-client's own Counter and Histogram would have exposed for
 * the same requests — bucket edges (a value equal to a bound is in it), beyond the last bound,
 * label order, `_sum` and `_count` included.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HttpMetrics } from '../../src/http-metrics.ts';

const requests: [string, string, number, number][] = [
  ['/v1/events', 'POST', 202, 0.0031],
  ['/v1/events', 'POST', 202, 0.005], // on a bound
  ['/v1/events', 'POST', 400, 0.0004],
  ['/v1/events', 'POST', 202, 3.7], // past the last bound
  ['/v1/profiles', 'POST', 202, 0.02],
  ['unmatched', 'GET', 404, 0.0001],
  ['/ops/jobs/:id', 'DELETE', 200, 0.25],
];

async function promClientText(): Promise<string> {
  const registry = new Registry();
  const count = new Counter({
    name: 'relay_http_requests_total',
    help: 'HTTP requests answered, by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'relay_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by route and method',
    labelNames: ['route', 'method'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  for (const [route, method, status, seconds] of requests) {
    count.inc({ route, method, status: String(status) });
    duration.observe({ route, method }, seconds);
  }
  return registry.metrics();
}

describe('HttpMetrics', () => {
  it("exposes what prom-client's Counter and Histogram expose for the same requests", async () => {
    const registry = new Registry();
    const http = new HttpMetrics(registry);
    for (const [route, method, status, seconds] of requests) http.record(route, method, status, seconds);
    expect(await registry.metrics()).toBe(await promClientText());
  });

  it('declares its label names, as the dashboards and alerts read them', () => {
    const registry = new Registry();
    new HttpMetrics(registry);
    const labels = (name: string) => (registry.getSingleMetric(name) as unknown as { labelNames: string[] }).labelNames;
    expect(labels('relay_http_requests_total')).toEqual(['route', 'method', 'status']);
    expect(labels('relay_http_request_duration_seconds')).toEqual(['route', 'method']);
  });
});
