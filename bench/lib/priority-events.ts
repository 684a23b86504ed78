/**
 * Priority benchmark, events: a backfill backlog from source A (`backfill: true`, 1,000-event
 * requests) is queued, one worker process starts draining it, and from the first delivery on one
 * live event a second arrives from source A and one from source B (another key, same Klaviyo
 * account), for `liveS` seconds or until the backlog has drained (live traffic beside an empty
 * queue measures nothing). Measured:
 *   - each live event's latency: from its 202 to the moment the simulator accepted the call that
 *     carried it (lib/arrival-watch.ts); an event not delivered by the end counts as slower than
 *     any, and the end is bounded (a FIFO run waits for the backlog ahead of its live events);
 *   - bulk events delivered per second while live traffic ran, against the ceiling: 150 bulk
 *     calls a minute × 1,000 events, less the bulk calls that carried live events only;
 *   - 429s the simulator answered.
 */
import { ENDPOINTS } from '../../src/klaviyo/endpoints.ts';
import { LIVE_ID_PROPERTY, LIVE_METRIC } from './arrival-watch.ts';
import { peakRssMb } from './cpu.ts';
import { waitUntil } from '../../test/support/wait.ts';
import { load, startWorker, type Proc } from './procs.ts';
import {
  ArrivalFeed,
  everySecond,
  KEY_A,
  KEY_B,
  latencies,
  postJson,
  sampleEverySecond,
  startRig,
  stopRig,
  type Latencies,
  type Mode,
} from './priority-rig.ts';

export interface EventsRunOptions {
  backlog: number;
  liveS: number;
  log(msg: string): void;
}

export interface EventsRunResult {
  mode: Mode;
  settings: string;
  backlog: number;
  ingestEventsPerSecond: number;
  liveSeconds: number;
  /** The backlog ran dry before the live period ended (then the period ends there). */
  drainedDuringLive: boolean;
  latency: { all: Latencies; sourceA: Latencies; sourceB: Latencies };
  /** Live requests the API did not answer 202 (each is an error of the run). */
  liveRejected: number;
  liveAck: { p50: number | null; p95: number | null };
  /** How delivered live events travelled: single create_event calls, bulk calls of their own, bulk calls shared with backlog events. */
  liveRoutes: { createEvent: number; bulkOwn: number; bulkWithBacklog: number };
  bulk: { eventsPerSecond: number; windowSeconds: number; steady: boolean; ceiling: number; ofCeiling: number; liveOnlyBulkCalls: number };
  throttled: { gateway: number; klaviyo: number };
  /** Calls the simulator answered, per endpoint and status. */
  byEndpoint: Record<string, Record<string, number>>;
  workerPeakRssMb: number;
  samples: { t: number; bulk: number; live: number }[];
}

type Sent = { id: string; source: 'A' | 'B'; k: number; sentAt: number; status: number; t202?: number };

export function backfillBody(): string {
  const time = new Date(Date.now() - 86_400_000).toISOString();
  return JSON.stringify({
    events: Array.from({ length: 1000 }, (_, i) => ({
      id: `{{id}}-${i}`,
      event: 'Placed Order',
      profile: { email: `user${i}@example.com` },
      properties: { OrderId: `{{id}}-${i}` },
      value: 10 + (i % 50),
      time,
      backfill: true,
    })),
  });
}

