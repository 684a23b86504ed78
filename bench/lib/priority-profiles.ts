/**
 * Priority benchmark, profiles: a bulk profile import from source A (`POST /v1/profiles`,
 * 1,000 profiles a request, `X-Relay-Priority: bulk`) is queued, one worker process starts
 * draining it, and from the first imported profile on one live list subscribe a second
 * (`POST /v1/lists/{id}/members` with email consent) arrives from source B, until the import has
 * drained or `maxS` seconds. The subscribes alternate between
 *   - a new profile (nothing of it pending), and
 *   - a profile near the end of the import, whose import operation is still pending: per-profile
 *     order says the import must be applied first (the relay promotes it rather than make the
 *     subscribe wait for the whole import); the simulator notes whether it was.
 * Latency: from the 202 to the moment the simulator applied the subscribe.
 */
import { IMPORT_PROPERTY } from './arrival-watch.ts';
import { peakRssMb } from './cpu.ts';
import { waitUntil } from '../../test/support/wait.ts';
import { CONNECTION, startWorker, type Proc } from './procs.ts';
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

export interface ProfilesRunOptions {
  profiles: number;
  maxS: number;
  log(msg: string): void;
}

export type SubscribeTarget = 'new' | 'pendingImport' | 'alreadyImported';

export interface ProfilesRunResult {
  mode: Mode;
  settings: string;
  profiles: number;
  /** From the worker's start to the last imported profile; null if it had not drained by the end. */
  importSeconds: number | null;
  importProfilesPerSecond: number | null;
  liveSeconds: number;
  latency: Record<SubscribeTarget, Latencies>;
  /** Subscribes to a profile with a pending import operation that Klaviyo saw before that import. */
  orderViolations: number;
  subscribeRejected: number;
  throttled: { gateway: number; klaviyo: number };
  /** Calls the simulator answered, per endpoint and status. */
  byEndpoint: Record<string, Record<string, number>>;
  workerPeakRssMb: number;
  samples: { t: number; imported: number }[];
}

/** Klaviyo list ids are 6+ letters and digits. */
export const BENCH_LIST = 'Bench1List';
const importEmail = (i: number) => `imp${i}@import.bench.example`;

