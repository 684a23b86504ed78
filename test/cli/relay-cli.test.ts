/**
 * Issue 6 item 4: the `relay` CLI. Every test runs the real bin (`node bin/relay.js …` in a child
 * process, from another cwd) against a running relay and the simulator (the harness: real Redis
 * under a unique prefix, the simulator over a real socket).
 */
import { createServer as createHttpServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONNECTION, MATON_KEY, RELAY_KEY, RELAY_SOURCE, startHarness, type Harness } from '../support/harness.ts';
import { REDIS_URL } from '../support/redis.ts';
import { noStack, type Run, runRelay } from '../support/relay-cli.ts';
import { waitUntil } from '../support/wait.ts';
import { freePort } from '../support/ports.ts';

const ADMIN = 'test-cli-admin-token';
const tag = `cli-${Math.random().toString(36).slice(2, 8)}`;

/** At most this many CLI processes at once: the suite shares the machine with timing-sensitive tests. */
const MAX_CHILDREN = 3;
let running = 0;
const queue: (() => void)[] = [];

async function relay(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  if (running >= MAX_CHILDREN) await new Promise<void>((r) => queue.push(r));
  running++;
  try {
    return await runRelay(args, env, 25_000);
  } finally {
    running--;
    queue.shift()?.();
  }
}

let h: Harness;
let url: string;
let env: Record<string, string>;

beforeAll(async () => {
  // The workers' pause probe resumes any paused lane whose credentials work, an operator's pause
  // included; keep it from racing the pause test.
  h = await startHarness({ name: 'cli', env: { RELAY_ADMIN_TOKEN: ADMIN, RELAY_PAUSE_PROBE_MS: '3600000' } });
  url = h.service.url!;
  env = { RELAY_URL: url, RELAY_ADMIN_TOKEN: ADMIN, RELAY_API_KEYS: RELAY_KEY };
});
afterAll(async () => {
  await h?.close();
});

