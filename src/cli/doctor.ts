/**
 * `relay doctor`: is this setup able to work? One line per check (✓ ✗ ! -), each failure with its
 * fix; exit 1 if any check failed. It reads the environment the relay reads, so run it there.
 */
import { noPositionals, parse } from './args.ts';
import { duration, mark, outJson } from './format.ts';
import { requestJson } from './http.ts';
import { withProgress } from './progress.ts';
import type { Config } from '../config.ts';
import { maskUrlCredentials } from '../mask-secrets.ts';
import type { RelayFile } from '../relay-config.ts';

export type CheckState = 'ok' | 'fail' | 'warn' | 'skip';

export interface Check {
  readonly name: string;
  readonly state: CheckState;
  readonly detail: string;
  readonly fix?: string;
}

/** Warn above this much disagreement between our clock and Klaviyo's; fail at signed webhooks' ±5 min tolerance. */
const SKEW_WARN_MS = 5_000;
const SKEW_FAIL_MS = 300_000;
const NAME_WIDTH = 14;

function printer(json: boolean) {
  const checks: Check[] = [];
  return {
    checks,
    add(c: Check) {
      checks.push(c);
      if (json) return;
      const m = { ok: mark.ok, fail: mark.fail, warn: mark.warn, skip: mark.skip }[c.state]();
      process.stdout.write(`${m} ${c.name.padEnd(NAME_WIDTH)} ${c.detail}\n`);
      if (c.fix) process.stdout.write(`  ${' '.repeat(NAME_WIDTH)} fix: ${c.fix}\n`);
    },
  };
}

/**
 * Redis as the relay reaches it: the same settings (REDIS_URL, REDIS_CLUSTER_NODES, credentials,
 * TLS CA and server name) and the same check the service makes at start (src/runtime/verify-redis.ts), so a
 * wrong password or an untrusted certificate fails here as it would there.
 */
