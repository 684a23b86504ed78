/**
 * Encryption at rest (issue 16, `--only=encryption`): the same ingest and delivery runs with job
 * payloads sealed (RELAY_PAYLOAD_KEYS set) and plain, alternated in one run so both see the same
 * (shared, noisy) machine. Reports each figure with sealing on as a ratio of the same figure off.
 *
 *   - ingest, 1-event requests (64 connections): requests/s, API CPU µs per request;
 *   - ingest, 1,000-event requests (8 connections): events/s;
 *   - delivery: a backlog drained by one worker — events/s and worker CPU ms per 1,000 events
 *     (CPU is the cost that matters: the drain's rate is capped by Klaviyo's limits, not by us);
 *   - Redis bytes per queued event;
 *   - and, on its own, what sealing and opening one event costs in CPU (in this process, no I/O):
 *     the part of the figures above that is encryption's, free of the machine's noise.
 */
import { randomBytes } from 'node:crypto';
import { PayloadCipher } from '../../src/payload-cipher.ts';
import { cpuMs } from './cpu.ts';
import { BENCH_KEY, delivered, load, relayEnv, simStats, startApi, startRedis, startSim, startWorker, stopAll } from './procs.ts';

interface Opts {
  readonly quick: boolean;
  readonly log: (msg: string) => void;
  readonly row: (metric: string, ours: string, baseline: string, ratio: string) => void;
}

interface Round {
  ingestRps: number;
  ingestCpuUsPerRequest: number;
  batchEventsPerSecond: number;
  deliveryEventsPerSecond: number;
  workerCpuMsPer1000: number;
  redisBytesPerEvent: number;
}

const auth = { authorization: `Bearer ${BENCH_KEY}` };
const singleBody = JSON.stringify({
  id: '{{id}}',
  event: 'Placed Order',
  profile: { email: 'ada@example.com', phone_number: '+15005550006' },
  properties: { OrderId: '1001', Items: ['Tea', 'Cup'], ShippingAddress: '1 Main St' },
  value: 29.99,
  value_currency: 'USD',
});
const batchBody = JSON.stringify({
  events: Array.from({ length: 1000 }, (_, i) => ({
    id: `{{id}}-${i}`,
    event: 'Placed Order',
    profile: { email: `user${i}@example.com` },
    properties: { OrderId: `{{id}}-${i}` },
    value: 10 + (i % 50),
  })),
});

async function round(sealed: boolean, quick: boolean, log: Opts['log']): Promise<Round> {
  const redis = await startRedis();
  const sim = await startSim(false);
  const extra: Record<string, string> = sealed ? { RELAY_PAYLOAD_KEYS: `bench:${randomBytes(32).toString('base64')}` } : {};
  const env = relayEnv(redis.url, sim.url, extra);
  const api = await startApi(env);
  const seconds = quick ? 4 : 12;
  log(`encryption ${sealed ? 'on' : 'off'}: ingest`);
  const c0 = cpuMs(api.proc.pid);
  const single = await load({ url: `${api.url}/v1/events`, connections: 64, duration: seconds, body: singleBody, headers: auth });
  const ingestCpuUsPerRequest = ((cpuMs(api.proc.pid) - c0) * 1000) / Math.max(1, single.requests);
  const memory = async () => Number(/used_memory:(\d+)/.exec(await redis.client.info('memory'))![1]);
  const before = await memory();
  const backlog = quick ? 30 : 100; // 1,000-event requests
  const t0 = Date.now();
  const batch = await load({ url: `${api.url}/v1/events`, connections: 8, duration: 600, amount: backlog, body: batchBody, headers: auth });
  const batchEventsPerSecond = (batch.requests * 1000) / ((Date.now() - t0) / 1000);
  const redisBytesPerEvent = ((await memory()) - before) / (batch.requests * 1000);
  // Everything accepted drains: the single-event requests' events and the backlog.
  const queued = single.requests - single.non2xx + batch.requests * 1000;
  log(`encryption ${sealed ? 'on' : 'off'}: delivery of ${queued} events`);
  const worker = startWorker(env);
  let first = 0;
  let w0 = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    const d = delivered(await simStats(sim.url));
    if (d > 0 && first === 0) {
      first = Date.now();
      w0 = cpuMs(worker.pid);
    }
    if (d >= queued) break;
    if (first && Date.now() - first > 10 * 60_000) throw new Error(`encryption bench: only ${d} of ${queued} delivered in 10 minutes`);
  }
  const deliverySeconds = (Date.now() - first) / 1000;
  const workerCpuMsPer1000 = ((cpuMs(worker.pid) - w0) / queued) * 1000;
  redis.client.disconnect();
  await stopAll();
  return {
    ingestRps: single.rps,
    ingestCpuUsPerRequest,
    batchEventsPerSecond,
    deliveryEventsPerSecond: queued / deliverySeconds,
    workerCpuMsPer1000,
    redisBytesPerEvent,
  };
}

