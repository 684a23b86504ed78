/**
 * `relay dlq list|show|replay`: dead letters through /ops/dead-letters — list and filter, look at
 * one, replay a filtered set, named refs or all (with a dry run first, preferably).
 */
import { int, onePositional, parse, pointInTime, subcommand } from './args.ts';
import { UsageError } from './errors.ts';
import { ago, clip, count, out, outJson, table, time } from './format.ts';
import { relay, relayTarget } from './http.ts';
import { parseJobRef } from '../item-keys.ts';
import { JOB_KINDS, queueName } from '../queue-catalog.ts';

const KINDS: readonly string[] = JOB_KINDS;
const CLASSES = ['live', 'bulk'];

const FILTER_OPTIONS = {
  kind: { type: 'string' },
  lane: { type: 'string' },
  class: { type: 'string' },
  code: { type: 'string' },
  status: { type: 'string' },
  source: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
} as const;

interface ErrorGroup {
  status: number;
  origin: string;
  code?: string;
  detail?: string;
  count: number;
}
interface DeadLetter {
  ref: string;
  kind: string;
  lane: string;
  jobId: string;
  source: string;
  acceptedAt: number;
  failedAt: number;
  attempts: number;
  reason: string;
  items: number;
  errors: ErrorGroup[];
}

type FilterValues = { [K in keyof typeof FILTER_OPTIONS]?: string };

/** The filter as the ops API takes it (times in ms since the epoch), checked here first. */
function filterOf(v: FilterValues, command: string): Record<string, string | number> {
  const f: Record<string, string | number> = {};
  if (v.kind !== undefined) {
    if (!KINDS.includes(v.kind)) throw new UsageError(`--kind is one of ${KINDS.join(', ')} (got ${JSON.stringify(v.kind)})`, command);
    f['kind'] = v.kind;
  }
  if (v.lane !== undefined) {
    if (!/^[a-z0-9_-]{1,32}$/.test(v.lane)) throw new UsageError(`--lane takes a lane name (a-z, 0-9, _ and -), got ${JSON.stringify(v.lane)}`, command);
    f['lane'] = v.lane;
  }
  if (v.class !== undefined) {
    if (!CLASSES.includes(v.class)) throw new UsageError(`--class is live or bulk (got ${JSON.stringify(v.class)})`, command);
    f['class'] = v.class;
  }
  if (v.code !== undefined) f['code'] = v.code;
  const status = int(v.status, '--status', command, 0, 599);
  if (status !== undefined) f['status'] = status;
  if (v.source !== undefined) f['source'] = v.source;
  const since = pointInTime(v.since, '--since', command);
  const until = pointInTime(v.until, '--until', command);
  if (since !== undefined) f['since'] = Math.max(0, Math.floor(since));
  if (until !== undefined) f['until'] = Math.max(0, Math.ceil(until));
  return f;
}

function errorText(e: ErrorGroup): string {
  const what = [e.status ? String(e.status) : '', e.origin, e.code ?? ''].filter(Boolean).join(' ');
  return `${what}${e.detail ? `: ${e.detail}` : ''}${e.count > 1 ? ` (×${e.count})` : ''}`;
}

function checkRef(ref: string, command: string): string {
  if (!parseJobRef(ref))
    throw new UsageError(
      `${JSON.stringify(ref)} is not a dead letter reference: they look like events.default.live.key-1a2b3c/<jobId> (see relay dlq list)`,
      command,
    );
  return ref;
}

