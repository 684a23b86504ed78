/**
 * `npm run bench -- --only=segment` (about two minutes): ingest through Segment's tracking API
 * (`POST /v1/batch`) beside `POST /v1/events`, in the same run, against one API process on its own
 * Redis, with the same events. Target: /v1/batch at least 0.8× /v1/events.
 *
 *   - 500 events per request, 8 connections: `/v1/events` {"events": [...]} vs `/v1/batch` with the
 *     same events as Segment track messages (as @segment/analytics-node sends them: messageId,
 *     timestamp, context.traits.email, context.library, Basic auth, writeKey and sentAt in the
 *     body), and the same batch gzipped (RudderStack's default);
 *   - 20 events per request (RudderStack's flushAt; Segment's is 15), 32 connections.
 * The /v1/events baseline carries each event's time, as the Segment messages do (and is measured
 * without it too). Alternated in rounds, so all see the same machine; the figures are medians.
 * Every request carries fresh ids, so nothing is deduplicated away; bodies are made before each
 * measurement.
 *
 * The load is generated in this process (closed loop over keep-alive connections) — the bench
 * process is otherwise idle during a measurement; the API, Redis and this generator share the
 * machine's two cores, as in the other ingest scenarios.
 */
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { BENCH_KEY, relayEnv, startApi, startRedis, stopAll } from './procs.ts';

type Row = (metric: string, ours: string, baseline: string, ratio: string) => void;

