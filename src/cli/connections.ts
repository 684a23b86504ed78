/**
 * `relay connections list|create|get|delete`: Maton's connection API, where each connection is one
 * Klaviyo account the gateway can reach. `create` prints the URL to authorize Klaviyo and waits
 * until the connection is ACTIVE, then prints the id for MATON_CONNECTION_ID.
 */
import { int, onePositional, parse, subcommand } from './args.ts';
import { CliError, UsageError } from './errors.ts';
import { ago, duration, note, out, outJson, table, time } from './format.ts';
import { describeError, requestJson, type JsonResponse, type RequestSpec } from './http.ts';
import { progress } from './progress.ts';

export const DEFAULT_CONNECTIONS_URL = 'https://api.maton.ai';
const POLL_MS = 2000;

interface Connection {
  connection_id: string;
  status: string;
  creation_time?: string;
  last_updated_time?: string;
  url?: string;
  app?: string;
  method?: string;
}

interface Maton {
  readonly base: string;
  readonly key: string;
}

function maton(env: NodeJS.ProcessEnv): Maton {
  const key = env['MATON_API_KEY']?.trim();
  if (!key) throw new CliError('set MATON_API_KEY to your Maton API key (the connection API needs it as a Bearer token)');
  const base = (env['MATON_CONNECTIONS_URL']?.trim() || DEFAULT_CONNECTIONS_URL).replace(/\/+$/, '');
  try {
    new URL(base);
  } catch {
    throw new CliError(`MATON_CONNECTIONS_URL is not a URL: ${JSON.stringify(base)} (default ${DEFAULT_CONNECTIONS_URL})`);
  }
  return { base, key };
}

async function call(m: Maton, path: string, spec: RequestSpec & { accept?: number[] } = {}): Promise<JsonResponse> {
  const res = await requestJson(
    `${m.base}${path}`,
    { ...spec, headers: { authorization: `Bearer ${m.key}` } },
    (reason) =>
      new CliError(
        `Maton's connection API not reachable at ${m.base} (${reason}): check your network, or MATON_CONNECTIONS_URL (default ${DEFAULT_CONNECTIONS_URL})`,
      ),
  );
  if ((res.status >= 200 && res.status < 300) || spec.accept?.includes(res.status)) {
    if (res.body === undefined) throw new CliError(`unexpected answer from ${m.base}${path} (HTTP ${res.status}, not JSON): is MATON_CONNECTIONS_URL right?`);
    return res;
  }
  if (res.status === 401 || res.status === 403) throw new CliError(`Maton refused the API key (${res.status}): check MATON_API_KEY`);
  if (res.status === 429) throw new CliError(`Maton is rate limiting this key (429): try again in ${res.headers.get('retry-after') ?? 'a few'} s`);
  throw new CliError(`Maton answered ${res.status}: ${describeError(res)}`);
}

function connectionOf(res: JsonResponse): Connection {
  const c = (res.body as { connection?: Connection }).connection;
  if (!c?.connection_id) throw new CliError(`unexpected answer from Maton (no connection in it): ${res.text.slice(0, 200)}`);
  return c;
}

function printConnection(c: Connection): void {
  const rows: [string, string][] = [
    ['id', c.connection_id],
    ['status', c.status],
    ['app', c.app ?? '—'],
    ['method', c.method ?? '—'],
    ['created', c.creation_time ? `${time(c.creation_time)} (${ago(Date.parse(c.creation_time))})` : '—'],
    ['updated', c.last_updated_time ? `${time(c.last_updated_time)} (${ago(Date.parse(c.last_updated_time))})` : '—'],
  ];
  if (c.status !== 'ACTIVE' && c.url) rows.push(['authorize at', c.url]);
  for (const [k, v] of rows) out(`${k.padEnd(12)}  ${v}`);
}

function checkId(id: string, command: string): string {
  if (!/^[A-Za-z0-9_.:-]{1,200}$/.test(id)) throw new UsageError(`${JSON.stringify(id)} does not look like a connection id`, command);
  return id;
}

