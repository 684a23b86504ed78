/**
 * `npm run bench -- --only=priority` (issue 12: live traffic first). Runs each half twice in one
 * run — with the relay's defaults (priorities on) and with RELAY_CONFIG `priorities: { enabled:
 * false }` (first come, first served) — each time on a fresh redis-server, simulator, API and worker:
 *   1. events: a backfill backlog draining while one live event a second arrives from the
 *      importing source and one from another source (priority-events.ts);
 *   2. profiles: a bulk profile import draining while one live list subscribe a second arrives
 *      (priority-profiles.ts).
 * Rows: the priorities run in the relay's column, the FIFO run as the baseline.
 */
import { eventsRun, type EventsRunResult } from './priority-events.ts';
import { profilesRun, type ProfilesRunResult } from './priority-profiles.ts';
import { formatLatencies, prioritiesSupported, type Latencies, type Mode } from './priority-rig.ts';

export interface PriorityOptions {
  backlog: number;
  liveS: number;
  profiles: number;
  subscribeMaxS: number;
  /** `--baseline`: the FIFO runs only. */
  modes: Mode[];
  log(msg: string): void;
  row(metric: string, ours: string, baseline: string, ratio: string): void;
}

export interface PriorityResult {
  supported: boolean;
  options: Omit<PriorityOptions, 'log' | 'row'>;
  events: Partial<Record<Mode, EventsRunResult>>;
  profiles: Partial<Record<Mode, ProfilesRunResult>>;
}

const n0 = (v: number) => Math.round(v).toLocaleString('en-US');
const k = (v: number) => (v >= 1_000_000 && v % 1_000_000 === 0 ? `${v / 1_000_000}M` : v >= 1000 ? `${n0(v / 1000)}k` : n0(v));

/** `42× lower` from two p95s; nothing when either is missing. */
function ratio(ours: Latencies | undefined, base: Latencies | undefined): string {
  if (!ours || !base || ours.sent === 0 || base.sent === 0) return '';
  const o = ours.p95;
  const b = base.p95;
  if (o === null || o <= 0) return '';
  if (b === null) return `p95 >${Math.round(base.undeliveredWaitedMs / o)}× lower`;
  const x = b / o;
  return x >= 1 ? `p95 ${x.toFixed(x >= 10 ? 0 : 1)}× lower` : `p95 ${(1 / x).toFixed(1)}× higher`;
}

export async function priorityScenario(opts: PriorityOptions): Promise<PriorityResult> {
  const supported = prioritiesSupported();
  if (!supported) opts.log('priority: this build has no RELAY_CONFIG `priorities` (issue 12): both runs measure first come, first served');
  const { log, row, ...options } = opts;
  const result: PriorityResult = { supported, options, events: {}, profiles: {} };
  for (const mode of opts.modes) result.events[mode] = await eventsRun(mode, supported, { backlog: opts.backlog, liveS: opts.liveS, log });
  for (const mode of opts.modes) result.profiles[mode] = await profilesRun(mode, supported, { profiles: opts.profiles, maxS: opts.subscribeMaxS, log });
  priorityRows(result, row);
  return result;
}

