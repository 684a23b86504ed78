/**
 * Many Klaviyo accounts on one Maton key (issue 19): `npm run bench -- --only=accounts`.
 *
 * N accounts (Maton connections) behind one gateway key, each fed by its own source through
 * RELAY_CONFIG, each with a backlog of bulk-size requests (1,000 events each). The workers start
 * once every backlog is queued; the simulator counts what each account receives. Reported per run:
 *  - per account, events/s over the whole 60-s windows after the first minute (the steady
 *    minutes), as a share of the account's own ceiling (bulk_create_events: 150 calls/min ×
 *    1,000 = 2,500 events/s) and of an equal share of what the key delivered;
 *  - the key's gateway use (calls/s at the simulator over the same windows ÷ 10/s) and 429s;
 *  - at the simulator, the most gateway calls any 1,000 ms held, at every alignment (a sliding
 *    count over the arrival times it logged), beside the gateway's own fixed-window peak;
 *  - the spread between the governor's log of each call (Redis TIME in its per-key minute log: the
 *    moment the request left, `Grant.sent`) and the simulator's arrival time (same machine clock),
 *    which the gateway margin must cover.
 * Four accounts at their full rate fill the key exactly (4 × 2.5 calls/s = 10/s): the check of
 * packing. Six oversubscribe it: the check of fairness.
 */
import { hash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ENDPOINTS, GATEWAY_REQUESTS_PER_SECOND } from '../../src/klaviyo/endpoints.ts';
import { busiestWindow } from '../../test/support/sliding-window.ts';
import { waitUntil } from '../../test/support/wait.ts';
import { callsMade, delivered, load, relayEnv, simStats, startApi, startRedis, startSim, startWorker, stopAll } from './procs.ts';

type Row = (metric: string, ours: string, baseline: string, ratio: string) => void;
const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

const batchBody = JSON.stringify({
  events: Array.from({ length: 1000 }, (_, i) => ({
    id: `{{id}}-${i}`,
    event: 'Placed Order',
    profile: { email: `user${i}@example.com` },
    properties: { OrderId: `{{id}}-${i}` },
    value: 10 + (i % 50),
  })),
});

export interface AccountsRun {
  accounts: number;
  eventsPerAccount: number;
  steadyWindowSeconds: number;
  perAccount: { account: string; eventsPerSecond: number; ofCeiling: number; ofEqualShare: number }[];
  gatewayCallsPerSecond: number;
  gatewayUse: number;
  throttled: { gateway: number; klaviyo: number };
  gatewayPeakFixedSecond: number;
  gatewayMaxAnyAlignment: number;
  arrivalsChecked: number;
  grantToArrivalMs: { pairs: number; min: number; p50: number; p99: number; p999: number; max: number; spread: number } | undefined;
  /** The 1,000 ms with the most arrivals: each arrival (ms after the window's first) and the sim's time to answer it. */
  busiestSecond: { at: number; arrivals: { dt: number; account: string; ms: number }[]; logged: number[] } | undefined;
  /** The simulator's own event-loop delay over the measured minutes (ms): a stalled loop bunches arrivals. */
  simLoopDelayMs: { p99: number; max: number };
  drainSeconds: number;
  unansweredLoadRequests: number;
}