export async function eventsRun(mode: Mode, supported: boolean, opts: EventsRunOptions): Promise<EventsRunResult> {
  const rig = await startRig(mode, supported);
  let worker: Proc | undefined;
  try {
    opts.log(`priority/events (${mode}: ${rig.deviation}): queueing a ${opts.backlog.toLocaleString('en-US')}-event backfill from source A`);
    const t = Date.now();
    const ingest = await load({
      url: `${rig.api.url}/v1/events`,
      connections: 8,
      duration: 600,
      amount: opts.backlog / 1000,
      body: backfillBody(),
      headers: { authorization: `Bearer ${KEY_A}` },
    });
    if (ingest.non2xx || ingest.errors || ingest.timeouts)
      throw new Error(`backlog ingest: ${ingest.non2xx} non-2xx, ${ingest.errors} errors, ${ingest.timeouts} timeouts`);
    const backlog = ingest.requests * 1000;
    const ingestEventsPerSecond = backlog / ((Date.now() - t) / 1000);

    const feed = new ArrivalFeed(rig.sim.url);
    worker = startWorker(rig.env);
    const t0 = await waitUntil('the first delivery', async () => (await feed.poll()).eventCount > 0 && Date.now(), { timeoutMs: 120_000, intervalMs: 50 });
    opts.log(`priority/events (${mode}): draining; live traffic for up to ${opts.liveS} s`);

    const samples: EventsRunResult['samples'] = [];
    let drainedAt: number | undefined;
    let finished = false;
    const sampler = sampleEverySecond(
      () => finished,
      60 * 60_000,
      async () => {
        const s = await feed.poll();
        const bulk = s.eventCount - feed.liveEvents;
        samples.push({ t: s.now - t0, bulk, live: feed.liveEvents });
        if (bulk >= backlog) drainedAt ??= s.now;
      },
    );

    const run = Date.now().toString(36);
    const sent: Sent[] = [];
    const sendLive = async (source: 'A' | 'B', k: number) => {
      const id = `live-${source}-${run}-${k}`;
      const entry: Sent = { id, source, k, sentAt: Date.now(), status: 0 };
      sent.push(entry);
      const body = { id, event: LIVE_METRIC, profile: { email: `live-${source.toLowerCase()}@bench.example` }, properties: { [LIVE_ID_PROPERTY]: id, seq: k } };
      const r = await postJson(`${rig.api.url}/v1/events`, source === 'A' ? KEY_A : KEY_B, body);
      entry.status = r.status;
      if (r.status === 202) entry.t202 = r.at;
      else opts.log(`live event ${id}: ${r.status} ${r.text.slice(0, 200)}`);
    };
    const liveStart = Date.now();
    await everySecond(
      opts.liveS,
      () => drainedAt !== undefined,
      async (k) => {
        await Promise.all([sendLive('A', k), sendLive('B', k)]);
      },
    );
    const liveEnd = Date.now();

    // Live events still on their way: a FIFO run's wait behind the rest of the backlog. Bounded:
    // the backlog left at about 2,000 events/s, plus a minute.
    const left = Math.max(0, backlog - ((feed.last?.eventCount ?? 0) - feed.liveEvents));
    const boundMs = Math.min(30 * 60_000, 60_000 + (left / 2000) * 1000);
    const waiting = () => sent.some((e) => e.t202 !== undefined && !feed.get('event', e.id));
    if (waiting()) {
      opts.log(`priority/events (${mode}): waiting up to ${Math.round(boundMs / 1000)} s for live events still queued`);
      // What has not arrived by then counts as never delivered (see latencies): no failure here.
      await waitUntil(
        'the live events still queued',
        async () => {
          await feed.poll();
          return !waiting();
        },
        { timeoutMs: boundMs, intervalMs: 500 },
      ).catch(() => undefined);
    }
    finished = true;
    await sampler;
    const end = Date.now();
    const workerPeakRssMb = peakRssMb(worker.pid);

    const lat = (which?: 'A' | 'B') =>
      latencies(
        sent
          .filter((e) => e.t202 !== undefined && (which === undefined || e.source === which))
          .map((e) => {
            const a = feed.get('event', e.id);
            return { ms: a ? a.at - e.t202! : undefined, waited: end - e.t202! };
          }),
      );
    const ackLat = latencies(sent.filter((e) => e.t202 !== undefined).map((e) => ({ ms: e.t202! - e.sentAt, waited: 0 })));

    const arrived = feed.arrivals().filter((a) => a.kind === 'event');
    const liveRoutes = {
      createEvent: arrived.filter((a) => a.endpoint === 'create_event').length,
      bulkOwn: arrived.filter((a) => a.endpoint === 'bulk_create_events' && a.callItems === a.callLiveItems).length,
      bulkWithBacklog: arrived.filter((a) => a.endpoint === 'bulk_create_events' && a.callItems > a.callLiveItems).length,
    };

    // Bulk delivery while live traffic ran (and the backlog lasted). Steady state: whole minutes
    // after the drain's first one, whose unused burst budget lets any drain start faster than the
    // ceiling; a run too short for one whole such minute reports its whole period, labelled so.
    const measureEnd = Math.min(liveEnd, drainedAt ?? Infinity) - t0;
    const inLive = samples.filter((s) => s.t <= measureEnd + 500);
    const from = inLive.find((s) => s.t >= 61_000);
    const windows = from ? Math.floor((measureEnd - from.t) / 60_000) : 0;
    const steady = windows >= 1;
    const a = steady ? from! : inLive[0]!;
    const b = steady ? (inLive.find((s) => s.t >= from!.t + windows * 60_000) ?? inLive[inLive.length - 1]!) : inLive[inLive.length - 1]!;
    const windowSeconds = (b.t - a.t) / 1000;
    const liveOnlyCalls = new Set(
      arrived.filter((x) => x.endpoint === 'bulk_create_events' && x.callItems === x.callLiveItems && x.at - t0 >= a.t && x.at - t0 <= b.t).map((x) => x.call),
    ).size;
    const spec = ENDPOINTS.bulk_create_events;
    const ceiling = windowSeconds > 0 ? (spec.steady / 60 - liveOnlyCalls / windowSeconds) * spec.maxItems! : 0;
    const eventsPerSecond = windowSeconds > 0 ? (b.bulk - a.bulk) / windowSeconds : 0;

    return {
      mode,
      settings: rig.deviation,
      backlog,
      ingestEventsPerSecond,
      liveSeconds: (liveEnd - liveStart) / 1000,
      drainedDuringLive: drainedAt !== undefined && drainedAt <= liveEnd,
      latency: { all: lat(), sourceA: lat('A'), sourceB: lat('B') },
      liveRejected: sent.filter((e) => e.status !== 202).length,
      liveAck: { p50: ackLat.p50, p95: ackLat.p95 },
      liveRoutes,
      bulk: { eventsPerSecond, windowSeconds, steady, ceiling, ofCeiling: ceiling > 0 ? eventsPerSecond / ceiling : 0, liveOnlyBulkCalls: liveOnlyCalls },
      throttled: feed.last?.throttled ?? { gateway: 0, klaviyo: 0 },
      byEndpoint: feed.last?.byEndpoint ?? {},
      workerPeakRssMb,
      samples,
    };
  } finally {
    await stopRig(rig, worker);
  }
}
