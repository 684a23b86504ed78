/**
 * `relay status [--watch] [--json]`, from GET /ops/status: per lane × kind × class (and per source
 * where a class has more than one), per lane (quota headroom, pause, the share each class got),
 * per source with limits. --json prints the whole status, per-queue rows included.
 */
import { int, noPositionals, parse } from './args.ts';
import { CliError, UsageError } from './errors.ts';
import { ago, count, duration, outJson, table, time } from './format.ts';
import { relay, relayTarget, type RelayTarget } from './http.ts';

interface QueueStatus {
  queue: string;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  oldestWaitingSeconds: number;
  deliveredLastMinute: number;
}
interface ClassCounts {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  oldestWaitingSeconds: number;
  deliveredLastMinute: number;
}
interface SourceClassStatus extends ClassCounts {
  source: string;
  name?: string;
  queue: string;
}
interface ClassStatus extends ClassCounts {
  lane: string;
  kind: string;
  class: 'live' | 'bulk';
  sources: SourceClassStatus[];
}
interface ClassShare {
  live: number;
  bulk: number;
}
interface LaneShare {
  windowMs: number;
  calls?: ClassShare;
  items: ClassShare;
  bulkMinShare: number;
  bulkHeldOn: string[];
  bulkAtMinimum: boolean;
}
interface Headroom {
  burst: number;
  steady: number;
  gateway?: number;
}
interface LaneStatus {
  lane: string;
  paused: { since: number; status: number; origin: string; detail?: string; by?: string; lastProbe?: number } | null;
  deliveredLastMinute: number;
  headroom: Record<string, Headroom | undefined>;
  /** Absent from relays that predate priority classes. */
  share?: LaneShare;
}
interface SourceStatus {
  source: string;
  eventsPerSecond?: number;
  burst?: number;
  queuedBytesLimit?: number;
  queuedBytes?: number;
}
/** Per Maton key (absent from relays that predate issue 19). */
interface GatewayKey {
  key: string;
  limitPerSecond: number;
  windowMs: number;
  callsLastMinute: number;
  utilisation: number;
  saturated: boolean;
  lanes: { lane: string; weight: number; calls: number; share: number }[];
  otherCalls: number;
}
export interface Status {
  at: string;
  gatewayKeys?: GatewayKey[];
  /** Per lane × kind × class (absent from relays that predate priority classes). */
  classes?: ClassStatus[];
  queues: QueueStatus[];
  lanes: LaneStatus[];
  /** Sources with ingest limits (absent from relays that predate them). */
  sources?: SourceStatus[];
  /** Tracking API messages by type and outcome (absent until one arrived). */
  tracking?: Record<string, Record<string, number>>;
}

const OPTIONS = {
  watch: { type: 'boolean' },
  interval: { type: 'string' },
  count: { type: 'string' },
} as const;

export async function fetchStatus(t: RelayTarget): Promise<Status> {
  return (await relay(t, '/ops/status', { auth: 'admin', label: 'reading the status' })).body as Status;
}

function pauseText(p: LaneStatus['paused'], now: number): string {
  if (!p) return 'no';
  const why = p.by ? `by ${p.by}` : `${p.status ? `${p.status} ` : ''}${p.origin}${p.detail ? `: ${p.detail}` : ''}`;
  const probe = p.lastProbe ? `; probed ${ago(p.lastProbe, now)}` : '';
  return `paused ${duration(Math.max(0, now - p.since))} (${why}${probe})`;
}

function headroomText(h: Headroom | undefined): string {
  return h ? `${count(h.burst)}/s ${count(h.steady)}/min` : '—';
}

/** `3 %`; `<1 %` and `>99 %` where rounding would hide the smaller class; `—` of nothing. */
export function percent(part: number, total: number): string {
  if (total <= 0) return '—';
  const p = (100 * part) / total;
  if (p > 0 && p < 1) return '<1 %';
  if (p > 99 && p < 100) return '>99 %';
  return `${Math.round(p)} %`;
}

const busy = (c: ClassCounts) => c.waiting + c.active + c.delayed + c.failed + c.deliveredLastMinute > 0;
const sourceText = (x: SourceClassStatus) => (x.name ? `${x.name} (${x.source})` : x.source);

/**
 * One row per lane, kind and class; under a class with more than one source, a row per source.
 * The legacy queue (`legacy`: work from an older version) counts as a source only while it holds
 * or delivered something. SHARE is the class's part of the kind's items delivered in the last
 * minute — on a source row, the source's part of its class's.
 */