async function run(n: number, perAccount: number, workers: number, log: (m: string) => void): Promise<AccountsRun> {
  const redis = await startRedis();
  const sim = await startSim(false);
  const names = Array.from({ length: n }, (_, i) => `acct${i + 1}`);
  const key = (a: string) => `bench-accounts-key-${a}`;
  const config = {
    accounts: Object.fromEntries(names.map((a) => [a, { connection: `conn-${a}` }])),
    sources: names.map((a) => ({ name: `src-${a}`, keySha256: hash('sha256', key(a), 'hex'), account: a })),
  };
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-accounts-'));
  const file = join(dir, 'relay.json');
  writeFileSync(file, JSON.stringify(config));
  // A spool of its own: on a busy machine the API spools what Redis is slow to take, and moves it
  // into Redis once it answers — which it must be left running to do.
  const env = relayEnv(redis.url, sim.url, { RELAY_CONFIG: file, RELAY_SPOOL_DIR: join(dir, 'spool') });
  const api = await startApi(env);
  log(`accounts: ${n} accounts × ${fmt(perAccount)} events on one Maton key: queueing`);
  const loads = await Promise.all(
    names.map((a) =>
      load({
        url: `${api.url}/v1/events`,
        connections: 2,
        duration: 600,
        amount: perAccount / 1000,
        body: batchBody,
        headers: { authorization: `Bearer ${key(a)}` },
      }),
    ),
  );
  // On a busy machine some 1,000-event requests time out at the load generator (the API may still
  // have taken them): counted, and the run is valid as long as every account's backlog outlasts the
  // measured minutes (checked below).
  const unanswered = loads.reduce((n, l) => n + l.non2xx + l.errors + l.timeouts, 0);
  const spooled = async () => Number(/^relay_spool_bytes (\S+)$/m.exec(await (await fetch(`${api.url}/metrics`)).text())?.[1] ?? Number.NaN);
  await waitUntil('the API to move its spool into Redis', async () => (await spooled()) === 0, { timeoutMs: 15 * 60_000, intervalMs: 1000 });
  log(`accounts: queued; ${workers} worker process(es) start`);
  for (let i = 0; i < workers; i++) startWorker(env);
  const conn = (a: string) => `conn-${a}`;
  const samples: { t: number; got: Record<string, number>; calls: number }[] = [];
  const t0 = Date.now();
  let firstAt = 0;
  let steadyEnd = 0;
  let arrivals: number[] = [];
  let recorded: { at: number; account: string; durationMs: number }[] = [];
  let grants: number[] = [];
  const loopMark = sim.proc.output().length;
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const stats = await simStats(sim.url);
    const got = Object.fromEntries(names.map((a) => [a, delivered(stats, conn(a))]));
    const t = Date.now() - t0;
    samples.push({ t, got, calls: callsMade(stats) + stats.throttled.gateway + stats.throttled.klaviyo });
    const total = Object.values(got).reduce((x, y) => x + y, 0);
    if (total > 0 && firstAt === 0) firstAt = t;
    // At the end of the first steady minute (before any account runs dry), note what the
    // simulator saw arrive and what the governor granted: the last 2,000 calls and 60 s of grants.
    if (firstAt && !steadyEnd && t >= firstAt + 121_000) {
      steadyEnd = t;
      const res = (await (await fetch(`${sim.url}/__sim/requests?limit=2000`)).json()) as {
        requests: { at: number; mode: string; account: string; durationMs: number }[];
      };
      recorded = res.requests.filter((r) => r.mode === 'gateway');
      arrivals = recorded.map((r) => r.at);
      const keys = await redis.client.keys('relay:gov:*:gateway:60s');
      grants = keys.length === 1 ? (await redis.client.zrange(keys[0]!, '0', '-1', 'WITHSCORES')).filter((_, i) => i % 2 === 1).map(Number) : [];
    }
    const prev = samples[samples.length - 11];
    const stalled = steadyEnd > 0 && prev !== undefined && names.every((a) => got[a] === prev.got[a]);
    if (Object.values(got).some((g) => g >= perAccount) || stalled || t > 20 * 60_000) break;
  }
  const stats = await simStats(sim.url);
  const from = samples.find((x) => x.t >= firstAt + 61_000);
  const last = samples[samples.length - 1]!;
  const windows = from ? Math.floor((last.t - from.t) / 60_000) : 0;
  if (!from || windows === 0) throw new Error('accounts: the backlog ran dry before a steady minute (raise the events per account)');
  const to = samples.find((x) => x.t >= from.t + windows * 60_000)!;
  // Every account was still delivering at the end of the measured minutes (in their last 10 s):
  // they measure a backlog, not its end.
  const before = samples.find((x) => x.t >= to.t - 10_000)!;
  const outlasted = names.every((a) => to.got[a]! > before.got[a]!);
  if (!outlasted) throw new Error(`accounts: an account ran dry inside the measured minutes (${unanswered} load requests unanswered)`);
  const seconds = (to.t - from.t) / 1000;
  const ceiling = (ENDPOINTS.bulk_create_events.steady / 60) * ENDPOINTS.bulk_create_events.maxItems!;
  const rates = names.map((a) => (to.got[a]! - from.got[a]!) / seconds);
  const mean = rates.reduce((x, y) => x + y, 0) / n;
  const gatewayCallsPerSecond = (to.calls - from.calls) / seconds;
  const peaks = (stats as unknown as { peaks?: { gateway?: Record<string, { perSecond: number; sentPerSecond: number }> } }).peaks;
  const gatewayPeakFixedSecond = Math.max(0, ...Object.values(peaks?.gateway ?? {}).map((p) => p.sentPerSecond));
  // Sorted: spread() pairs them with the grants in order. Every alignment at once: the most
  // arrivals any window [a_i, a_i + 1000) holds.
  arrivals.sort((x, y) => x - y);
  const { count: maxAny, at: busiestAt } = busiestWindow(arrivals, 1000);
  recorded.sort((x, y) => x.at - y.at);
  const busiestSecond =
    maxAny === 0
      ? undefined
      : {
          at: busiestAt,
          arrivals: recorded
            .filter((r) => r.at >= busiestAt && r.at < busiestAt + 1000)
            .map((r) => ({ dt: r.at - busiestAt, account: r.account, ms: r.durationMs })),
          // The governor's log around it (the minute log read at the end of the first steady minute: empty if the window is outside it).
          logged: grants.filter((g) => g >= busiestAt - 100 && g < busiestAt + 1100).map((g) => g - busiestAt),
        };
  const delays = [
    ...sim.proc
      .output()
      .slice(loopMark)
      .matchAll(/loop-delay-ms p99=(\S+) max=(\S+)/g),
  ];
  const simLoopDelayMs = { p99: Math.max(0, ...delays.map((m) => Number(m[1]))), max: Math.max(0, ...delays.map((m) => Number(m[2]))) };
  const result: AccountsRun = {
    accounts: n,
    eventsPerAccount: perAccount,
    steadyWindowSeconds: seconds,
    perAccount: names.map((a, i) => ({ account: a, eventsPerSecond: rates[i]!, ofCeiling: rates[i]! / ceiling, ofEqualShare: rates[i]! / mean })),
    gatewayCallsPerSecond,
    gatewayUse: gatewayCallsPerSecond / GATEWAY_REQUESTS_PER_SECOND,
    throttled: stats.throttled,
    gatewayPeakFixedSecond,
    gatewayMaxAnyAlignment: maxAny,
    arrivalsChecked: arrivals.length,
    grantToArrivalMs: spread(grants, arrivals),
    busiestSecond,
    simLoopDelayMs,
    drainSeconds: (last.t - firstAt) / 1000,
    unansweredLoadRequests: unanswered,
  };
  redis.client.disconnect();
  await stopAll();
  return result;
}