/** CPU µs to seal and then open the bench's single event (what ingest and a worker each pay once per item). */
function sealOpenMicros(n: number): { sealUs: number; openUs: number; jsonUs: number } {
  const cipher = new PayloadCipher([{ id: 'bench', key: randomBytes(32) }]);
  const event = JSON.parse(singleBody) as Record<string, unknown>;
  const sealed = cipher.seal(event);
  for (let i = 0; i < 2000; i++) cipher.open(cipher.seal(event)); // warm up the JIT
  const perCall = (fn: () => unknown) => {
    const t = process.cpuUsage();
    for (let i = 0; i < n; i++) fn();
    const d = process.cpuUsage(t);
    return (d.user + d.system) / n;
  };
  const sealUs = perCall(() => cipher.seal(event));
  const openUs = perCall(() => cipher.open(sealed));
  // The plain path's own cost for the same payload: one JSON round trip.
  const jsonUs = perCall(() => JSON.parse(JSON.stringify(event)));
  return { sealUs, openUs, jsonUs };
}

export async function encryptionScenario({ quick, log, row }: Opts): Promise<{ off: Round[]; on: Round[]; micro: ReturnType<typeof sealOpenMicros> }> {
  const rounds = quick ? 1 : 2;
  const off: Round[] = [];
  const on: Round[] = [];
  // Alternated, so that both see the same conditions on a shared machine.
  for (let i = 0; i < rounds; i++) {
    off.push(await round(false, quick, log));
    on.push(await round(true, quick, log));
  }
  const median = (xs: Round[], k: keyof Round) => {
    const s = xs.map((x) => x[k]).sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const line = (metric: string, k: keyof Round, d = 0) => {
    const a = median(on, k);
    const b = median(off, k);
    row(`encryption on vs off: ${metric}`, f(a, d), f(b, d), `${(a / b).toFixed(2)}×`);
  };
  line('ingest, 1-event requests/s (64 conns)', 'ingestRps');
  line('ingest, API CPU µs per 1-event request', 'ingestCpuUsPerRequest');
  line('ingest, 1,000-event requests: events/s', 'batchEventsPerSecond');
  line('delivery: events/s (one worker, backlog)', 'deliveryEventsPerSecond');
  line('delivery: worker CPU ms per 1,000 events', 'workerCpuMsPer1000', 1);
  line('Redis bytes per queued event', 'redisBytesPerEvent');
  const micro = sealOpenMicros(quick ? 50_000 : 200_000);
  const apiUs = median(off, 'ingestCpuUsPerRequest');
  const workerUs = median(off, 'workerCpuMsPer1000'); // ms per 1,000 events = µs per event
  row(
    'encryption: CPU µs to seal one event (ingest)',
    f(micro.sealUs, 1),
    f(apiUs),
    `${((micro.sealUs / apiUs) * 100).toFixed(1)}% of a request's API CPU (off)`,
  );
  row(
    'encryption: CPU µs to open one event (worker)',
    f(micro.openUs, 1),
    f(workerUs),
    `${((micro.openUs / workerUs) * 100).toFixed(1)}% of an event's worker CPU (off)`,
  );
  row('encryption: for scale, a JSON round trip of the same event', f(micro.jsonUs, 1), '', '');
  return { off, on, micro };
}
