/**
 * `npm run bench -- --only=catalog` (about three minutes; `--quick` 20,000 items, about one): full
 * catalog sync with change detection (issue 15) through the compiled API and worker, against the
 * simulator enforcing Klaviyo's catalog limits (75/s, 750/min per bulk job operation; their GETs
 * as the spec says; ≤ 100 per job; 500 jobs in progress).
 *
 *   1. first full sync of N items (NDJSON, one request): time until the simulator holds all N, and
 *      that rate as a share of the ceiling, 750 requests/min × 100 items = 75,000 items/min;
 *   2. the same feed again, unchanged: Klaviyo calls made (target 0) and the request's time;
 *   3. the feed with 1,000 items changed: Klaviyo calls made (10 bulk update jobs and their polls).
 *
 * Direct mode (a Klaviyo private key): through Maton the gateway's 10 requests/s for every call
 * (600/min, shared by the job POSTs and their polls) would be the ceiling instead.
 */
import { BENCH_KEY, relayEnv, startApi, startRedis, startSim, startWorker, stopAll } from './procs.ts';
import { waitUntil } from '../../test/support/wait.ts';
import { bullPrefix } from '../../src/redis-keys.ts';

type Row = (metric: string, ours: string, baseline: string, ratio: string) => void;

const KLAVIYO_KEY = 'pk_bench_catalog';
const CEILING_ITEMS_PER_MIN = 750 * 100;

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

interface SimCatalog {
  items: number;
  jobs: number;
  inProgress: number;
  peakInProgress: number;
  refusedAtCap: number;
}

export interface CatalogResults {
  readonly items: number;
  readonly first: {
    readonly acceptSeconds: number;
    readonly seconds: number;
    readonly itemsPerMinute: number;
    readonly ofCeiling: number;
    readonly calls: number;
  };
  readonly unchanged: { readonly seconds: number; readonly calls: number };
  readonly changed: { readonly items: number; readonly seconds: number; readonly calls: number; readonly posts: number };
  readonly throttled: number;
  readonly peakJobsInProgress: number;
}

function feed(n: number, changed: (i: number) => boolean = () => false): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(
      JSON.stringify({
        type: 'item',
        id: `SKU-${i}`,
        title: `Product ${i}${changed(i) ? ' (new)' : ''}`,
        description: `The product number ${i}, in a catalog of ${n}.`,
        url: `https://shop.example/p/${i}`,
        price: 5 + (i % 200),
        image_full_url: `https://cdn.shop.example/p/${i}.jpg`,
        published: true,
      }),
    );
  }
  return Buffer.from(`${lines.join('\n')}\n`);
}

/** Catalog calls the simulator answered 2xx (POSTs of bulk jobs and GETs of them), and 429s. */
async function calls(simUrl: string): Promise<{ all: number; posts: number; throttled: number }> {
  const stats = (await (await fetch(`${simUrl}/__sim/stats`)).json()) as { requests: { byEndpoint: Record<string, Record<string, number>> } };
  let all = 0;
  let posts = 0;
  let throttled = 0;
  for (const [endpoint, byStatus] of Object.entries(stats.requests.byEndpoint)) {
    if (!/catalog|_variants_job$|_categories_job$/.test(endpoint)) continue;
    for (const [status, n] of Object.entries(byStatus)) {
      if (status.startsWith('2')) {
        all += n;
        if (endpoint.startsWith('bulk_')) posts += n;
      }
      if (status === '429') throttled += n;
    }
  }
  return { all, posts, throttled };
}

async function simCatalog(simUrl: string): Promise<SimCatalog | undefined> {
  const res = await fetch(`${simUrl}/__sim/catalog/${KLAVIYO_KEY}`);
  return res.ok ? ((await res.json()) as SimCatalog) : undefined;
}

async function post(apiUrl: string, body: Buffer): Promise<{ seconds: number; summary: Record<string, unknown> }> {
  const t0 = performance.now();
  const res = await fetch(`${apiUrl}/v1/catalog/sync`, {
    method: 'POST',
    headers: { authorization: `Bearer ${BENCH_KEY}`, 'content-type': 'application/x-ndjson' },
    body,
  });
  const summary = (await res.json()) as Record<string, unknown>;
  if (res.status !== 202) throw new Error(`sync answered ${res.status}: ${JSON.stringify(summary).slice(0, 300)}`);
  return { seconds: (performance.now() - t0) / 1000, summary };
}

