/**
 * Dead letters: the jobs BullMQ holds as failed, each keeping the items Klaviyo rejected (with its
 * error per item, `data.dead`) and any it never got to (`data.items`, when retries ran out), with
 * BullMQ's attempt history and the source that sent them.
 *
 * List and filter them (queue kind, lane, class, error code or status, source, time), look at one,
 * and replay one, a filtered set, or all: a replayed job goes back with all its items and through
 * the workers like any job — batching, the quota governor, Klaviyo's unique_id (so a replay never
 * counts twice). It goes back as bulk work — into its source's bulk queue — unless the replay asks
 * for `"priority": "live"`: a replay of a day's dead letters must not delay live traffic
 * (src/priority.ts). A dry run says what would be sent. Every replay is written to the audit stream.
 */
import type { Job } from 'bullmq';
import type { RedisClient as Redis } from '../redis.ts';
import { bulkCreateEventsBody, createEventBody } from '../klaviyo/event-payloads.ts';
import {
  decodeBackInStockItem,
  decodeEventItem,
  type ItemError,
  itemKeyOf,
  jobOrigin,
  type StoredBackInStockItem,
  type StoredCouponCodeItem,
  type StoredEventItem,
  type StoredItem,
  openJobData,
  type StoredJob,
} from '../job-data.ts';
import { backInStockBody } from '../klaviyo/back-in-stock-payloads.ts';
import { couponCodesBody } from '../klaviyo/coupon-payloads.ts';
import { JOB_KINDS, type JobKind, type Queues } from '../queues.ts';
import { jobRef, parseJobRef, replayJobId } from '../item-keys.ts';
import { queueName, queueRef, type QueueRef } from '../queue-catalog.ts';
import { itemKeyName } from '../redis-keys.ts';
import { repointJob } from '../dedupe-memory.ts';
import { replayClass, type PriorityClass } from '../priority.ts';
import { appendAudit } from './audit.ts';
import { recountQueuedBytes } from '../ingest/queued-bytes.ts';
import { luaScript } from '../lua/script.ts';
import { maskIdentifiers } from '../mask-pii.ts';

export interface DeadLetterFilter {
  readonly kind?: JobKind;
  readonly lane?: string;
  /** The class of the queue the dead letter is in. */
  readonly class?: PriorityClass;
  /** Klaviyo's error code (`invalid`, `duplicate_profile`, ...) or the origin (`network`, `timeout`, ...). */
  readonly code?: string;
  readonly status?: number;
  readonly source?: string;
  /** Failed at or after / before (ms since epoch). */
  readonly since?: number;
  readonly until?: number;
  /** Specific jobs, as "<queue>/<jobId>". */
  readonly ids?: readonly string[];
}

export interface DeadLetterSummary {
  /** "<queue>/<jobId>": the handle for show and replay. */
  readonly ref: string;
  readonly queue: string;
  readonly kind: JobKind;
  readonly lane: string;
  readonly class: PriorityClass;
  readonly jobId: string;
  readonly source: string;
  readonly acceptedAt: number;
  readonly failedAt: number;
  readonly attempts: number;
  readonly reason: string;
  /** Items in the dead letter: rejected by Klaviyo, plus any never delivered when retries ran out. */
  readonly items: number;
  readonly errors: readonly { readonly status: number; readonly origin: string; readonly code?: string; readonly detail?: string; readonly count: number }[];
}

type ItemsData = StoredJob<StoredItem>;

const SCAN_PAGE = 500;
/** A listing looks at no more than this many failed jobs per queue: the console must stay fast. */
const SCAN_LIMIT = 20_000;

function errorsOf(job: Job<ItemsData>): ItemError[] {
  const out: ItemError[] = (job.data.dead ?? []).map((d) => d.error);
  // Items left when retries ran out carry the last failure as the job's reason.
  if (job.data.items.length > 0) out.push({ status: 0, origin: 'relay', detail: job.failedReason, at: job.finishedOn ?? 0 });
  return out;
}

