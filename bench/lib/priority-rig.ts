/**
 * What both halves of the priority benchmark share: the rig (a private redis-server, the
 * simulator noting arrivals, the relay's API with two sources), the feed of arrival notes, a
 * drift-free once-a-second ticker and latency percentiles.
 *
 * The relay is configured only through its contract (issue 12, design §1): two sources in
 * RELAY_CONFIG by key digest, `backfill: true` / `X-Relay-Priority: bulk` for bulk work, and
 * `priorities: { enabled: false }` for the first-come-first-served comparison. A build without
 * priorities rejects that block (the config schema is strict), so the benchmark asks the build
 * first and, there, runs both halves as they are: FIFO twice, the "before" figure.
 */
import { hash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRelayConfig } from '../../src/relay-config.ts';
import type { Arrival } from './arrival-watch.ts';
import { CONNECTION, relayEnv, startApi, startRedis, startSim, type Proc } from './procs.ts';

/** Source A sends the import and live traffic; source B, another system on the same Klaviyo account, live traffic only. */
export const KEY_A = 'bench-source-a-import-and-live-key';
export const KEY_B = 'bench-source-b-live-only-key';
export const SOURCE_A = 'bench-a';
export const SOURCE_B = 'bench-b';

export type Mode = 'priorities' | 'fifo';

/** Whether this build knows RELAY_CONFIG `priorities` (issue 12); without it every run is FIFO. */
export function prioritiesSupported(): boolean {
  try {
    parseRelayConfig({ priorities: { enabled: false } }, {});
    return true;
  } catch {
    return false;
  }
}

/** The RELAY_CONFIG for a mode, and the one line that says how it differs from the defaults. */
export function relayConfig(mode: Mode, supported: boolean): { config: Record<string, unknown>; deviation: string } {
  const digest = (k: string) => hash('sha256', k, 'hex') as string;
  const config: Record<string, unknown> = {
    sources: [
      { name: SOURCE_A, keySha256: digest(KEY_A) },
      { name: SOURCE_B, keySha256: digest(KEY_B) },
    ],
  };
  if (mode === 'fifo' && supported) config['priorities'] = { enabled: false };
  const deviation =
    mode === 'fifo'
      ? supported
        ? 'priorities.enabled: false'
        : 'defaults (this build has no priorities)'
      : supported
        ? 'defaults'
        : 'defaults (this build has no priorities: FIFO)';
  return { config, deviation };
}

export interface Rig {
  redis: Awaited<ReturnType<typeof startRedis>>;
  sim: { url: string; proc: Proc };
  api: { url: string; proc: Proc };
  env: Record<string, string>;
  deviation: string;
}