function classTable(classes: readonly ClassStatus[]): string {
  const rows: string[][] = [];
  const cells = (c: ClassCounts, share: string) => [
    count(c.waiting),
    count(c.active),
    c.waiting > 0 ? duration(c.oldestWaitingSeconds * 1000) : '—',
    count(c.deliveredLastMinute),
    share,
  ];
  for (const c of classes) {
    const shown = c.sources.filter((x) => (x.source !== 'legacy' && x.source !== 'all') || busy(x));
    const kindDelivered = classes.filter((o) => o.lane === c.lane && o.kind === c.kind).reduce((n, o) => n + o.deliveredLastMinute, 0);
    const source = shown.length === 1 ? sourceText(shown[0]!) : shown.length === 0 ? '—' : 'all';
    rows.push([c.lane, c.kind, c.class, source, ...cells(c, percent(c.deliveredLastMinute, kindDelivered))]);
    if (shown.length > 1)
      for (const x of shown) rows.push([c.lane, c.kind, c.class, sourceText(x), ...cells(x, percent(x.deliveredLastMinute, c.deliveredLastMinute))]);
  }
  return table(
    [
      { header: 'lane' },
      { header: 'kind' },
      { header: 'class' },
      { header: 'source' },
      { header: 'waiting', align: 'right' },
      { header: 'active', align: 'right' },
      { header: 'oldest waiting', align: 'right' },
      { header: 'delivered/min', align: 'right' },
      { header: 'share', align: 'right' },
    ],
    rows,
  );
}

/** Per lane: each class's calls to Klaviyo and items delivered in the last minute, and bulk's minimum. */
function shareTable(lanes: readonly LaneStatus[]): string {
  const part = (n: number, of: ClassShare) => `${count(n)} (${percent(n, of.live + of.bulk)})`;
  return table(
    [
      { header: 'lane' },
      { header: 'live calls', align: 'right' },
      { header: 'bulk calls', align: 'right' },
      { header: 'live items', align: 'right' },
      { header: 'bulk items', align: 'right' },
      { header: 'bulk minimum' },
    ],
    lanes.flatMap((l) => {
      const sh = l.share;
      if (!sh) return [];
      const min = `${Math.round(sh.bulkMinShare * 100)} %`;
      return [
        [
          l.lane,
          sh.calls ? part(sh.calls.live, sh.calls) : 'n/a',
          sh.calls ? part(sh.calls.bulk, sh.calls) : 'n/a',
          part(sh.items.live, sh.items),
          part(sh.items.bulk, sh.items),
          sh.bulkAtMinimum ? `${min}, held there (${sh.bulkHeldOn.join(', ')})` : min,
        ],
      ];
    }),
  );
}

/** Per Maton key: its use of the gateway in the last minute; under it, each lane's share. */
function gatewayTable(keys: readonly GatewayKey[]): string {
  const rows: string[][] = [];
  for (const k of keys) {
    rows.push([`key ${k.key}`, '', count(k.callsLastMinute), `${percent(k.utilisation, 1)} of ${count(k.limitPerSecond)}/s`]);
    for (const l of k.lanes) rows.push([`  ${l.lane}`, String(l.weight), count(l.calls), percent(l.calls, k.callsLastMinute)]);
    if (k.otherCalls > 0) rows.push(['  (other accounts)', '', count(k.otherCalls), percent(k.otherCalls, k.callsLastMinute)]);
  }
  return table(
    [
      { header: 'Maton key / lane' },
      { header: 'weight', align: 'right' },
      { header: 'gateway calls/min', align: 'right' },
      { header: 'use / share', align: 'right' },
    ],
    rows,
  );
}

function queueTable(queues: readonly QueueStatus[]): string {
  return table(
    [
      { header: 'queue' },
      { header: 'waiting', align: 'right' },
      { header: 'active', align: 'right' },
      { header: 'delayed', align: 'right' },
      { header: 'failed', align: 'right' },
      { header: 'oldest waiting', align: 'right' },
      { header: 'delivered/min', align: 'right' },
    ],
    queues.map((q) => [
      q.queue,
      count(q.waiting),
      count(q.active),
      count(q.delayed),
      count(q.failed),
      q.waiting > 0 ? duration(q.oldestWaitingSeconds * 1000) : '—',
      count(q.deliveredLastMinute),
    ]),
  );
}