/**
 * Pairs each grant with its arrival: both sorted, matched index to index at the offset that
 * makes them closest (the two lists cover slightly different spans), then the delays' spread.
 */
function spread(grants: number[], arrivals: number[]): AccountsRun['grantToArrivalMs'] {
  if (grants.length < 10 || arrivals.length < 10) return undefined;
  grants.sort((x, y) => x - y);
  const first = arrivals.findIndex((a) => a >= grants[0]!);
  if (first < 0) return undefined;
  let best: number[] | undefined;
  let bestCost = Number.POSITIVE_INFINITY;
  for (let off = Math.max(0, first - 5); off <= first + 5; off++) {
    const d: number[] = [];
    for (let i = 0; i < grants.length && i + off < arrivals.length; i++) d.push(arrivals[i + off]! - grants[i]!);
    if (d.length < grants.length * 0.9) continue;
    const cost = d.reduce((s, x) => s + Math.abs(x), 0) / d.length;
    if (cost < bestCost) {
      bestCost = cost;
      best = d;
    }
  }
  if (!best) return undefined;
  const s = [...best].sort((x, y) => x - y);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return { pairs: s.length, min: s[0]!, p50: q(0.5), p99: q(0.99), p999: q(0.999), max: s[s.length - 1]!, spread: s[s.length - 1]! - s[0]! };
}

export async function accountsScenario(opts: { quick: boolean; runs: number; six: boolean; workers: number; log: (m: string) => void; row: Row }) {
  const { quick, log, row } = opts;
  const four: AccountsRun[] = [];
  for (let i = 0; i < opts.runs; i++) {
    four.push(await run(4, quick ? 350_000 : 400_000, opts.workers, log));
    log(`accounts: four-account run ${i + 1}: ${JSON.stringify({ ...four[i], perAccount: four[i]!.perAccount.map((p) => p.ofCeiling.toFixed(3)) })}`);
  }
  four.forEach((r, i) => {
    row(
      `accounts, 4 on one key, run ${i + 1}: per-account steady events/s, of ceiling (${fmt(r.steadyWindowSeconds)} s)`,
      r.perAccount.map((p) => fmt(p.eventsPerSecond)).join(' / '),
      `${fmt(2500)}/s each`,
      r.perAccount.map((p) => p.ofCeiling.toFixed(3)).join(' / '),
    );
    row(
      `accounts, 4 on one key, run ${i + 1}: gateway calls/s, 429s, max in any 1 s (fixed-s peak)`,
      `${fmt(r.gatewayCallsPerSecond, 2)}/s, ${r.throttled.gateway + r.throttled.klaviyo}, ${r.gatewayMaxAnyAlignment} (${r.gatewayPeakFixedSecond})`,
      '10/s',
      pct(r.gatewayUse),
    );
    if (r.grantToArrivalMs)
      row(
        `accounts, 4 on one key, run ${i + 1}: send (logged) → gateway arrival ms, min / p99 / max (spread)`,
        `${r.grantToArrivalMs.min} / ${r.grantToArrivalMs.p99} / ${r.grantToArrivalMs.max} (${r.grantToArrivalMs.spread})`,
        '',
        '',
      );
  });
  if (!opts.six) return { four };
  const six = await run(6, quick ? 230_000 : 300_000, opts.workers, log);
  log(`accounts: six-account run: ${JSON.stringify({ ...six, perAccount: six.perAccount.map((p) => p.ofEqualShare.toFixed(3)) })}`);
  row(
    `accounts, 6 on one key: per-account steady events/s (${fmt(six.steadyWindowSeconds)} s), of an equal share`,
    six.perAccount.map((p) => fmt(p.eventsPerSecond)).join(' / '),
    fmt(six.perAccount.reduce((s, p) => s + p.eventsPerSecond, 0) / 6),
    six.perAccount.map((p) => p.ofEqualShare.toFixed(3)).join(' / '),
  );
  row(
    'accounts, 6 on one key: gateway calls/s, 429s, max in any 1 s (fixed-s peak)',
    `${fmt(six.gatewayCallsPerSecond, 2)}/s, ${six.throttled.gateway + six.throttled.klaviyo}, ${six.gatewayMaxAnyAlignment} (${six.gatewayPeakFixedSecond})`,
    '10/s',
    pct(six.gatewayUse),
  );
  return { four, six };
}
