/**
 * ops/grafana-dashboard.json (issue 20) names only metrics the relay exports, as the alert rules
 * do (test/integration/metrics.test.ts): every PromQL expression of every panel is read, and each
 * `relay_…` series in it must be declared by the /metrics of a relay running its API and workers
 * (a histogram's _bucket/_sum/_count by its family). And it covers what the issue asks for.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics.ts';
import { startHarness, type Harness } from '../support/harness.ts';

interface Panel {
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}
const dashboard = JSON.parse(readFileSync('ops/grafana-dashboard.json', 'utf8')) as { uid: string; panels: Panel[]; templating: { list: { name: string }[] } };
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');
const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));

let h: Harness;
let declared: Map<string, string>;
const metrics = new Metrics();

beforeAll(async () => {
  // API and workers in one process on one registry: every metric either kind of process exports.
  h = await startHarness({ name: 'grafana', metrics });
  const text = await (await fetch(`${h.service.url}/metrics`)).text();
  declared = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
});
afterAll(async () => {
  await h?.close();
});

/** The metric family a series name belongs to, if the relay declares it. */
function family(name: string): string | undefined {
  if (declared.has(name)) return name;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return declared.get(base) === 'histogram' || declared.get(base) === 'summary' ? base : undefined;
}

describe('ops/grafana-dashboard.json', () => {
  it('names only metrics the relay exports, in every expression', () => {
    expect(exprs.length).toBeGreaterThanOrEqual(12);
    for (const { title, expr } of exprs) {
      const used = [...expr.matchAll(/\b(relay_[a-z0-9_]+)/g)].map((m) => m[1]!);
      expect(used.length, `${title}: ${expr}`).toBeGreaterThan(0);
      for (const n of used) expect(family(n), `${title} uses ${n}`).toBeDefined();
    }
  });

  it('groups only by labels the metrics have', () => {
    // `by (...)` labels must be declared on the metric grouped, else a panel is one flat line.
    const checked: string[] = [];
    for (const { title, expr } of exprs) {
      for (const m of expr.matchAll(/by \(([^)]*)\) \((?:\s*(?:rate|increase)\()?\s*(relay_[a-z0-9_]+)/g)) {
        const series = family(m[2]!)!;
        const metric = metrics.registry.getSingleMetric(series) as unknown as { labelNames: string[] } | undefined;
        expect(metric, `${title}: ${series}`).toBeDefined();
        for (const label of m[1]!.split(',').map((s) => s.trim())) {
          if (label === 'le') continue; // a histogram's bucket bound
          expect(metric!.labelNames, `${title}: ${series} has no label ${label}`).toContain(label);
        }
        checked.push(series);
      }
    }
    expect(checked.length).toBeGreaterThanOrEqual(12);
  });

  it('shows what operators look at', () => {
    const all = exprs.map((e) => e.expr).join('\n');
    for (const needed of [
      'relay_http_requests_total', // ingest rate and errors
      'relay_backlog', // queue depth per lane
      'relay_oldest_waiting_seconds', // oldest age per lane
      'relay_klaviyo_requests_total', // delivery rate
      'relay_quota_headroom', // against each quota
      'relay_klaviyo_throttled_total', // 429s
      'relay_dead_lettered_items_total', // dead letters by reason
      'relay_dead_letters',
      'relay_lane_paused', // paused lanes
      'relay_spool_bytes', // spool use
    ])
      expect(all, needed).toContain(needed);
    // Portable: every panel reads the data source the importer picks.
    expect(dashboard.templating.list.map((v) => v.name)).toContain('datasource');
    // Grafana's variable syntax, not a JavaScript template.
    const variable = ['$', '{datasource}'].join('');
    for (const p of panels) expect(p.datasource?.uid, p.title).toBe(variable);
  });
});