async function checkRedis(env: NodeJS.ProcessEnv): Promise<Check> {
  const { resolveRedisSettings, redactRedisUrl, redisEndpoint } = await import('../redis-options.ts');
  const { verifyRedis, RedisRefusedError } = await import('../runtime/verify-redis.ts');
  const value = (name: string) => env[name]?.trim() || undefined;
  const url = value('REDIS_URL') ?? 'redis://127.0.0.1:6379';
  const resolved = resolveRedisSettings({
    REDIS_URL: url,
    REDIS_CLUSTER_NODES: value('REDIS_CLUSTER_NODES'),
    REDIS_USERNAME: value('REDIS_USERNAME'),
    REDIS_PASSWORD: value('REDIS_PASSWORD'),
    REDIS_TLS_CA_FILE: value('REDIS_TLS_CA_FILE'),
    REDIS_TLS_SERVERNAME: value('REDIS_TLS_SERVERNAME'),
  });
  if (!resolved.settings) {
    return { name: 'Redis', state: 'fail', detail: resolved.problems.join('; '), fix: 'set REDIS_URL, e.g. redis://127.0.0.1:6379 (README: Managed Redis)' };
  }
  const shown = redactRedisUrl(url);
  try {
    await withProgress(`asking Redis at ${shown}`, () => verifyRedis(resolved.settings!, 3000, { once: true }));
    return { name: 'Redis', state: 'ok', detail: `answers at ${shown}` };
  } catch (err) {
    if (!(err instanceof RedisRefusedError)) throw err;
    // Refused credentials or TLS: the check's own words. Nothing answering: how to get a Redis.
    if (err.reason !== 'unreachable') return { name: 'Redis', state: 'fail', detail: err.detail, fix: err.fix };
  }
  const { isLocalPlainRedis } = await import('../runtime/ensure-redis.ts');
  const port = redisEndpoint(resolved.settings).options.port;
  return {
    name: 'Redis',
    state: 'fail',
    detail: `no answer at ${shown}`,
    fix: `start Redis${port ? ` (\`redis-server --port ${port}\`)` : ''} or set REDIS_URL to a running one${isLocalPlainRedis(url) ? '; `npm start` starts a private one when redis-server is installed' : ''}`,
  };
}

function modeText(c: Config): string {
  const k = c.klaviyo;
  if (k.mode === 'gateway')
    return `gateway mode (${maskUrlCredentials(k.gatewayUrl, { whole: true })}, connection ${k.connectionId ?? '(none: the gateway picks one)'})`;
  if (k.mode === 'direct') return `direct mode (${maskUrlCredentials(k.baseUrl, { whole: true })})`;
  if (k.mode === 'none') return 'no Klaviyo credentials (an API-only process)';
  return 'sandbox mode (the built-in Klaviyo simulator)';
}

interface Probe {
  readonly lane: string;
  readonly ok: boolean;
  readonly status?: number;
  readonly error?: unknown;
  readonly ms: number;
  /** The Date header of the answer, and when the request left and the answer came. */
  readonly date?: { header: string; sentAt: number; receivedAt: number };
}

async function probeLane(lane: { name: string; target: Parameters<typeof import('../klaviyo/client.ts').createKlaviyoClient>[0] }): Promise<Probe> {
  const { createKlaviyoClient } = await import('../klaviyo/client.ts');
  let date: Probe['date'];
  const client = createKlaviyoClient({ ...lane.target, timeoutMs: Math.min(lane.target.timeoutMs, 10_000) }, async (url, init) => {
    const sentAt = Date.now();
    const res = await fetch(url, init);
    const header = res.headers.get('date');
    if (header) date = { header, sentAt, receivedAt: Date.now() };
    return res;
  });
  const started = Date.now();
  try {
    const res = await client.request({ endpoint: 'get_accounts' });
    return { lane: lane.name, ok: true, status: res.status, ms: Date.now() - started, date };
  } catch (error) {
    return { lane: lane.name, ok: false, status: (error as { status?: number }).status, error, ms: Date.now() - started, date };
  }
}

function isRevisionError(err: unknown): boolean {
  const e = err as {
    status?: number;
    code?: string;
    detail?: string;
    errors?: readonly { code?: string; detail?: string; source?: Record<string, unknown> }[];
  };
  if (e?.status !== 400) return false;
  const text = [e.code, e.detail, ...(e.errors ?? []).flatMap((x) => [x.code, x.detail, JSON.stringify(x.source ?? {})])].join(' ');
  return /revision/i.test(text);
}

function credentialCheck(c: Config, p: Probe): Check {
  const name = 'credentials';
  const where = `lane ${p.lane}`;
  if (p.ok || isRevisionError(p.error)) return { name, state: 'ok', detail: `${where}: GET /api/accounts answered ${p.status} in ${duration(p.ms)}` };
  const e = p.error as {
    name?: string;
    status?: number;
    origin?: string;
    detail?: string;
    code?: string;
    kind?: string;
    retryAfterMs?: number;
    message?: string;
  };
  const gw = c.klaviyo.mode === 'gateway';
  if (e?.name === 'KlaviyoTransportError') {
    return {
      name,
      state: 'fail',
      detail: `${where}: ${e.kind === 'timeout' ? 'no answer in time' : 'cannot reach'} ${gw ? c.klaviyo.gatewayUrl : c.klaviyo.baseUrl} (${e.message})`,
      fix: gw
        ? 'check the network and MATON_GATEWAY_URL (default https://api.maton.ai)'
        : 'check the network and KLAVIYO_BASE_URL (default https://a.klaviyo.com)',
    };
  }
  const said = `${e?.status ?? '?'}${e?.code ? ` ${e.code}` : ''}${e?.detail ? `: ${e.detail}` : ''}`;
  if (e?.status === 429) {
    return {
      name,
      state: 'warn',
      detail: `${where}: rate limited (${said}); not confirmed`,
      fix: `run relay doctor again in ${e.retryAfterMs ? duration(e.retryAfterMs) : 'a minute'}`,
    };
  }
  if (e?.status === 401 || e?.status === 403) {
    if (gw && e.origin === 'gateway')
      return { name, state: 'fail', detail: `${where}: the Maton gateway refused the API key (${said})`, fix: 'check MATON_API_KEY' };
    if (gw)
      return {
        name,
        state: 'fail',
        detail: `${where}: Klaviyo refused the connection's authorization (${said})`,
        fix: "reconnect the account: relay connections create, then set MATON_CONNECTION_ID (or the account's connection in RELAY_CONFIG)",
      };
    return {
      name,
      state: 'fail',
      detail: `${where}: Klaviyo refused the private key (${said})`,
      fix: 'check KLAVIYO_API_KEY (a private key, pk_…, with the accounts:read scope among those the relay needs)',
    };
  }
  if (gw && e?.status === 400 && e.origin === 'gateway') {
    return {
      name,
      state: 'fail',
      detail: `${where}: the gateway has no usable Klaviyo connection (${said})`,
      fix: 'relay connections list shows the ACTIVE ones; set MATON_CONNECTION_ID to one, or relay connections create',
    };
  }
  return {
    name,
    state: 'fail',
    detail: `${where}: GET /api/accounts failed (${said})`,
    fix: e?.status && e.status >= 500 ? 'Klaviyo or the gateway is failing: try again later' : 'see the error above',
  };
}