/** The table rows for a result (also to reprint them from a results file). */
export function priorityRows(r: PriorityResult, row: PriorityOptions['row']): void {
  const on = r.events.priorities;
  const off = r.events.fifo;
  const any = on ?? off!;
  const cell = (x: EventsRunResult | undefined, f: (x: EventsRunResult) => string) => (x ? f(x) : '');
  // Every setting that differs from the defaults is named beside the figures.
  row(
    'priority: settings (RELAY_CONFIG: 2 sources by key digest; 1 API and 1 worker process; else as shown)',
    on ? on.settings : '—',
    off ? `FIFO: ${off.settings}` : '—',
    '',
  );
  const setup = `${k(any.backlog)} backfill from source A draining, 1 live event/s from A and 1/s from B, ${n0(any.liveSeconds)} s`;
  row(
    `priority: live event latency p50 / p95 / max ms (${setup})`,
    cell(on, (x) => formatLatencies(x.latency.all)),
    cell(off, (x) => formatLatencies(x.latency.all)),
    ratio(on?.latency.all, off?.latency.all),
  );
  row(
    'priority: … live events from the importing source (A)',
    cell(on, (x) => formatLatencies(x.latency.sourceA)),
    cell(off, (x) => formatLatencies(x.latency.sourceA)),
    ratio(on?.latency.sourceA, off?.latency.sourceA),
  );
  row(
    'priority: … live events from another source (B)',
    cell(on, (x) => formatLatencies(x.latency.sourceB)),
    cell(off, (x) => formatLatencies(x.latency.sourceB)),
    ratio(on?.latency.sourceB, off?.latency.sourceB),
  );
  row(
    'priority: live events sent as create_event / bulk calls of their own / inside backlog calls',
    cell(on, (x) => `${x.liveRoutes.createEvent} / ${x.liveRoutes.bulkOwn} / ${x.liveRoutes.bulkWithBacklog}`),
    cell(off, (x) => `${x.liveRoutes.createEvent} / ${x.liveRoutes.bulkOwn} / ${x.liveRoutes.bulkWithBacklog}`),
    '',
  );
  const bulkCell = (x: EventsRunResult) => `${n0(x.bulk.eventsPerSecond)}/s = ${(x.bulk.ofCeiling * 100).toFixed(1)}% of ${n0(x.bulk.ceiling)}/s`;
  const window = (x: EventsRunResult) =>
    x.bulk.steady ? `${n0(x.bulk.windowSeconds)} s of whole minutes after the first` : `first ${n0(x.bulk.windowSeconds)} s, incl. the unused burst budget`;
  row(
    `priority: bulk delivery while live ran, of the ceiling (${cell(on ?? off, window)}${any.drainedDuringLive ? '; the backlog ran dry' : ''})`,
    cell(on, bulkCell),
    cell(off, bulkCell),
    on && off && off.bulk.eventsPerSecond > 0 ? `${(on.bulk.eventsPerSecond / off.bulk.eventsPerSecond).toFixed(2)}×` : '',
  );
  const throttled = (t: { gateway: number; klaviyo: number }) => `${n0(t.gateway + t.klaviyo)}`;
  row(
    'priority: 429s received (events run)',
    cell(on, (x) => throttled(x.throttled)),
    cell(off, (x) => throttled(x.throttled)),
    '',
  );
  const rejected = (on?.liveRejected ?? 0) + (off?.liveRejected ?? 0);
  if (rejected)
    row(
      'priority: live event requests not answered 202',
      cell(on, (x) => n0(x.liveRejected)),
      cell(off, (x) => n0(x.liveRejected)),
      '',
    );

  const pon = r.profiles.priorities;
  const poff = r.profiles.fifo;
  const pany = pon ?? poff;
  if (!pany) return;
  const pcell = (x: ProfilesRunResult | undefined, f: (x: ProfilesRunResult) => string) => (x ? f(x) : '');
  const psetup = `${k(pany.profiles)}-profile bulk import draining (X-Relay-Priority: bulk), 1 subscribe/s from source B`;
  row(
    `priority: live subscribe latency p50 / p95 / max ms, new profile (${psetup})`,
    pcell(pon, (x) => formatLatencies(x.latency.new)),
    pcell(poff, (x) => formatLatencies(x.latency.new)),
    ratio(pon?.latency.new, poff?.latency.new),
  );
  row(
    'priority: … profile whose import operation is still pending (applied after it)',
    pcell(pon, (x) => formatLatencies(x.latency.pendingImport)),
    pcell(poff, (x) => formatLatencies(x.latency.pendingImport)),
    ratio(pon?.latency.pendingImport, poff?.latency.pendingImport),
  );
  row(
    "priority: … subscribes Klaviyo saw before that profile's earlier import (order broken)",
    pcell(pon, (x) => n0(x.orderViolations)),
    pcell(poff, (x) => n0(x.orderViolations)),
    '',
  );
  const imp = (x: ProfilesRunResult) => (x.importSeconds === null ? 'not drained by the end' : `${n0(x.importSeconds)} s, ${n0(x.importProfilesPerSecond!)}/s`);
  row("priority: profile import drained in (s from the worker's start), profiles/s", pcell(pon, imp), pcell(poff, imp), '');
  row(
    'priority: 429s received (profiles run)',
    pcell(pon, (x) => throttled(x.throttled)),
    pcell(poff, (x) => throttled(x.throttled)),
    '',
  );
}