interface Run {
  readonly requests: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  readonly latencyMs: { p50: number; p99: number };
  readonly non2xx: number;
  readonly errors: number;
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/**
 * The same event, as /v1/events takes it and as a Segment track message. The SDKs always send a
 * timestamp, so the equivalent /v1/events call carries `time` (the faithful baseline); the same
 * without it (the /v1/events rows elsewhere in this README) is measured too.
 */
function eventsBody(n: number, withTime: boolean): string {
  const time = new Date().toISOString();
  return JSON.stringify({
    events: Array.from({ length: n }, (_, i) => ({
      id: `{{id}}-${i}`,
      event: 'Placed Order',
      profile: { email: `user${i}@example.com` },
      properties: { OrderId: `{{id}}-${i}` },
      value: 10 + (i % 50),
      ...(withTime ? { time } : {}),
    })),
  });
}

function segmentBody(n: number): string {
  const now = new Date().toISOString();
  return JSON.stringify({
    batch: Array.from({ length: n }, (_, i) => ({
      type: 'track',
      messageId: `{{id}}-${i}`,
      event: 'Placed Order',
      properties: { OrderId: `{{id}}-${i}`, value: 10 + (i % 50) },
      context: { traits: { email: `user${i}@example.com` }, library: { name: '@segment/analytics-node', version: '3.1.0' } },
      timestamp: now,
      _metadata: { jsRuntime: 'node' },
    })),
    writeKey: BENCH_KEY,
    sentAt: now,
  });
}

/**
 * `pool` bodies with fresh ids (`{{id}}` replaced per body), made before the measurement so that
 * making them — longer for Segment's messages, gzip for RudderStack's — does not compete with the
 * API for the cores. A measurement that uses up its pool ends there (its rate is over its time).
 */
function bodies(template: string, gzip: boolean, pool: number): () => Buffer | undefined {
  const parts = template.split('{{id}}');
  const run = `${process.pid.toString(36)}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const ready = Array.from({ length: pool }, (_, seq) => {
    const body = Buffer.from(parts.join(`${run}-${seq.toString(36)}`));
    return gzip ? gzipSync(body) : body;
  });
  let i = 0;
  return () => ready[i++];
}

async function measure(opts: {
  url: string;
  seconds: number;
  connections: number;
  eventsPerRequest: number;
  headers: Record<string, string>;
  next: () => Buffer | undefined;
}): Promise<Run> {
  const target = new URL(opts.url);
  if (target.hostname !== '127.0.0.1') throw new Error('the bench only loads loopback');
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections });
  const latencies: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const started = performance.now();
  const end = started + opts.seconds * 1000;
  const post = (body: Buffer) =>
    new Promise<number>((resolve) => {
      const req = http.request(
        { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { ...opts.headers, 'content-length': body.length } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', () => resolve(0));
      req.end(body);
    });
  await Promise.all(
    Array.from({ length: opts.connections }, async () => {
      while (performance.now() < end) {
        const body = opts.next();
        if (!body) return; // a gzip pool ran out: the measurement ends with what was sent
        const t0 = performance.now();
        const status = await post(body);
        latencies.push(performance.now() - t0);
        if (status === 0) errors++;
        else if (status < 200 || status >= 300) non2xx++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const p = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  const ok = latencies.length - non2xx - errors;
  return {
    requests: latencies.length,
    seconds,
    eventsPerSecond: (ok * opts.eventsPerRequest) / seconds,
    latencyMs: { p50: p(0.5), p99: p(0.99) },
    non2xx,
    errors,
  };
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

type Variant = 'events' | 'eventsNoTime' | 'batch' | 'gzip' | 'smallEvents' | 'smallBatch';

export async function segmentScenario(opts: { quick: boolean; log: (m: string) => void; row: Row }) {
  const { log, row } = opts;
  // Short measurements, many rounds, medians: the machine is shared, and a neighbour's burst in
  // one measurement would otherwise decide the ratio.
  const seconds = opts.quick ? 3 : 4;
  const rounds = opts.quick ? 2 : 4;
  log(`segment: /v1/batch vs /v1/events, ${rounds} rounds of ${seconds} s per variant`);
  const redis = await startRedis();
  const api = await startApi(relayEnv(redis.url, 'http://127.0.0.1:9'));
  const json = { 'content-type': 'application/json' };
  const bearer = { ...json, authorization: `Bearer ${BENCH_KEY}` };
  const basic = { ...json, authorization: `Basic ${Buffer.from(`${BENCH_KEY}:`).toString('base64')}` };
  const runs: Record<Variant, Run[]> = { events: [], eventsNoTime: [], batch: [], gzip: [], smallEvents: [], smallBatch: [] };
  const pool = opts.quick ? 300 : 400;
  const large = { seconds, connections: 8, eventsPerRequest: 500 };
  const small = { seconds, connections: 32, eventsPerRequest: 20 };
  const plan: [Variant, () => Promise<Run>][] = [
    ['events', () => measure({ ...large, url: `${api.url}/v1/events`, headers: bearer, next: bodies(eventsBody(500, true), false, pool) })],
    ['batch', () => measure({ ...large, url: `${api.url}/v1/batch`, headers: basic, next: bodies(segmentBody(500), false, pool) })],
    [
      'gzip',
      () => measure({ ...large, url: `${api.url}/v1/batch`, headers: { ...basic, 'content-encoding': 'gzip' }, next: bodies(segmentBody(500), true, pool) }),
    ],
    ['eventsNoTime', () => measure({ ...large, url: `${api.url}/v1/events`, headers: bearer, next: bodies(eventsBody(500, false), false, pool) })],
    ['smallEvents', () => measure({ ...small, url: `${api.url}/v1/events`, headers: bearer, next: bodies(eventsBody(20, true), false, pool * 15) })],
    ['smallBatch', () => measure({ ...small, url: `${api.url}/v1/batch`, headers: basic, next: bodies(segmentBody(20), false, pool * 15) })],
  ];
  try {
    for (let r = 0; r < rounds; r++) {
      for (const [variant, run] of plan) runs[variant].push(await run());
      log(`segment: round ${r + 1} of ${rounds} done`);
    }
  } finally {
    redis.client.disconnect();
    await stopAll();
  }
  const failed = Object.values(runs)
    .flat()
    .filter((x) => x.non2xx > 0 || x.errors > 0);
  if (failed.length > 0) throw new Error(`segment: ${failed.length} measurement(s) had non-2xx answers or errors: ${JSON.stringify(failed)}`);

  const eps = (v: Variant) => median(runs[v].map((x) => x.eventsPerSecond));
  // Each round's ratio compares measurements seconds apart; the median of those is the figure.
  const ratio = (a: Variant, b: Variant) => median(runs[a].map((x, i) => x.eventsPerSecond / runs[b][i]!.eventsPerSecond));
  const lat = (v: Variant) => `${median(runs[v].map((x) => x.latencyMs.p50))} / ${median(runs[v].map((x) => x.latencyMs.p99))}`;
  const vs = (v: Variant) => `${fmt(eps(v))} (/v1/events)`;
  row('segment: /v1/batch, 500 track messages per request: events/s (8 conns)', fmt(eps('batch')), vs('events'), `${ratio('batch', 'events').toFixed(2)}×`);
  row('segment: /v1/batch gzip (RudderStack), 500 per request: events/s', fmt(eps('gzip')), vs('events'), `${ratio('gzip', 'events').toFixed(2)}×`);
  row(
    'segment: /v1/batch vs /v1/events without time, 500 per request',
    fmt(eps('batch')),
    `${fmt(eps('eventsNoTime'))} (no time)`,
    `${ratio('batch', 'eventsNoTime').toFixed(2)}×`,
  );
  row('segment: p50 / p99 ms, 500 per request: batch / events', lat('batch'), lat('events'), '');
  row(
    'segment: /v1/batch, 20 per request: events/s (32 conns)',
    fmt(eps('smallBatch')),
    vs('smallEvents'),
    `${ratio('smallBatch', 'smallEvents').toFixed(2)}×`,
  );
  return {
    eventsPerSecond: Object.fromEntries((Object.keys(runs) as Variant[]).map((v) => [v, eps(v)])),
    ratio: {
      batch: ratio('batch', 'events'),
      gzip: ratio('gzip', 'events'),
      batchVsNoTime: ratio('batch', 'eventsNoTime'),
      small: ratio('smallBatch', 'smallEvents'),
    },
    bodyBytesPerEvent: { events: eventsBody(500, true).length / 500, eventsNoTime: eventsBody(500, false).length / 500, batch: segmentBody(500).length / 500 },
    runs,
  };
}