function summarize(q: QueueRef, job: Job<ItemsData>): DeadLetterSummary {
  const origin = jobOrigin(job.data);
  const groups = new Map<string, { status: number; origin: string; code?: string; detail?: string; count: number }>();
  for (const e of errorsOf(job)) {
    // Grouped by kind of failure; the first detail stands as the example (details often name the item).
    const key = `${e.status}|${e.origin}|${e.code ?? ''}`;
    const g = groups.get(key);
    if (g) g.count++;
    else groups.set(key, { status: e.status, origin: e.origin, code: e.code, detail: e.detail, count: 1 });
  }
  return {
    ref: jobRef(q, job.id!),
    queue: queueName(q),
    kind: q.kind,
    lane: q.lane,
    class: q.cls,
    jobId: job.id!,
    source: origin.source,
    acceptedAt: origin.acceptedAt,
    failedAt: job.finishedOn ?? 0,
    attempts: job.attemptsMade,
    reason: job.failedReason,
    items: job.data.items.length + (job.data.dead?.length ?? 0),
    errors: [...groups.values()],
  };
}

function matches(s: DeadLetterSummary, job: Job<ItemsData>, f: DeadLetterFilter): boolean {
  if (f.ids && !f.ids.includes(s.ref)) return false;
  if (f.class && s.class !== f.class) return false;
  if (f.source && s.source !== f.source) return false;
  if (f.since !== undefined && s.failedAt < f.since) return false;
  if (f.until !== undefined && s.failedAt >= f.until) return false;
  const errors = errorsOf(job);
  if (f.code && !errors.some((e) => e.code === f.code || e.origin === f.code)) return false;
  if (f.status !== undefined && !errors.some((e) => e.status === f.status)) return false;
  return true;
}

export interface DeadLetters {
  /** Newest first (ties by ref); `offset` skips that many of them, `next` is the offset of the page after. */
  list(filter: DeadLetterFilter, limit?: number, offset?: number): Promise<DeadLetterPage>;
  show(ref: string): Promise<(DeadLetterSummary & { data: unknown; stacktrace: string[] }) | undefined>;
  /** `priority`: the class the jobs go back as (default bulk, src/priority.ts). */
  replay(filter: DeadLetterFilter, opts: { dryRun: boolean; actor: string; priority?: PriorityClass }): Promise<ReplayResult>;
}

export interface DeadLetterPage {
  readonly total: number;
  readonly offset: number;
  readonly deadLetters: DeadLetterSummary[];
  /** More match than this page shows (before or after it). */
  readonly truncated: boolean;
  /** The offset of the next page, when there is one. */
  readonly next?: number;
}

export interface ReplayResult {
  readonly dryRun: boolean;
  /** The class the jobs went (or would go) back as. */
  readonly priority: PriorityClass;
  readonly jobs: number;
  readonly items: number;
  readonly refs: readonly string[];
  /** Dry run: the first requests that would be sent again, as Klaviyo would receive them. */
  readonly preview?: readonly { readonly ref: string; readonly endpoint: string; readonly body: unknown }[];
}

const REPOINT = luaScript({ name: 'dead-letter-repoint', keys: ['items[]'], args: ['from', 'legacyFrom', 'to'], reply: Number });

export interface DeadLetterOptions {
  /** False (the default): emails and phone numbers in what operators see are masked, as in the dashboard and the logs. */
  readonly showPii?: boolean;
  /** False (RELAY_CONFIG `priorities.enabled`): replays go back to the live queue of their source, as all work is live then. */
  readonly prioritiesEnabled?: boolean;
  /** KLAVIYO_REVISION: a dry run shows event bodies as they would be sent with it. */
  readonly revision: string;
  /** RELAY_AUDIT_KEEP_S: how long the audit stream keeps the replay's entry. */
  readonly auditKeepS?: number;
}