export async function catalogScenario(opts: { quick: boolean; log: (s: string) => void; row: Row }): Promise<CatalogResults> {
  const { log, row } = opts;
  const n = opts.quick ? 20_000 : 100_000;
  const redis = await startRedis();
  const sim = await startSim(false);
  const { MATON_API_KEY: _k, MATON_GATEWAY_URL: _u, MATON_CONNECTION_ID: _c, ...base } = relayEnv(redis.url, sim.url);
  const env = {
    ...base,
    KLAVIYO_API_KEY: KLAVIYO_KEY,
    KLAVIYO_BASE_URL: sim.url,
    // One request carries the whole feed: give it time (the default 30 s is for ordinary requests).
    RELAY_HTTP_REQUEST_TIMEOUT_MS: '600000',
  };
  const api = await startApi(env);
  // The lane's catalog queue (src/queue-catalog.ts, src/redis-keys.ts): nothing waiting or active, and no job at the simulator in progress.
  const queue = `${bullPrefix('relay', 'catalog', 'default')}:catalog.default`;
  const relayDone = () =>
    waitUntil(
      'the relay to finish its catalog jobs',
      async () => {
        const [wait, active] = await Promise.all([redis.client.llen(`${queue}:wait`), redis.client.llen(`${queue}:active`)]);
        return wait === 0 && active === 0 && (await simCatalog(sim.url))?.inProgress === 0;
      },
      { timeoutMs: 20 * 60_000, intervalMs: 100 },
    );
  startWorker(env);
  try {
    // 1. First full sync.
    log(`catalog: first sync of ${fmt(n)} items`);
    const t0 = performance.now();
    const first = await post(api.url, feed(n));
    await waitUntil('the simulator to hold every item', async () => (await simCatalog(sim.url))?.items === n, { timeoutMs: 20 * 60_000, intervalMs: 250 });
    const firstSeconds = (performance.now() - t0) / 1000;
    // The simulator applies a job before the relay's poll sees it complete: count calls once the relay is done too.
    await relayDone();
    const afterFirst = await calls(sim.url);
    const itemsPerMinute = n / (firstSeconds / 60);

    // 2. The same feed: nothing changed. Waits 5 s after the answer for any late call.
    log('catalog: the same feed again');
    const again = await post(api.url, feed(n));
    await new Promise((r) => setTimeout(r, 5000));
    const afterUnchanged = await calls(sim.url);

    // 3. 1,000 items changed, spread over the feed.
    const step = Math.floor(n / 1000);
    log('catalog: 1,000 items changed');
    const t2 = performance.now();
    await post(
      api.url,
      feed(n, (i) => i % step === 0 && i / step < 1000),
    );
    await waitUntil('the changed items to be sent', async () => (await calls(sim.url)).posts - afterUnchanged.posts >= 10, {
      timeoutMs: 5 * 60_000,
      intervalMs: 100,
    });
    await relayDone();
    const changedSeconds = (performance.now() - t2) / 1000;
    const afterChanged = await calls(sim.url);
    const sc = (await simCatalog(sim.url))!;

    const results: CatalogResults = {
      items: n,
      first: { acceptSeconds: first.seconds, seconds: firstSeconds, itemsPerMinute, ofCeiling: itemsPerMinute / CEILING_ITEMS_PER_MIN, calls: afterFirst.all },
      unchanged: { seconds: again.seconds, calls: afterUnchanged.all - afterFirst.all },
      changed: { items: 1000, seconds: changedSeconds, calls: afterChanged.all - afterUnchanged.all, posts: afterChanged.posts - afterUnchanged.posts },
      throttled: afterChanged.throttled,
      peakJobsInProgress: sc.peakInProgress,
    };
    row(
      `catalog: first sync of ${fmt(n)} items — s (accepted in), items/min`,
      `${fmt(firstSeconds, 1)} s (${fmt(first.seconds, 1)} s), ${fmt(itemsPerMinute)}/min`,
      `${fmt(CEILING_ITEMS_PER_MIN)}/min ceiling`,
      `${(results.first.ofCeiling * 100).toFixed(0)}%`,
    );
    row('catalog: first sync — Klaviyo calls (job POSTs + polls)', fmt(afterFirst.all), `${fmt(Math.ceil(n / 100))} POSTs at least`, '');
    row('catalog: second sync, unchanged — Klaviyo calls, s', `${fmt(results.unchanged.calls)}, ${fmt(again.seconds, 2)} s`, 'target 0', '');
    row(
      'catalog: 1,000 changed — Klaviyo calls (POSTs), s',
      `${fmt(results.changed.calls)} (${fmt(results.changed.posts)}), ${fmt(changedSeconds, 1)} s`,
      '10 POSTs at least',
      '',
    );
    row('catalog: 429s received; most jobs in progress', `${fmt(results.throttled)}; ${fmt(results.peakJobsInProgress)}`, 'cap 500', '');
    return results;
  } finally {
    redis.client.disconnect();
    await stopAll();
  }
}