export async function startRig(mode: Mode, supported: boolean): Promise<Rig> {
  const redis = await startRedis();
  const sim = await startSim(false, true);
  const { config, deviation } = relayConfig(mode, supported);
  const file = join(mkdtempSync(join(tmpdir(), 'relay-bench-priority-')), 'relay.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  const env = relayEnv(redis.url, sim.url, { RELAY_CONFIG: file });
  const api = await startApi(env);
  return { redis, sim, api, env, deviation };
}

export async function stopRig(rig: Rig, ...more: (Proc | undefined)[]): Promise<void> {
  rig.redis.client.disconnect();
  await Promise.all([...more.map((p) => p?.kill()), rig.api.proc.stop(), rig.sim.proc.stop(), rig.redis.proc.stop()]);
}

export interface FeedState {
  now: number;
  seq: number;
  eventCount: number;
  throttled: { gateway: number; klaviyo: number };
  byEndpoint: Record<string, Record<string, number>>;
}

/** The simulator's arrival notes, read incrementally. */
export class ArrivalFeed {
  private since = 0;
  private inFlight: Promise<FeedState> | undefined;
  readonly byKey = new Map<string, Arrival>();
  /** Live events Klaviyo holds, as of the last poll. */
  liveEvents = 0;
  last: FeedState | undefined;

  constructor(private readonly simUrl: string) {}

  /** One request at a time: the sampler and the waiters share it, and the cursor must not race. */
  poll(): Promise<FeedState> {
    this.inFlight ??= this.fetchNew().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async fetchNew(): Promise<FeedState> {
    const res = await fetch(`${this.simUrl}/__bench/arrivals?since=${this.since}&account=${encodeURIComponent(CONNECTION)}`);
    const body = (await res.json()) as FeedState & { arrivals: Arrival[] };
    for (const a of body.arrivals) {
      const key = `${a.kind}:${a.id}`;
      if (this.byKey.has(key)) continue;
      this.byKey.set(key, a);
      if (a.kind === 'event') this.liveEvents++;
    }
    this.since = body.seq;
    const { arrivals: _, ...state } = body;
    this.last = state;
    return state;
  }

  get(kind: Arrival['kind'], id: string): Arrival | undefined {
    return this.byKey.get(`${kind}:${id}`);
  }

  arrivals(): Arrival[] {
    return [...this.byKey.values()];
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/**
 * Calls `tick(k)` at start + k seconds for k = 0…count-1 without waiting for the previous tick's
 * work (a slow answer must not space the live stream out), until `stop()` says so. Resolves when
 * every tick's work has settled.
 */
export async function everySecond(count: number, stop: () => boolean, tick: (k: number) => Promise<void>): Promise<number> {
  const start = Date.now();
  const work: Promise<void>[] = [];
  let k = 0;
  for (; k < count; k++) {
    await sleep(start + k * 1000 - Date.now());
    if (stop()) break;
    const n = k;
    work.push(
      tick(n).catch((err) => {
        process.stderr.write(`[bench] live tick ${n}: ${(err as Error).message}\n`);
      }),
    );
  }
  await Promise.all(work);
  return k;
}

/** Runs `fn` once a second until `done()` or `maxMs`, then once more. */
export async function sampleEverySecond(done: () => boolean, maxMs: number, fn: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (!done() && Date.now() < deadline) {
    await fn();
    await sleep(1000);
  }
  await fn();
}

export interface Latencies {
  sent: number;
  delivered: number;
  /** Nearest-rank percentiles over every item sent; an item never delivered counts as slower than any (null). */
  p50: number | null;
  p95: number | null;
  max: number | null;
  /** Longest wait of an item not delivered by the end, measured to the end. */
  undeliveredWaitedMs: number;
}

/** `ms` per item: a number, or undefined for one not delivered (then `waited` is how long it had waited). */
export function latencies(items: { ms: number | undefined; waited: number }[]): Latencies {
  const sorted = items.map((i) => i.ms ?? Infinity).sort((a, b) => a - b);
  const rank = (q: number) => {
    if (sorted.length === 0) return null;
    const v = sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
    return Number.isFinite(v) ? v : null;
  };
  const missing = items.filter((i) => i.ms === undefined);
  return {
    sent: items.length,
    delivered: items.length - missing.length,
    p50: rank(0.5),
    p95: rank(0.95),
    max: rank(1),
    undeliveredWaitedMs: Math.max(0, ...missing.map((i) => i.waited)),
  };
}

/** `312 / 845 / 1,430` ms, with items not delivered stated instead of hidden. */
export function formatLatencies(l: Latencies): string {
  if (l.sent === 0) return '— (none sent)';
  const f = (v: number | null) => (v === null ? `>${Math.round(l.undeliveredWaitedMs / 1000)} s` : Math.round(v).toLocaleString('en-US'));
  const missing = l.sent - l.delivered;
  return `${f(l.p50)} / ${f(l.p95)} / ${f(l.max)} (n=${l.sent}${missing ? `, ${missing} not delivered` : ''})`;
}

export async function postJson(
  url: string,
  key: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; at: number; text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  // The 202 is the moment the answer arrives, before its (small) body is read.
  const at = Date.now();
  const text = await res.text();
  return { status: res.status, at, text };
}