export function createDeadLetters(
  redis: Redis,
  queues: Queues,
  lanes: () => readonly string[],
  { showPii = false, prioritiesEnabled = true, revision, auditKeepS }: DeadLetterOptions,
): DeadLetters {
  REPOINT.define(redis);
  const view = <T>(x: T): T => (showPii ? x : (maskIdentifiers(x) as T));
  async function* failedJobs(filter: DeadLetterFilter): AsyncGenerator<{ q: QueueRef; job: Job<ItemsData>; summary: DeadLetterSummary }> {
    const wanted = (q: QueueRef) =>
      (!filter.kind || q.kind === filter.kind) && (!filter.lane || q.lane === filter.lane) && (!filter.class || q.cls === filter.class);
    const targets = filter.ids?.map(parseJobRef).filter((x) => x !== undefined);
    if (targets) {
      for (const t of targets) {
        if (!wanted(t.ref)) continue;
        const job = (await queues.get(t.ref).getJob(t.jobId)) as Job<ItemsData> | undefined;
        if (job && (await job.isFailed())) yield { q: t.ref, job, summary: summarize(t.ref, job) };
      }
      return;
    }
    for (const kind of filter.kind ? [filter.kind] : JOB_KINDS) {
      for (const lane of filter.lane ? [filter.lane] : lanes()) {
        for (const ref of await queues.catalog.list(kind, lane)) {
          if (!wanted(ref)) continue;
          const q = queues.get(ref);
          for (let start = 0; start < SCAN_LIMIT; start += SCAN_PAGE) {
            const page = (await q.getFailed(start, start + SCAN_PAGE - 1)) as Job<ItemsData>[];
            for (const job of page) if (job) yield { q: ref, job, summary: summarize(ref, job) };
            if (page.length < SCAN_PAGE) break;
          }
        }
      }
    }
  }

  /**
   * Moves a failed job to another queue of its kind and lane, with `data`: added there first, then
   * removed here, so a crash in between leaves the work twice (the items' unique_ids absorb it),
   * never nowhere.
   */
  async function move(job: Job<ItemsData>, from: QueueRef, to: QueueRef, data: ItemsData): Promise<void> {
    const target = queues.get(to);
    let id = job.id!;
    for (let n = 1; ; n++) {
      const there = await target.getJob(id);
      if (!there) break;
      // Already moved there by a replay that stopped before removing this one: done but for the removal.
      const state = await there.getState();
      if (state !== 'completed' && state !== 'failed') {
        await job.remove();
        return;
      }
      // The id is taken by a finished job of the same items: the replay gets an id of its own.
      if (n > 20) throw new Error(`cannot find a free job id in ${queueName(to)} for ${jobRef(from, job.id!)}`);
      id = replayJobId(job.id!, n);
    }
    await queues.catalog.register(to);
    await target.add(job.name, data, { jobId: id });
    // Accepted-but-not-finished work again, now in `to`: its bytes count in that queue's counter
    // (and its source's ledger, under the new job's key) until it finishes. Counted before the
    // old job is removed: a replay that stops in between and is run again finds the job already
    // moved and does not count it twice.
    await recountQueuedBytes(redis, queues.prefix, { id, data, queueQualifiedName: target.qualifiedName });
    // The dedupe memory names the job by its number (src/dedupe-memory.ts); a job queued before
    // issue 18 is named by its items' own keys.
    if (data.d !== undefined) await repointJob(redis, queues.prefix, from.kind, from.lane, data.d, jobRef(from, job.id!), jobRef(to, id));
    const keys = data.d !== undefined ? [] : data.items.map((it) => itemKeyName(queues.prefix, from.kind, from.lane, itemKeyOf(it)));
    if (keys.length > 0) {
      await REPOINT.run(redis, {
        keys: { items: keys },
        args: { from: jobRef(from, job.id!), legacyFrom: from.source === undefined ? job.id! : '', to: jobRef(to, id) },
      });
    }
    await job.remove();
  }

  return {
    async list(filter, limit = 100, offset = 0) {
      // Every match is summarised (a few hundred bytes each, at most SCAN_LIMIT per queue) so that
      // the page is the newest across all queues, not the first found in one of them.
      const all: DeadLetterSummary[] = [];
      for await (const { job, summary } of failedJobs(filter)) if (matches(summary, job, filter)) all.push(summary);
      all.sort((a, b) => b.failedAt - a.failedAt || (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
      const page = all.slice(offset, offset + limit);
      const end = offset + page.length;
      return { total: all.length, offset, deadLetters: page.map(view), truncated: all.length > page.length, ...(end < all.length ? { next: end } : {}) };
    },

    async show(ref) {
      const t = parseJobRef(ref);
      if (!t) return undefined;
      const job = (await queues.get(t.ref).getJob(t.jobId)) as Job<ItemsData> | undefined;
      if (!job || !(await job.isFailed())) return undefined;
      return view({ ...summarize(t.ref, job), data: openJobData(job.data), stacktrace: job.stacktrace ?? [] });
    },

    async replay(filter, { dryRun, actor, priority }) {
      const cls = replayClass(prioritiesEnabled, priority);
      const refs: string[] = [];
      const preview: { ref: string; endpoint: string; body: unknown }[] = [];
      let items = 0;
      for await (const { q, job, summary } of failedJobs(filter)) {
        if (!matches(summary, job, filter)) continue;
        const all = [...job.data.items, ...(job.data.dead ?? []).map((d) => d.item)];
        refs.push(summary.ref);
        items += all.length;
        if (dryRun) {
          if (preview.length < 5) preview.push(view({ ref: summary.ref, ...describeRequest(q.kind, all, revision) }));
          continue;
        }
        // Everything the job still owes goes back in, and it starts over with fresh attempts — in
        // the queue of its source and the replay's class (webhook jobs have one queue per lane).
        const data = { ...job.data, items: all, dead: [] };
        const to = queueRef(q.kind, q.lane, cls, jobOrigin(job.data).source);
        if (queueName(to) === queueName(q)) {
          await job.updateData(data);
          await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
          // Accepted-but-not-finished work again: its bytes count until it finishes (released then).
          await recountQueuedBytes(redis, queues.prefix, job);
        } else {
          await move(job, q, to, data);
        }
      }
      const result: ReplayResult = { dryRun, priority: cls, jobs: refs.length, items, refs, ...(dryRun ? { preview } : {}) };
      await appendAudit(
        redis,
        queues.prefix,
        { actor, action: dryRun ? 'replay.dry-run' : 'replay', filter, priority: cls, jobs: result.jobs, items },
        auditKeepS,
      );
      return result;
    },
  };
}

/** What Klaviyo would receive for these items (events: the exact body; others: the operations). */
function describeRequest(kind: JobKind, items: readonly StoredItem[], revision: string): { endpoint: string; body: unknown } {
  if (kind === 'events') {
    const events = (items as StoredEventItem[]).map(decodeEventItem).map((it) => ({ uniqueId: it.key, event: it.event }));
    if (events.length === 1) return { endpoint: 'create_event', body: createEventBody(events[0]!, revision) };
    return { endpoint: 'bulk_create_events', body: bulkCreateEventsBody(events, revision).body };
  }
  if (kind === 'back-in-stock') {
    const subs = (items as StoredBackInStockItem[]).map(decodeBackInStockItem);
    return {
      endpoint: 'create_back_in_stock_subscription',
      body: subs.length === 1 ? backInStockBody(subs[0]!.subscription) : subs.map((s) => backInStockBody(s.subscription)),
    };
  }
  if (kind === 'coupon-codes') return { endpoint: 'bulk_create_coupon_codes', body: couponCodesBody((items as StoredCouponCodeItem[]).map((it) => it.c)) };
  return { endpoint: kind === 'profiles' ? 'profile operations' : 'webhook rules', body: items };
}