export async function profilesRun(mode: Mode, supported: boolean, opts: ProfilesRunOptions): Promise<ProfilesRunResult> {
  const rig = await startRig(mode, supported);
  let worker: Proc | undefined;
  const sim = rig.sim.url;
  const account = encodeURIComponent(CONNECTION);
  const importedCount = async () => ((await (await fetch(`${sim}/__bench/imported?account=${account}`)).json()) as { imported: number }).imported;
  const isImported = async (email: string) =>
    ((await (await fetch(`${sim}/__bench/imported?account=${account}&email=${encodeURIComponent(email)}`)).json()) as { imported: boolean }).imported;
  try {
    opts.log(`priority/profiles (${mode}: ${rig.deviation}): queueing a ${opts.profiles.toLocaleString('en-US')}-profile bulk import from source A`);
    const run = Date.now().toString(36);
    const chunks = Math.ceil(opts.profiles / 1000);
    let next = 0;
    // Four requests at a time, each 1,000 profiles: the import a shop's sync would send.
    const importer = async () => {
      for (let c = next++; c < chunks; c = next++) {
        const profiles = [];
        for (let i = c * 1000; i < Math.min(opts.profiles, (c + 1) * 1000); i++)
          profiles.push({ id: `imp-${run}-${i}`, email: importEmail(i), first_name: 'Imported', properties: { [IMPORT_PROPERTY]: i } });
        const r = await postJson(`${rig.api.url}/v1/profiles`, KEY_A, { profiles }, { 'x-relay-priority': 'bulk' });
        if (r.status !== 202) throw new Error(`profile import request ${c}: ${r.status} ${r.text.slice(0, 300)}`);
      }
    };
    await Promise.all([importer(), importer(), importer(), importer()]);

    const feed = new ArrivalFeed(sim);
    worker = startWorker(rig.env);
    const workerStart = Date.now();
    const t0 = await waitUntil('the first imported profile', async () => (await importedCount()) > 0 && Date.now(), { timeoutMs: 120_000, intervalMs: 50 });
    opts.log(`priority/profiles (${mode}): importing; live subscribes for up to ${opts.maxS} s`);

    const samples: ProfilesRunResult['samples'] = [];
    let drainedAt: number | undefined;
    let finished = false;
    const sampler = sampleEverySecond(
      () => finished,
      60 * 60_000,
      async () => {
        const n = await importedCount();
        samples.push({ t: Date.now() - t0, imported: n });
        if (n >= opts.profiles) drainedAt ??= Date.now();
        await feed.poll();
      },
    );

    type Sub = { email: string; target: SubscribeTarget; status: number; t202?: number };
    const subs: Sub[] = [];
    const liveStart = Date.now();
    await everySecond(
      opts.maxS,
      () => drainedAt !== undefined,
      async (k) => {
        const fromImport = k % 2 === 1 && (k - 1) / 2 < opts.profiles;
        const email = fromImport ? importEmail(opts.profiles - 1 - (k - 1) / 2) : `sub${k}-${run}@live.bench.example`;
        const target: SubscribeTarget = !fromImport ? 'new' : (await isImported(email)) ? 'alreadyImported' : 'pendingImport';
        const entry: Sub = { email, target, status: 0 };
        subs.push(entry);
        const r = await postJson(`${rig.api.url}/v1/lists/${BENCH_LIST}/members`, KEY_B, {
          id: `sub-${run}-${k}`,
          profiles: [{ email }],
          consent: { email: true },
        });
        entry.status = r.status;
        if (r.status === 202) entry.t202 = r.at;
        else opts.log(`live subscribe ${k}: ${r.status} ${r.text.slice(0, 200)}`);
      },
    );
    const liveEnd = Date.now();

    // Subscribes still queued (a FIFO run's wait behind the import). Bounded: the import left at
    // the rate seen so far (at least 100 profiles/s), plus a minute.
    const last = samples[samples.length - 1];
    const rate = last && last.t > 0 ? Math.max(100, last.imported / (last.t / 1000)) : 100;
    const boundMs = Math.min(30 * 60_000, 60_000 + ((opts.profiles - (last?.imported ?? 0)) / rate) * 1000);
    const waiting = () => subs.some((s) => s.t202 !== undefined && !feed.get('subscribe', s.email));
    if (waiting()) {
      opts.log(`priority/profiles (${mode}): waiting up to ${Math.round(boundMs / 1000)} s for subscribes still queued`);
      // What has not arrived by then counts as never delivered (see latencies): no failure here.
      await waitUntil(
        'the subscribes still queued',
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

    const lat = (target: SubscribeTarget) =>
      latencies(
        subs
          .filter((s) => s.t202 !== undefined && s.target === target)
          .map((s) => {
            const a = feed.get('subscribe', s.email);
            return { ms: a ? a.at - s.t202! : undefined, waited: end - s.t202! };
          }),
      );
    const importSeconds = drainedAt !== undefined ? (drainedAt - workerStart) / 1000 : null;
    return {
      mode,
      settings: rig.deviation,
      profiles: opts.profiles,
      importSeconds,
      importProfilesPerSecond: importSeconds ? opts.profiles / importSeconds : null,
      liveSeconds: (liveEnd - liveStart) / 1000,
      latency: { new: lat('new'), pendingImport: lat('pendingImport'), alreadyImported: lat('alreadyImported') },
      orderViolations: subs.filter((s) => s.target === 'pendingImport' && feed.get('subscribe', s.email)?.imported === false).length,
      subscribeRejected: subs.filter((s) => s.status !== 202).length,
      throttled: feed.last?.throttled ?? { gateway: 0, klaviyo: 0 },
      byEndpoint: feed.last?.byEndpoint ?? {},
      workerPeakRssMb,
      samples,
    };
  } finally {
    await stopRig(rig, worker);
  }
}