async function list(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const cmd = 'dlq list';
  const { values, positionals } = parse(argv, { ...FILTER_OPTIONS, limit: { type: 'string' }, offset: { type: 'string' } }, cmd);
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`, cmd);
  const filter = filterOf(values, cmd);
  const limit = int(values.limit, '--limit', cmd, 1, 1000);
  const offset = int(values.offset, '--offset', cmd, 0, Number.MAX_SAFE_INTEGER);
  const t = await relayTarget(values, env, cmd);
  const page = { ...(limit !== undefined ? { limit } : {}), ...(offset !== undefined ? { offset } : {}) };
  const q = new URLSearchParams(Object.entries({ ...filter, ...page }).map(([k, v]): [string, string] => [k, String(v)]));
  const res = await relay(t, `/ops/dead-letters${q.size ? `?${q}` : ''}`, { auth: 'admin', label: 'reading dead letters' });
  const body = res.body as { total: number; offset: number; deadLetters: DeadLetter[]; truncated: boolean; next?: number };
  if (values.json) {
    outJson(body);
    return 0;
  }
  if (body.total === 0) {
    out(`No dead letters${Object.keys(filter).length ? ' match the filter' : ''}.`);
    return 0;
  }
  if (body.deadLetters.length === 0) {
    out(`No dead letters from offset ${count(body.offset)}: there ${body.total === 1 ? 'is' : 'are'} ${count(body.total)}.`);
    return 0;
  }
  const now = Date.now();
  out(
    table(
      [
        { header: 'ref' },
        { header: 'failed' },
        { header: 'source' },
        { header: 'items', align: 'right' },
        { header: 'attempts', align: 'right' },
        { header: 'error' },
      ],
      body.deadLetters.map((d) => [
        d.ref,
        ago(d.failedAt, now),
        d.source,
        count(d.items),
        String(d.attempts),
        clip(d.errors.map(errorText).join('; ') || d.reason || '', 80),
      ]),
    ),
  );
  out();
  const shown = body.truncated
    ? ` (showing ${count(body.offset + 1)}–${count(body.offset + body.deadLetters.length)}, newest first${body.next !== undefined ? `; next page: --offset ${body.next}` : ''})`
    : '';
  out(`${count(body.total)} dead letter${body.total === 1 ? '' : 's'}${shown}`);
  out('Look at one: relay dlq show <ref>; replay: relay dlq replay --id <ref> --dry-run');
  return 0;
}

async function show(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const cmd = 'dlq show';
  const { values, positionals } = parse(argv, {}, cmd);
  const ref = checkRef(onePositional(positionals, 'dead letter reference (<queue>/<jobId>)', cmd), cmd);
  const t = await relayTarget(values, env, cmd);
  const { ref: queue, jobId } = parseJobRef(ref)!;
  const res = await relay(t, `/ops/dead-letters/${queueName(queue)}/${encodeURIComponent(jobId)}`, {
    auth: 'admin',
    accept: [404],
    label: 'reading the dead letter',
  });
  if (res.status === 404) {
    process.stderr.write(`relay: no dead letter ${ref} (replayed or removed since?): relay dlq list shows those there are\n`);
    return 1;
  }
  const d = res.body as DeadLetter & { data: { items?: unknown[]; dead?: { item: unknown; error: unknown }[] }; stacktrace: string[] };
  if (values.json) {
    outJson(d);
    return 0;
  }
  const now = Date.now();
  const rows: [string, string][] = [
    ['ref', d.ref],
    ['source', d.source],
    ['accepted', `${time(d.acceptedAt)} (${ago(d.acceptedAt, now)})`],
    ['failed', `${time(d.failedAt)} (${ago(d.failedAt, now)})`],
    ['attempts', String(d.attempts)],
    ['items', count(d.items)],
    ['reason', d.reason || '—'],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) out(`${k.padEnd(w)}  ${v}`);
  out();
  out('Errors:');
  for (const e of d.errors) out(`  ${errorText(e)}`);
  const dead = d.data.dead ?? [];
  const left = d.data.items ?? [];
  const MAX = 20;
  if (dead.length > 0) {
    out();
    out(`Rejected items (${dead.length}):`);
    for (const x of dead.slice(0, MAX)) out(`  ${clip(describeItem(x.item), 100)}\n    ${clip(errorText({ ...(x.error as ErrorGroup), count: 1 }), 100)}`);
    if (dead.length > MAX) out(`  … ${dead.length - MAX} more (--json for all)`);
  }
  if (left.length > 0) {
    out();
    out(`Items never delivered (${left.length}):`);
    for (const x of left.slice(0, MAX)) out(`  ${clip(describeItem(x), 100)}`);
    if (left.length > MAX) out(`  … ${left.length - MAX} more (--json for all)`);
  }
  out();
  out(`Replay it: relay dlq replay --id ${d.ref} --dry-run`);
  return 0;
}

/** One line for a queued item: its id and what it carries (event name and profile, or the operation). */
function describeItem(item: unknown): string {
  const it = item as { id?: string; e?: { event?: string; metric?: string; profile?: Record<string, unknown> }; op?: string; p?: Record<string, unknown> };
  const who = (p: Record<string, unknown> | undefined) =>
    p ? ((['email', 'phone_number', 'external_id', 'anonymous_id'].map((k) => p[k]).find((v) => typeof v === 'string') as string | undefined) ?? '') : '';
  if (it?.e) return `${it.id ?? '?'}  ${it.e.event ?? it.e.metric ?? ''}  ${who(it.e.profile)}`.trim();
  const rest = JSON.stringify({ ...it, id: undefined });
  return `${it?.id ?? '?'}  ${rest}`;
}

async function replay(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const cmd = 'dlq replay';
  const { values, positionals } = parse(
    argv,
    { ...FILTER_OPTIONS, id: { type: 'string', multiple: true }, all: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, priority: { type: 'string' } },
    cmd,
  );
  const ids = [...(values.id ?? []), ...positionals].map((r) => checkRef(r, cmd));
  const filter = filterOf(values, cmd);
  if (ids.length === 0 && Object.keys(filter).length === 0 && !values.all) {
    throw new UsageError('name what to replay: a filter (--status 400, --since 1h…), --id <ref>, or --all', cmd);
  }
  if (values.all && (ids.length > 0 || Object.keys(filter).length > 0))
    throw new UsageError('--all replays every dead letter: give it alone, or a filter or --id instead', cmd);
  if (values.priority !== undefined && !CLASSES.includes(values.priority))
    throw new UsageError(`--priority is live or bulk (got ${JSON.stringify(values.priority)})`, cmd);
  const t = await relayTarget(values, env, cmd);
  const dryRun = values['dry-run'] === true;
  const body = {
    ...filter,
    ...(ids.length ? { ids } : {}),
    ...(values.all ? { all: true } : {}),
    ...(values.priority ? { priority: values.priority } : {}),
    dryRun,
  };
  const res = await relay(t, '/ops/dead-letters/replay', { method: 'POST', body, auth: 'admin', label: dryRun ? 'working out the replay' : 'replaying' });
  const r = res.body as {
    dryRun: boolean;
    priority?: string;
    jobs: number;
    items: number;
    refs: string[];
    preview?: { ref: string; endpoint: string; body: unknown }[];
  };
  if (values.json) {
    outJson(r);
    return 0;
  }
  if (r.jobs === 0) {
    out('Nothing to replay: no dead letter matches.');
    return 0;
  }
  const what = `${count(r.jobs)} dead letter${r.jobs === 1 ? '' : 's'} (${count(r.items)} item${r.items === 1 ? '' : 's'})`;
  if (!r.dryRun) {
    out(`Replayed ${what} as ${r.priority ?? 'bulk'} work: back in their sources' queues, through the workers.`);
    for (const ref of r.refs.slice(0, 20)) out(`  ${ref}`);
    if (r.refs.length > 20) out(`  … ${r.refs.length - 20} more`);
    out('Watch them go: relay status; anything Klaviyo rejects again is back in relay dlq list.');
    return 0;
  }
  out(`Dry run: would replay ${what} as ${r.priority ?? 'bulk'} work. Nothing was changed.`);
  for (const ref of r.refs.slice(0, 20)) out(`  ${ref}`);
  if (r.refs.length > 20) out(`  … ${r.refs.length - 20} more`);
  for (const p of r.preview ?? []) {
    out();
    out(`${p.ref} → ${p.endpoint}:`);
    const lines = JSON.stringify(p.body, null, 2).split('\n');
    const MAX = 40;
    for (const l of lines.slice(0, MAX)) out(`  ${l}`);
    if (lines.length > MAX) out(`  … ${lines.length - MAX} more lines (--json for the whole request)`);
  }
  out();
  out(`Replay for real: the same command without --dry-run.`);
  return 0;
}

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { sub, rest } = subcommand(argv);
  switch (sub) {
    case 'list':
    case 'ls':
      return list(rest, env);
    case 'show':
      return show(rest, env);
    case 'replay':
      return replay(rest, env);
    case undefined:
      throw new UsageError('give a subcommand: list, show or replay', 'dlq');
    default:
      throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}: list, show or replay`, 'dlq');
  }
}