function clockCheck(p: Probe, via: string): Check {
  if (!p.date) return { name: 'clock', state: 'skip', detail: `not checked (${via} sent no Date header)` };
  const server = Date.parse(p.date.header);
  if (!Number.isFinite(server)) return { name: 'clock', state: 'skip', detail: `not checked (unreadable Date header ${JSON.stringify(p.date.header)})` };
  // Date has whole seconds: the server's time lies in [server, server + 1 s) when it answered.
  const local = (p.date.sentAt + p.date.receivedAt) / 2;
  const skew = local - (server + 500);
  const slack = 500 + (p.date.receivedAt - p.date.sentAt) / 2;
  const off = Math.max(0, Math.abs(skew) - slack);
  const how = `${duration(Math.abs(skew))} ${skew > 0 ? 'ahead of' : 'behind'} ${via}'s Date`;
  if (off <= SKEW_WARN_MS) return { name: 'clock', state: 'ok', detail: `within ${duration(Math.max(1000, Math.abs(skew) + slack))} of ${via}'s Date` };
  const fix = 'sync the clock (NTP: e.g. `timedatectl set-ntp true`, or chrony); event times and signed webhooks (±5 min) depend on it';
  return { name: 'clock', state: off >= SKEW_FAIL_MS ? 'fail' : 'warn', detail: `the local clock is ${how}`, fix };
}

async function checkRelay(
  values: { url?: string; token?: string },
  env: NodeJS.ProcessEnv,
  config: Config | undefined,
  add: (c: Check) => void,
): Promise<void> {
  const given = values.url?.trim() || env['RELAY_URL']?.trim();
  if (!given) {
    add({ name: 'relay API', state: 'skip', detail: 'not checked (set RELAY_URL or pass --url)' });
    return;
  }
  const { relayTarget, relay } = await import('./http.ts');
  const { CliError } = await import('./errors.ts');
  const t = await relayTarget(values, env, 'doctor');
  try {
    const res = await requestJson(`${t.url}/readyz`, { timeoutMs: 5000, label: `asking the relay at ${t.url}` }, (reason) => new CliError(reason));
    const checks = (res.body as { status?: string; checks?: Record<string, boolean> } | undefined)?.checks;
    const list = checks
      ? Object.entries(checks)
          .map(([k, v]) => `${k} ${v ? 'ok' : 'NOT ok'}`)
          .join(', ')
      : '';
    if (res.status === 200) add({ name: 'relay API', state: 'ok', detail: `ready at ${t.url}${list ? ` (${list})` : ''}` });
    else if (res.status === 503 && checks)
      add({
        name: 'relay API',
        state: 'fail',
        detail: `not ready at ${t.url} (${list})`,
        fix: checks['redis'] === false ? 'the relay cannot reach its Redis: check REDIS_URL where it runs' : "see the relay's log",
      });
    else
      add({
        name: 'relay API',
        state: 'fail',
        detail: `${t.url}/readyz answered ${res.status}${res.body === undefined ? ' (not JSON)' : ''}`,
        fix: 'is RELAY_URL pointing at the relay?',
      });
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    add({ name: 'relay API', state: 'fail', detail: `not reachable at ${t.url} (${err.message})`, fix: 'start it with `npm start` or set RELAY_URL' });
    return;
  }
  if (t.tokenFrom === 'sandbox default' && config && config.klaviyo.mode !== 'sandbox') {
    add({ name: 'admin token', state: 'skip', detail: 'not checked (no RELAY_ADMIN_TOKEN or --token)' });
    return;
  }
  try {
    await relay(t, '/ops/status', { auth: 'admin', timeoutMs: 10_000 });
    add({ name: 'admin token', state: 'ok', detail: `/ops accepts it${t.tokenFrom === 'sandbox default' ? " (the sandbox's default)" : ''}` });
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    const [detail, fix] = err.message.split(/: (?=set |start )/);
    add({ name: 'admin token', state: 'fail', detail: detail!, fix: fix ?? undefined });
    return;
  }
  await checkWebhooks(t, add);
}