async function list(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const cmd = 'connections list';
  const { values, positionals } = parse(argv, { status: { type: 'string' }, app: { type: 'string' } }, cmd);
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`, cmd);
  const status = values.status?.toUpperCase();
  if (status !== undefined && !['ACTIVE', 'PENDING', 'FAILED'].includes(status))
    throw new UsageError(`--status is ACTIVE, PENDING or FAILED (got ${values.status})`, cmd);
  const m = maton(env);
  const q = new URLSearchParams({ app: values.app ?? 'klaviyo', ...(status ? { status } : {}) });
  const res = await call(m, `/connections?${q}`, { label: 'asking Maton' });
  const conns = ((res.body as { connections?: Connection[] }).connections ?? []) as Connection[];
  if (values.json) {
    outJson(res.body);
    return 0;
  }
  if (conns.length === 0) {
    out(`No ${status ? `${status} ` : ''}${q.get('app')} connections. Create one: relay connections create`);
    return 0;
  }
  const now = Date.now();
  out(
    table(
      [{ header: 'id' }, { header: 'status' }, { header: 'app' }, { header: 'method' }, { header: 'created' }, { header: 'updated' }],
      conns.map((c) => [
        c.connection_id,
        c.status,
        c.app ?? '',
        c.method ?? '',
        time(c.creation_time),
        c.last_updated_time ? ago(Date.parse(c.last_updated_time), now) : '—',
      ]),
    ),
  );
  const current = env['MATON_CONNECTION_ID']?.trim();
  if (current) out(`\nMATON_CONNECTION_ID=${current}${conns.some((c) => c.connection_id === current) ? '' : ' is not in this list'}`);
  return 0;
}

async function get(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const cmd = 'connections get';
  const { values, positionals } = parse(argv, {}, cmd);
  const id = checkId(onePositional(positionals, 'connection id', cmd), cmd);
  const m = maton(env);
  const res = await call(m, `/connections/${encodeURIComponent(id)}`, { accept: [404], label: 'asking Maton' });
  if (res.status === 404) throw new CliError(`no connection ${id}: relay connections list shows those there are`);
  if (values.json) outJson(res.body);
  else printConnection(connectionOf(res));
  return 0;
}

async function remove(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const cmd = 'connections delete';
  const { values, positionals } = parse(argv, {}, cmd);
  const id = checkId(onePositional(positionals, 'connection id', cmd), cmd);
  const m = maton(env);
  const res = await call(m, `/connections/${encodeURIComponent(id)}`, { method: 'DELETE', accept: [404], label: 'asking Maton' });
  if (res.status === 404) throw new CliError(`no connection ${id}: relay connections list shows those there are`);
  if (values.json) outJson({ deleted: id });
  else {
    out(`Deleted connection ${id}.`);
    if (env['MATON_CONNECTION_ID']?.trim() === id)
      out('MATON_CONNECTION_ID names it: the relay cannot deliver through it any more — set another (relay connections list).');
  }
  return 0;
}

async function create(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const cmd = 'connections create';
  const { values, positionals } = parse(argv, { timeout: { type: 'string' }, app: { type: 'string' } }, cmd);
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`, cmd);
  const timeoutS = int(values.timeout, '--timeout', cmd, 0, 86_400) ?? 300;
  const json = values.json === true;
  // Under --json, stdout carries the JSON only; what the person must read goes to stderr.
  const say = json ? note : out;
  const m = maton(env);
  let c = connectionOf(await call(m, '/connections', { method: 'POST', body: { app: values.app ?? 'klaviyo' }, label: 'asking Maton' }));
  say(`Created connection ${c.connection_id} (${c.status}).`);
  if (c.status !== 'ACTIVE') {
    say('Open this URL in a browser and authorize your Klaviyo account:');
    say();
    say(`  ${c.url ?? `(Maton gave no URL: see relay connections get ${c.connection_id})`}`);
    say();
  }
  if (c.status !== 'ACTIVE' && timeoutS > 0) c = await waitActive(m, c, timeoutS * 1000);
  if (json) outJson({ connection: c });
  else if (c.status === 'ACTIVE') {
    out(`Connection ${c.connection_id} is ACTIVE. Put it in the relay's environment:`);
    out();
    out(`  MATON_CONNECTION_ID=${c.connection_id}`);
  } else {
    out(`Not waiting. When it is ACTIVE (relay connections get ${c.connection_id}), set MATON_CONNECTION_ID=${c.connection_id}`);
  }
  return 0;
}

/** Polls every 2 s until ACTIVE; FAILED, the timeout or Ctrl-C end the wait with a CliError. */
async function waitActive(m: Maton, first: Connection, timeoutMs: number): Promise<Connection> {
  const started = Date.now();
  const tty = process.stderr.isTTY === true;
  const label = (c: Connection) => `waiting for the authorization: ${c.status}`;
  const p = progress(label(first), { delayMs: 0 });
  let interrupted = false;
  let wake: (() => void) | undefined;
  const onSignal = () => {
    interrupted = true;
    wake?.();
  };
  process.once('SIGINT', onSignal);
  let c = first;
  let lastLine = Date.now();
  try {
    for (;;) {
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, POLL_MS);
      });
      if (interrupted)
        throw new CliError(`stopped waiting; connection ${c.connection_id} is ${c.status}. Check it later: relay connections get ${c.connection_id}`, 130);
      const elapsed = Date.now() - started;
      try {
        const res = await call(m, `/connections/${encodeURIComponent(c.connection_id)}`, { accept: [404] });
        if (res.status === 404)
          throw new CliError(`connection ${c.connection_id} disappeared while waiting (deleted?): create another with relay connections create`);
        c = connectionOf(res);
      } catch (err) {
        // A blip of the network while someone is clicking through OAuth must not lose the wait.
        if (!(err instanceof CliError) || !/not reachable/.test(err.message)) throw err;
        p.update(`waiting for the authorization: ${c.status} (Maton not reachable, retrying)`);
      }
      if (c.status === 'ACTIVE') return c;
      if (c.status === 'FAILED')
        throw new CliError(`connection ${c.connection_id} FAILED (the authorization was refused or broke): delete it and run relay connections create again`);
      if (elapsed >= timeoutMs) {
        throw new CliError(
          `connection ${c.connection_id} is still ${c.status} after ${duration(timeoutMs)}: open its URL (relay connections get ${c.connection_id}) and check again, or wait longer with --timeout`,
        );
      }
      if (tty) p.update(label(c));
      else if (Date.now() - lastLine >= 10_000) {
        // Not a terminal: a plain line every ten seconds rather than one per poll.
        lastLine = Date.now();
        note(`still ${c.status} after ${duration(elapsed)}…`);
      }
    }
  } finally {
    p.stop();
    process.off('SIGINT', onSignal);
  }
}

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { sub, rest } = subcommand(argv);
  switch (sub) {
    case 'list':
    case 'ls':
      return list(rest, env);
    case 'create':
      return create(rest, env);
    case 'get':
    case 'show':
      return get(rest, env);
    case 'delete':
    case 'rm':
      return remove(rest, env);
    case undefined:
      throw new UsageError('give a subcommand: list, create, get or delete', 'connections');
    default:
      throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}: list, create, get or delete`, 'connections');
  }
}
