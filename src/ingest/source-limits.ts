/**
 * Per-source limits at ingest (RELAY_CONFIG `limits:` on a source, on `klaviyoWebhooks`, on a
 * flow): one source's flood must not fill Redis or crowd out the others. Over a limit the request
 * gets 429 with Retry-After and nothing of it is enqueued; other sources are not affected.
 *
 *  - `eventsPerSecond` (+ `burst`): a GCRA token bucket in Redis per source, counted in items
 *    (events, order events, profile operations, list members, webhook items). The bucket holds
 *    `burst` items (default one second's worth) and refills at the rate. A request larger than the
 *    burst is taken only when the bucket is full, and the source then waits until it has refilled:
 *    any request size fits, and over time the rate holds.
 *  - `queuedBytes`: the bytes of the source's accepted work not yet delivered (src/ingest/queued-bytes.ts).
 *    A request is refused while the source has work queued and the request would take it past the
 *    limit (so one request larger than the whole limit still goes through an empty queue).
 *
 * Both are checked in one Lua call, on keys in the source's own hash tag (`{src:<id>}`): one Redis
 * round trip per request of a limited source; a source without limits costs nothing. The clock is
 * Redis's (TIME), so API processes on several machines share one bucket without trusting their
 * clocks. Limits protect; they must not turn a Redis hiccup into an outage: if the check fails or
 * takes longer than `timeoutMs`, the request goes on (the spool and backpressure still bound it).
 */
import type { Logger } from '../log.ts';
import type { RedisClient as Redis } from '../redis.ts';
import type { IngestLimits, RelayFile } from '../relay-config.ts';
import { configSourceId, flowSource, KLAVIYO_WEBHOOK_SOURCE } from '../sources.ts';
import { defineQueuedBytesCommands, pruneSourceLedger, sourceQueuedBytes } from './queued-bytes.ts';
import { sourceBytesKey, sourcePruneLockKey, sourceRateKey } from '../redis-keys.ts';

export interface LimitedSource {
  readonly id: string;
  /** For messages and metric labels (never a key). */
  readonly name: string;
  readonly limits: IngestLimits;
}

export type LimitName = 'rate' | 'queued_bytes';

export class SourceLimitedError extends Error {
  override readonly name = 'SourceLimitedError';
  constructor(
    message: string,
    readonly limit: LimitName,
    readonly source: string,
    readonly retryAfterS: number,
  ) {
    super(message);
  }
  get code(): string {
    return this.limit === 'rate' ? 'source_rate_limited' : 'source_queue_full';
  }
}

export interface SourceLimitStatus {
  readonly source: string;
  readonly eventsPerSecond?: number;
  readonly burst?: number;
  readonly queuedBytesLimit?: number;
  /** Only counted for a source with a `queuedBytes` limit. */
  readonly queuedBytes?: number;
}

export interface SourceLimiter {
  /**
   * Resolves when the request may be enqueued, rejects with SourceLimitedError when it may not;
   * undefined (nothing to wait for) for a source without limits.
   */
  admit(sourceId: string, items: number, bytes: number): Promise<void> | undefined;
  /** Whether ingest keeps this source's queued-bytes ledger. */
  countsBytes(sourceId: string): boolean;
  status(): Promise<SourceLimitStatus[]>;
  stop(): void;
}

/** Every source RELAY_CONFIG gives limits to, by the id its work carries. */
export function limitedSources(file: RelayFile): LimitedSource[] {
  const out: LimitedSource[] = [];
  for (const s of file.sources) if (s.limits) out.push({ id: configSourceId(s.name), name: s.name, limits: s.limits });
  if (file.klaviyoWebhooks?.limits) out.push({ id: KLAVIYO_WEBHOOK_SOURCE, name: KLAVIYO_WEBHOOK_SOURCE, limits: file.klaviyoWebhooks.limits });
  for (const [name, f] of Object.entries(file.flows)) if (f.limits) out.push({ id: flowSource(name), name: flowSource(name), limits: f.limits });
  return out;
}

/** The bucket holds this many items: `burst`, or one second's worth. */
export const burstOf = (l: IngestLimits): number => l.burst ?? Math.max(1, Math.ceil(l.eventsPerSecond ?? 1));

/** A full source is told to come back after this long: its work drains at Klaviyo's pace. */
export const QUEUE_FULL_RETRY_AFTER_S = 5;

// KEYS: the GCRA's theoretical arrival time (ms, Redis clock), the source's queued bytes.
// ARGV: items, ms per item (0 = no rate limit), burst tolerance (ms), queued-bytes limit (0 =
// none), the request's bytes. Returns {0} accepted, {1, ms to wait} over the rate, {2, queued
// bytes} over the queued-bytes limit. The bytes are checked first: a refused request spends no
// tokens.
const ADMIT = `
local limit = tonumber(ARGV[4])
if limit > 0 then
  local queued = tonumber(redis.call('GET', KEYS[2]) or '0')
  if queued > 0 and queued + tonumber(ARGV[5]) > limit then return {2, queued} end
end
local per = tonumber(ARGV[2])
if per > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat < now then tat = now end
  local cost = tonumber(ARGV[1]) * per
  local tau = tonumber(ARGV[3])
  if tat > now and tat + cost - now > tau then
    -- until the request fits in the bucket, or (larger than the bucket) until the bucket is full
    return {1, math.ceil(tat - now + math.min(cost - tau, 0))}
  end
  local tat2 = tat + cost
  redis.call('SET', KEYS[1], string.format('%.3f', tat2), 'PX', math.ceil(tat2 - now) + 1000)
end
return {0, 0}
`;