/**
 * Each Klaviyo webhook the relay created: a delivery signed with its secret, sent to its public URL,
 * must come back to a relay that verifies it (no Klaviyo call: the relay sends it itself).
 */
async function checkWebhooks(t: import('./http.ts').RelayTarget, add: (c: Check) => void): Promise<void> {
  const { relay } = await import('./http.ts');
  const { CliError } = await import('./errors.ts');
  const { describeTest } = await import('./webhooks.ts');
  try {
    const local = await relay(t, '/ops/webhooks/local', { auth: 'admin', timeoutMs: 10_000, accept: [404] });
    if (local.status === 404) return; // a relay from before /ops/webhooks
    const hooks = (local.body as { webhooks: { id: string; url?: string }[] }).webhooks;
    if (hooks.length === 0) {
      add({ name: 'webhooks', state: 'skip', detail: 'none created by the relay (relay webhooks create)' });
      return;
    }
    for (const w of hooks) {
      if (!w.url) {
        add({ name: 'webhooks', state: 'skip', detail: `${w.id}: its full URL is not known here (made elsewhere, rotated here)` });
        continue;
      }
      const res = await relay(t, `/ops/webhooks/${w.id}/test`, { method: 'POST', auth: 'admin', timeoutMs: 20_000, label: `testing webhook ${w.id}` });
      const r = (res.body as { test: Parameters<typeof describeTest>[0] }).test;
      add(
        r.ok
          ? { name: 'webhooks', state: 'ok', detail: `${w.id}: ${describeTest(r)}` }
          : {
              name: 'webhooks',
              state: 'fail',
              detail: `${w.id}: ${describeTest(r)}`,
              fix: 'the URL must reach this relay at /webhooks/klaviyo from outside (DNS, TLS, proxy); relay webhooks test <id> tries again',
            },
      );
    }
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    add({ name: 'webhooks', state: 'fail', detail: err.message });
  }
}

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parse(argv, {}, 'doctor');
  noPositionals(positionals, 'doctor');
  const json = values.json === true;
  const p = printer(json);

  p.add(await checkRedis(env));

  // Configuration: the environment, then the config file.
  const { loadConfig, ConfigError } = await import('../config.ts');
  let config: Config | undefined;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    p.add({
      name: 'configuration',
      state: 'fail',
      detail: `the environment does not parse:\n${err.problems.map((x) => `  ${' '.repeat(NAME_WIDTH)}   - ${x}`).join('\n')}`,
      fix: 'correct the variables listed (README: Settings)',
    });
  }
  if (config) p.add({ name: 'configuration', state: 'ok', detail: `${modeText(config)}, revision ${config.klaviyo.revision}` });
  let file: RelayFile | undefined;
  let lanes: { name: string; target: import('../klaviyo/client.ts').KlaviyoTarget }[] = [];
  const path = env['RELAY_CONFIG']?.trim();
  const { loadRelayConfig, RelayConfigError, EMPTY_RELAY_FILE } = await import('../relay-config.ts');
  if (path) {
    try {
      file = loadRelayConfig(path, env);
    } catch (err) {
      if (!(err instanceof RelayConfigError)) throw err;
      p.add({
        name: 'RELAY_CONFIG',
        state: 'fail',
        detail: `problems in ${path}:\n${err.problems.map((x) => `  ${' '.repeat(NAME_WIDTH)}   - ${x}`).join('\n')}`,
        fix: 'correct the file (README: The config file; relay.example.yaml)',
      });
    }
  }
  if (config && config.klaviyo.mode !== 'sandbox' && (file || !path)) {
    const { buildLanes } = await import('../lanes.ts');
    try {
      lanes = buildLanes(config, file ?? EMPTY_RELAY_FILE);
    } catch (err) {
      p.add({ name: 'RELAY_CONFIG', state: 'fail', detail: `${path}: ${(err as Error).message}`, fix: 'give every account what this mode needs' });
      file = undefined;
      lanes = [];
    }
  }
  if (path && file) {
    const n = (o: object) => Object.keys(o).length;
    p.add({
      name: 'RELAY_CONFIG',
      state: 'ok',
      detail: `${path}: ${n(file.accounts)} account(s), ${file.sources.length} source(s), ${n(file.flows)} flow(s), ${file.rules.length} rule(s)`,
    });
  }

  // Credentials, revision and clock: one cheap call per lane.
  if (!config || (path && !file)) {
    for (const name of ['credentials', 'revision', 'clock']) p.add({ name, state: 'skip', detail: 'not checked (the configuration does not parse)' });
  } else if (config.klaviyo.mode === 'sandbox') {
    p.add({
      name: 'credentials',
      state: 'skip',
      detail: 'sandbox mode: none to check (set MATON_API_KEY or KLAVIYO_API_KEY to deliver to a real Klaviyo account)',
    });
    p.add({ name: 'revision', state: 'skip', detail: `sandbox mode: ${config.klaviyo.revision} is not checked against Klaviyo` });
    p.add({ name: 'clock', state: 'skip', detail: 'sandbox mode: not checked' });
  } else if (lanes.length > 0) {
    const probes: Probe[] = [];
    for (const lane of lanes) {
      const probe = await withProgress(`calling Klaviyo for lane ${lane.name}`, () => probeLane(lane));
      probes.push(probe);
      p.add(credentialCheck(config, probe));
    }
    const first = probes.find((x) => x.ok) ?? probes.find((x) => isRevisionError(x.error)) ?? probes[0]!;
    const rev = config.klaviyo.revision;
    if (first.ok) p.add({ name: 'revision', state: 'ok', detail: `${rev} accepted` });
    else if (isRevisionError(first.error)) {
      p.add({
        name: 'revision',
        state: 'fail',
        detail: `Klaviyo refused revision ${rev} (${(first.error as Error).message})`,
        fix: 'set KLAVIYO_REVISION to a revision Klaviyo supports (default 2026-07-15)',
      });
    } else p.add({ name: 'revision', state: 'skip', detail: `not checked (the call failed before Klaviyo looked at ${rev})` });
    p.add(clockCheck(first, config.klaviyo.mode === 'gateway' ? 'the gateway' : 'Klaviyo'));
  }

  await checkRelay(values, env, config, p.add);

  const failed = p.checks.filter((c) => c.state === 'fail').length;
  const warned = p.checks.filter((c) => c.state === 'warn').length;
  if (json) outJson({ ok: failed === 0, checks: p.checks });
  else {
    const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
    process.stdout.write(
      `\n${failed === 0 ? `All checks passed${warned ? ` (${plural(warned, 'warning')})` : ''}.` : `${plural(failed, 'check')} failed${warned ? `, ${plural(warned, 'warning')}` : ''}.`}\n`,
    );
  }
  return failed === 0 ? 0 : 1;
}