describe('relay CLI', () => {
  it('prints help, per-command help and the version; usage errors exit 2', async () => {
    const [help, cmdHelp, version, unknown, none, badOpt, badSince] = await Promise.all([
      relay(['--help']),
      relay(['dlq', 'replay', '--help']),
      relay(['--version']),
      relay(['frobnicate']),
      relay([]),
      relay(['status', '--bogus']),
      relay(['dlq', 'list', '--since', 'yesterday']),
    ]);
    expect(help.code).toBe(0);
    for (const cmd of ['status', 'dlq', 'pause', 'resume', 'find', 'send', 'connections', 'doctor']) expect(help.stdout).toContain(cmd);
    expect(cmdHelp.code).toBe(0);
    expect(cmdHelp.stdout).toMatch(/--dry-run/);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^klaviyo-relay \d+\.\d+\.\d+/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
    expect(unknown.stderr).toMatch(/Usage: relay <command>/);
    expect(none.code).toBe(2);
    expect(badOpt.code).toBe(2);
    expect(badOpt.stderr).toMatch(/unknown option --bogus/);
    expect(badSince.code).toBe(2);
    expect(badSince.stderr).toMatch(/--since takes an ISO-8601 time/);
    for (const r of [unknown, none, badOpt, badSince]) noStack(r);
  });

  it('status: a table per lane × kind × class and per lane, --json, and --watch bounded by --count', async () => {
    const [table, json, watch] = await Promise.all([
      relay(['status'], env),
      relay(['status', '--json'], env),
      relay(['status', '--watch', '--interval', '1', '--count', '2', '--json'], env),
    ]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^LANE\s+KIND\s+CLASS\s+SOURCE\s+WAITING\s+ACTIVE\s+OLDEST WAITING\s+DELIVERED\/MIN\s+SHARE$/m);
    for (const [kind, cls] of [
      ['events', 'live'],
      ['events', 'bulk'],
      ['profiles', 'live'],
      ['profiles', 'bulk'],
      ['webhooks', 'live'],
      ['catalog', 'live'],
    ]) {
      expect(table.stdout).toMatch(new RegExp(`^default\\s+${kind}\\s+${cls}\\s+.+\\s+\\d+\\s+\\d+\\s+\\S+\\s+\\d+\\s+\\S+( %)?$`, 'm'));
    }
    expect(table.stdout).toMatch(/^LANE\s+DELIVERED\/MIN\s+BULK_CREATE_EVENTS\s+CREATE_EVENT\s+GATEWAY\s+PAUSED$/m);
    expect(table.stdout).toMatch(/^default\s+\d+\s+\d+\/s [\d,]+\/min\s+[\d,]+\/s [\d,]+\/min\s+\d+\/s\s+no$/m);
    expect(table.stdout).toMatch(/^LANE\s+LIVE CALLS\s+BULK CALLS\s+LIVE ITEMS\s+BULK ITEMS\s+BULK MINIMUM$/m);
    expect(table.stdout).toMatch(/^default(\s+[\d,]+ \([^)]+\)){4}\s+20 %/m);
    expect(json.code).toBe(0);
    const s = JSON.parse(json.stdout);
    // Per-queue rows stay in the JSON for tools, beside the per-class ones.
    expect(s.queues.map((q: any) => q.queue)).toContain('events.default');
    expect(s.queues.map((q: any) => q.queue)).toContain(`events.default.live.${RELAY_SOURCE}`);
    expect(s.classes.find((c: any) => c.kind === 'events' && c.class === 'live').sources.map((x: any) => x.source)).toEqual(['legacy', RELAY_SOURCE]);
    expect(s.lanes[0]).toMatchObject({
      lane: 'default',
      paused: null,
      share: { bulkMinShare: 0.2, calls: { live: expect.any(Number), bulk: expect.any(Number) } },
    });
    expect(watch.code).toBe(0);
    const lines = watch.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(JSON.parse(l).lanes[0].lane).toBe('default');
  });

  it('send posts a test event; find locates it by --id and by --email', async () => {
    const id = `${tag}-send`;
    const email = `${tag}-send@example.com`;
    const sent = await relay(['send', '--id', id, '--email', email, '--value', '9.5', '--event', 'Placed Order'], env);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toContain('202');
    expect(sent.stdout).toContain(`"ids":["${id}"]`);
    expect(sent.stdout).toContain(`relay find --id ${id}`);
    await waitUntil('the event delivered', () => h.sim.eventsFor(CONNECTION, { email }).length === 1, { timeoutMs: 10_000 });

    const [byId, byEmail, byEmailJson, again] = await Promise.all([
      relay(['find', '--id', id], env),
      relay(['find', '--email', email], env),
      relay(['find', '--email', email, '--json'], env),
      relay(['send', '--id', id, '--email', email, '--json'], env),
    ]);
    expect(byId.code, byId.stderr).toBe(0);
    expect(byId.stdout).toMatch(/events\.default/);
    // A completed job keeps no payload (issue 18): a search by person finds work not delivered yet only.
    expect(byEmail.code, byEmail.stderr).toBe(0);
    expect(byEmail.stdout).toContain(`Nothing found for email=${email}.`);
    expect(byEmail.stdout).toContain('completed jobs keep no personal data');
    const found = JSON.parse(byEmailJson.stdout);
    expect(found.query).toEqual({ email });
    expect(found.jobs).toEqual([]);
    // The same id again is a duplicate, and --json prints the relay's answer only.
    expect(JSON.parse(again.stdout)).toEqual({ accepted: 1, ids: [id], duplicates: 1 });
  });

  it('dlq: list, show, replay --dry-run, then replay once Klaviyo accepts again', async () => {
    const email = `${tag}-bad@example.com`;
    const fault = h.sim.faults.add({ rejectItems: { emails: [email], detail: 'Simulated: profile blocked' } })[0]!;
    try {
      expect((await relay(['send', '--id', `${tag}-bad`, '--email', email, '--event', 'Viewed Product'], env)).code).toBe(0);
      await waitUntil(
        'one dead letter',
        async () => {
          const r = await fetch(`${url}/ops/dead-letters`, { headers: { authorization: `Bearer ${ADMIN}` } });
          return ((await r.json()) as { total: number }).total === 1;
        },
        { timeoutMs: 15_000 },
      );

      const [list, listJson, filtered, none] = await Promise.all([
        relay(['dlq', 'list'], env),
        relay(['dlq', 'list', '--json', '--status', '400', '--since', '10m'], env),
        relay(['dlq', 'list', '--kind', 'events', '--code', 'invalid', '--lane', 'default'], env),
        relay(['dlq', 'list', '--kind', 'profiles', '--until', '2000-01-01T00:00:00Z'], env),
      ]);
      expect(list.code).toBe(0);
      expect(list.stdout).toMatch(/^REF\s+FAILED\s+SOURCE\s+ITEMS\s+ATTEMPTS\s+ERROR$/m);
      expect(list.stdout).toMatch(/Simulated: profile blocked/);
      expect(list.stdout).toMatch(/^1 dead letter$/m);
      const body = JSON.parse(listJson.stdout);
      expect(body.total).toBe(1);
      const ref = body.deadLetters[0].ref as string;
      expect(ref).toBe(`events.default.live.${RELAY_SOURCE}/${ref.split('/')[1]}`);
      expect(filtered.stdout).toContain(ref);
      expect(none.stdout).toMatch(/No dead letters match the filter/);
      const [past, badOffset] = await Promise.all([relay(['dlq', 'list', '--offset', '1'], env), relay(['dlq', 'list', '--offset=-1'], env)]);
      expect(past).toMatchObject({ code: 0 });
      expect(past.stdout).toMatch(/No dead letters from offset 1: there is 1\./);
      expect(badOffset.code).toBe(2);
      expect(badOffset.stderr).toMatch(/--offset must be a whole number/);

      const [show, showJson, dry, dryJson] = await Promise.all([
        relay(['dlq', 'show', ref], env),
        relay(['dlq', 'show', ref, '--json'], env),
        relay(['dlq', 'replay', '--id', ref, '--dry-run'], env),
        relay(['dlq', 'replay', '--status', '400', '--dry-run', '--json'], env),
      ]);
      expect(show.code).toBe(0);
      expect(show.stdout).toMatch(/^ref\s+events\.default\.live\.key-[0-9a-f]+\//m);
      expect(show.stdout).toMatch(/400 klaviyo invalid: Simulated: profile blocked/);
      // Identifiers are masked for operators unless RELAY_DASHBOARD_PII is set.
      const masked = `${email[0]}***@example.com`;
      expect(show.stdout).toContain(`${tag}-bad Viewed Product ${masked}`);
      expect(show.stdout).not.toContain(email);
      expect(JSON.parse(showJson.stdout).data.dead[0].item.e.profile.email).toBe(masked);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toMatch(/^Dry run: would replay 1 dead letter \(1 item\)/m);
      expect(dry.stdout).toMatch(/→ create_event:|→ bulk_create_events:/);
      expect(dry.stdout).toContain(masked);
      expect(JSON.parse(dryJson.stdout)).toMatchObject({ dryRun: true, jobs: 1, items: 1, refs: [ref] });
      expect(h.sim.eventsFor(CONNECTION, { email })).toHaveLength(0);

      const [bad, nothing] = await Promise.all([relay(['dlq', 'show', 'not-a-ref'], env), relay(['dlq', 'replay'], env)]);
      expect(bad.code).toBe(2);
      expect(nothing.code).toBe(2);
      expect(nothing.stderr).toMatch(/name what to replay/);

      h.sim.faults.remove(fault.id);
      const replay = await relay(['dlq', 'replay', '--id', ref], env);
      expect(replay.code).toBe(0);
      expect(replay.stdout).toMatch(/^Replayed 1 dead letter \(1 item\)/m);
      await waitUntil('the event delivered', () => h.sim.eventsFor(CONNECTION, { email }).length === 1, { timeoutMs: 15_000 });
      const after = await relay(['dlq', 'list'], env);
      expect(after.stdout).toMatch(/^No dead letters\.$/m);
      const gone = await relay(['dlq', 'show', ref], env);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toMatch(/no dead letter/);
    } finally {
      h.sim.faults.remove(fault.id);
    }
  }, 45_000);

  it('pause and resume a lane; status shows it', async () => {
    const paused = await relay(['pause', 'default'], env);
    expect(paused.code).toBe(0);
    expect(paused.stdout).toMatch(/Lane default paused/);
    try {
      const [table, json, unknown] = await Promise.all([relay(['status'], env), relay(['status', '--json'], env), relay(['pause', 'nope'], env)]);
      expect(table.stdout).toMatch(/^default\s+.*paused \S+ \(by admin\)$/m);
      expect(table.stdout).toMatch(/^paused: default/m);
      expect(JSON.parse(json.stdout).lanes[0].paused).toMatchObject({ by: 'admin' });
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/No lane named "nope" \(known: default\)/);
    } finally {
      const resumed = await relay(['resume', 'default'], env);
      expect(resumed.code).toBe(0);
      expect(resumed.stdout).toMatch(/Lane default resumed/);
    }
    const json = JSON.parse((await relay(['status', '--json'], env)).stdout);
    expect(json.lanes[0].paused).toBeNull();
  });

  it('connections: list, create (waits until ACTIVE), get, delete', async () => {
    const maton = { MATON_CONNECTIONS_URL: h.simUrl, MATON_API_KEY: MATON_KEY };
    const created = await relay(['connections', 'create', '--timeout', '20'], maton);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/Open this URL/);
    expect(created.stdout).toMatch(/https:\/\/connect\.maton\.ai\/\?session_token=/);
    const id = /MATON_CONNECTION_ID=(\S+)/.exec(created.stdout)?.[1];
    expect(id).toBeTruthy();
    expect(created.stdout).toContain(`Connection ${id} is ACTIVE`);
    expect(created.stderr).toMatch(/waiting for the authorization: PENDING/);

    const [list, listJson, pending, get, getJson] = await Promise.all([
      relay(['connections', 'list'], maton),
      relay(['connections', 'list', '--status', 'active', '--json'], maton),
      relay(['connections', 'list', '--status', 'PENDING'], maton),
      relay(['connections', 'get', id!], maton),
      relay(['connections', 'get', id!, '--json'], maton),
    ]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+STATUS\s+APP\s+METHOD\s+CREATED\s+UPDATED$/m);
    expect(list.stdout).toMatch(new RegExp(`^${id}\\s+ACTIVE\\s+klaviyo\\s+OAUTH2`, 'm'));
    expect(JSON.parse(listJson.stdout).connections.map((c: any) => c.connection_id)).toContain(id);
    expect(pending.stdout).not.toContain(id);
    expect(get.stdout).toMatch(/^status\s+ACTIVE$/m);
    expect(JSON.parse(getJson.stdout).connection).toMatchObject({ connection_id: id, status: 'ACTIVE', app: 'klaviyo' });

    const del = await relay(['connections', 'delete', id!], maton);
    expect(del.code).toBe(0);
    expect(del.stdout).toContain(`Deleted connection ${id}`);
    const [missing, badKey, noKey] = await Promise.all([
      relay(['connections', 'get', id!], maton),
      relay(['connections', 'list'], { ...maton, MATON_API_KEY: 'wrong-key' }),
      relay(['connections', 'list'], { MATON_CONNECTIONS_URL: h.simUrl }),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no connection/);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(/Maton refused the API key \(401\): check MATON_API_KEY/);
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/set MATON_API_KEY/);
    for (const r of [missing, badKey, noKey]) noStack(r);
  });

  it('doctor: every check passes against the harness; a wrong REDIS_URL fails with its fix', async () => {
    const setup = {
      ...env,
      REDIS_URL,
      MATON_API_KEY: MATON_KEY,
      MATON_GATEWAY_URL: h.simUrl,
      MATON_CONNECTION_ID: CONNECTION,
    };
    const ok = await relay(['doctor'], setup);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    for (const check of ['Redis', 'configuration', 'credentials', 'revision', 'clock', 'relay API', 'admin token']) {
      expect(ok.stdout).toMatch(new RegExp(`^✓ ${check}\\s`, 'm'));
    }
    expect(ok.stdout).toMatch(/All checks passed/);

    const port = await freePort();
    const bad = await relay(['doctor', '--json'], { ...setup, REDIS_URL: `redis://127.0.0.1:${port}`, MATON_API_KEY: 'not-the-key' });
    expect(bad.code).toBe(1);
    const report = JSON.parse(bad.stdout);
    expect(report.ok).toBe(false);
    expect(report.checks.find((c: any) => c.name === 'Redis')).toMatchObject({ state: 'fail', detail: `no answer at redis://127.0.0.1:${port}` });
    expect(report.checks.find((c: any) => c.name === 'Redis').fix).toMatch(/set REDIS_URL/);
    expect(report.checks.find((c: any) => c.name === 'credentials')).toMatchObject({ state: 'fail', fix: 'check MATON_API_KEY' });

    const human = await relay(['doctor'], { ...setup, REDIS_URL: `redis://127.0.0.1:${port}` });
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/^✗ Redis\s+no answer at redis:\/\/127\.0\.0\.1:\d+$/m);
    expect(human.stdout).toMatch(/fix: start Redis/);
    expect(human.stdout).toMatch(/1 check failed/);
    noStack(human);
  });

  it('errors are one readable line with the fix, no stack trace', async () => {
    const port = await freePort();
    const [wrongToken, down, noToken] = await Promise.all([
      relay(['status'], { ...env, RELAY_ADMIN_TOKEN: 'not-the-admin-token' }),
      relay(['dlq', 'list'], { ...env, RELAY_URL: `http://127.0.0.1:${port}` }),
      relay(['status', '--url', url]),
    ]);
    expect(wrongToken.code).toBe(1);
    // On a slow machine the progress line ("reading the status…") may come first; the error is the last line.
    const errLines = wrongToken.stderr.trim().split('\n');
    expect(errLines.at(-1)).toBe('relay: the admin token was refused: set RELAY_ADMIN_TOKEN or pass --token');
    for (const line of errLines.slice(0, -1)) expect(line).toMatch(/…$/);
    expect(wrongToken.stdout).toBe('');
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(new RegExp(`relay API not reachable at http://127\\.0\\.0\\.1:${port} .*: start it with \`npm start\` or set RELAY_URL`));
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/admin token was refused \(none was given, so the sandbox's dev-admin was tried\)/);
    const badKey = await relay(['send'], { ...env, RELAY_API_KEYS: 'not-a-valid-key' });
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(/the API key was refused: set RELAY_API_KEYS .* or pass --key/);
    for (const r of [wrongToken, down, noToken, badKey]) noStack(r);
  });

  it('a relay without an admin token (503 ops_disabled) is explained', async () => {
    // The relay's answer when RELAY_ADMIN_TOKEN is unset outside the sandbox (admin-auth.ts).
    const srv = createHttpServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'ops_disabled', message: 'Set RELAY_ADMIN_TOKEN to use the operations API and dashboard' }));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const r = await relay(['dlq', 'list'], { ...env, RELAY_URL: `http://127.0.0.1:${(srv.address() as { port: number }).port}` });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/operations API is off .*set RELAY_ADMIN_TOKEN/);
      noStack(r);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});