type AdmitRedis = Redis & { relaySourceAdmit(rate: string, bytes: string, ...args: (string | number)[]): Promise<[number, number]> };

export interface SourceLimiterOptions {
  /** How often the queued-bytes ledgers are pruned of finished jobs (one API process at a time). */
  readonly pruneEveryMs?: number;
  /** A check slower than this lets the request through. */
  readonly timeoutMs?: number;
}

export function createSourceLimiter(
  redis: Redis,
  prefix: string,
  sources: readonly LimitedSource[],
  log: Logger,
  opts: SourceLimiterOptions = {},
): SourceLimiter {
  const byId = new Map(sources.map((s) => [s.id, s]));
  const timeoutMs = opts.timeoutMs ?? 1000;
  const pruneEveryMs = opts.pruneEveryMs ?? 10_000;
  // Defined now, before traffic: a command defined while an auto-pipeline is pending breaks it (see defineQueuedBytesCommands).
  if (!('relaySourceAdmit' in redis)) redis.defineCommand('relaySourceAdmit', { lua: ADMIT, numberOfKeys: 2 });
  defineQueuedBytesCommands(redis);
  const r = redis as AdmitRedis;

  async function check(s: LimitedSource, items: number, bytes: number): Promise<void> {
    const l = s.limits;
    const per = l.eventsPerSecond ? 1000 / l.eventsPerSecond : 0;
    let timer: NodeJS.Timeout | undefined;
    let verdict: [number, number];
    try {
      verdict = await Promise.race([
        r.relaySourceAdmit(sourceRateKey(prefix, s.id), sourceBytesKey(prefix, s.id), items, per, burstOf(l) * per, l.queuedBytes ?? 0, Math.round(bytes)),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs))),
      ]);
    } catch (err) {
      log.debug({ err: err instanceof Error ? err.message : String(err), source: s.name }, 'could not check the source limits; the request goes on');
      return;
    } finally {
      clearTimeout(timer);
    }
    const [code, value] = verdict;
    if (code === 1) {
      const wait = Math.max(1, Math.ceil(value / 1000));
      throw new SourceLimitedError(
        `Source ${JSON.stringify(s.name)} is over its rate limit (limits.eventsPerSecond: ${l.eventsPerSecond}, burst ${burstOf(l)} items); this request's ${items} items were not accepted. Retry after ${wait} s with the same ids`,
        'rate',
        s.name,
        wait,
      );
    }
    if (code === 2) {
      throw new SourceLimitedError(
        `Source ${JSON.stringify(s.name)} has ${value} bytes of work queued and not yet delivered; with this request's ${Math.round(bytes)} bytes it would pass its limit (limits.queuedBytes: ${l.queuedBytes}). Nothing was accepted; retry after ${QUEUE_FULL_RETRY_AFTER_S} s with the same ids`,
        'queued_bytes',
        s.name,
        QUEUE_FULL_RETRY_AFTER_S,
      );
    }
  }

  // Ledgers lose entries to workers that died before releasing and to jobs removed by hand; each
  // API process tries every `pruneEveryMs`, and a lock lets one of them do it.
  const withBytes = sources.filter((s) => s.limits.queuedBytes !== undefined);
  const cursors = new Map<string, string>();
  let pruning = false;
  const timer =
    withBytes.length > 0
      ? setInterval(async () => {
          if (pruning) return;
          pruning = true;
          try {
            for (const s of withBytes) {
              const lock = await redis.set(sourcePruneLockKey(prefix, s.id), '1', 'PX', pruneEveryMs, 'NX');
              if (lock !== 'OK') continue;
              const { cursor, released } = await pruneSourceLedger(redis, prefix, s.id, cursors.get(s.id) ?? '0');
              cursors.set(s.id, cursor);
              if (released > 0) log.info({ source: s.name, bytes: released }, 'released queued bytes of jobs that finished without being released');
            }
          } catch (err) {
            log.debug({ err: err instanceof Error ? err.message : String(err) }, 'queued-bytes ledger prune skipped');
          } finally {
            pruning = false;
          }
        }, pruneEveryMs)
      : undefined;
  timer?.unref();

  return {
    admit(sourceId, items, bytes) {
      const s = byId.get(sourceId);
      if (!s || items === 0) return undefined;
      return check(s, items, bytes);
    },
    countsBytes: (sourceId) => byId.get(sourceId)?.limits.queuedBytes !== undefined,
    async status() {
      return Promise.all(
        sources.map(
          async (s): Promise<SourceLimitStatus> => ({
            source: s.name,
            ...(s.limits.eventsPerSecond !== undefined ? { eventsPerSecond: s.limits.eventsPerSecond, burst: burstOf(s.limits) } : {}),
            ...(s.limits.queuedBytes !== undefined
              ? { queuedBytesLimit: s.limits.queuedBytes, queuedBytes: await sourceQueuedBytes(redis, prefix, s.id) }
              : {}),
          }),
        ),
      );
    },
    stop: () => clearInterval(timer),
  };
}