export function renderStatus(s: Status, now = Date.now()): string {
  // A relay from before priority classes sends only the per-queue rows.
  const queues = s.classes ? classTable(s.classes) : queueTable(s.queues);
  const shares = s.lanes.some((l) => l.share) ? `\n\n${shareTable(s.lanes)}` : '';
  const lanes = table(
    [
      { header: 'lane' },
      { header: 'delivered/min', align: 'right' },
      { header: 'bulk_create_events', align: 'right' },
      { header: 'create_event', align: 'right' },
      { header: 'gateway', align: 'right' },
      { header: 'paused' },
    ],
    s.lanes.map((l) => {
      const gw = l.headroom['bulk_create_events']?.gateway ?? l.headroom['create_event']?.gateway;
      return [
        l.lane,
        count(l.deliveredLastMinute),
        headroomText(l.headroom['bulk_create_events']),
        headroomText(l.headroom['create_event']),
        gw === undefined ? 'n/a' : `${count(gw)}/s`,
        pauseText(l.paused, now),
      ];
    }),
  );
  const gateway = s.gatewayKeys?.length ? `\n\n${gatewayTable(s.gatewayKeys)}` : '';
  const sources = s.sources?.length
    ? `\n\n${table(
        [
          { header: 'source' },
          { header: 'events/s limit', align: 'right' },
          { header: 'queued bytes', align: 'right' },
          { header: 'queued bytes limit', align: 'right' },
        ],
        s.sources.map((x) => [
          x.source,
          x.eventsPerSecond === undefined ? '—' : `${count(x.eventsPerSecond)} (burst ${count(x.burst ?? 0)})`,
          x.queuedBytes === undefined ? '—' : count(x.queuedBytes),
          x.queuedBytesLimit === undefined ? '—' : count(x.queuedBytesLimit),
        ]),
      )}`
    : '';
  const tracking = s.tracking
    ? `\n\n${table(
        [{ header: 'tracking API' }, { header: 'accepted', align: 'right' }, { header: 'ignored', align: 'right' }, { header: 'rejected', align: 'right' }],
        Object.entries(s.tracking).map(([type, o]) => [type, count(o.accepted ?? 0), count(o.ignored ?? 0), count(o.rejected ?? 0)]),
      )}`
    : '';
  const failed = s.queues.reduce((n, q) => n + q.failed, 0);
  const paused = s.lanes.filter((l) => l.paused).map((l) => l.lane);
  const notes = [
    failed > 0 ? `${count(failed)} dead letter${failed === 1 ? '' : 's'}: relay dlq list` : '',
    paused.length > 0 ? `paused: ${paused.join(', ')} (relay resume <lane>)` : '',
    ...(s.gatewayKeys ?? [])
      .filter((k) => k.saturated)
      .map(
        (k) =>
          `Maton key ${k.key} is at ${percent(k.utilisation, 1)} of its ${count(k.limitPerSecond)} requests/s: it limits delivery; move accounts to another key (README "Many accounts on one Maton key")`,
      ),
  ].filter(Boolean);
  const legend = [
    s.classes ? "share: the class's part of its kind's items delivered in the last minute (on a source row: the source's part of its class's)" : '',
    shares ? 'calls, items: per class in the last minute; bulk minimum: what live leaves bulk of a full bucket (held there: live is taking the rest)' : '',
    'quota headroom: calls left now per second / per minute',
    gateway
      ? "gateway use: a Maton key's calls in the last minute of its limit; lane share: the lane's part of them (weight: RELAY_CONFIG accounts.<name>.weight)"
      : '',
  ].filter(Boolean);
  return `${queues}\n\n${lanes}${shares}${gateway}${sources}${tracking}\n\n${legend.join('\n')}${notes.length ? `\n${notes.join('\n')}` : ''}\nat ${time(s.at)}`;
}

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS, 'status');
  noPositionals(positionals, 'status');
  const t = await relayTarget(values, env, 'status');
  const intervalS = int(values.interval, '--interval', 'status', 1, 3600) ?? 2;
  const maxDraws = int(values.count, '--count', 'status', 1);
  if (!values.watch) {
    if (values.interval !== undefined || values.count !== undefined) throw new UsageError('--interval and --count go with --watch', 'status');
    const s = await fetchStatus(t);
    if (values.json) outJson(s);
    else process.stdout.write(`${renderStatus(s)}\n`);
    return 0;
  }
  return watch(t, { json: values.json === true, intervalMs: intervalS * 1000, maxDraws });
}

async function watch(t: RelayTarget, o: { json: boolean; intervalMs: number; maxDraws?: number }): Promise<number> {
  const tty = process.stdout.isTTY === true && !o.json;
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      wake = r;
      setTimeout(r, ms);
    });
  const stop = () => {
    stopped = true;
    wake?.();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (tty) process.stdout.write('\x1b[?25l'); // hide the cursor while redrawing
  try {
    for (let draw = 1; !stopped; draw++) {
      let s: Status;
      try {
        s = await fetchStatus(t);
      } catch (err) {
        // A relay that restarts should not end the watch: say so and try again next round.
        if (!(err instanceof CliError)) throw err;
        if (tty) process.stdout.write('\x1b[H\x1b[2J');
        process.stderr.write(`relay: ${err.message} (trying again in ${duration(o.intervalMs)})\n`);
        if (o.maxDraws !== undefined && draw >= o.maxDraws) throw err;
        await sleep(o.intervalMs);
        continue;
      }
      if (stopped) break;
      if (o.json) process.stdout.write(`${JSON.stringify(s)}\n`);
      else if (tty) process.stdout.write(`\x1b[H\x1b[2J${renderStatus(s)}\n\nevery ${duration(o.intervalMs)}; Ctrl-C to stop\n`);
      else process.stdout.write(`${draw > 1 ? '\n' : ''}${renderStatus(s)}\n`);
      if (o.maxDraws !== undefined && draw >= o.maxDraws) break;
      await sleep(o.intervalMs);
    }
  } finally {
    if (tty) process.stdout.write('\x1b[?25h');
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return 0;
}
