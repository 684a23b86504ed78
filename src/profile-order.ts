/**
 * Per-profile order: operations on one profile take effect in the order they were received
 * (upsert before list add; subscribe then unsubscribe ends unsubscribed), without holding up
 * any other profile.
 *
 * At ingest every profile operation gets a sequence number from one counter per lane and joins
 * its profile's pending set (a sorted set scored by that number). A worker may apply an item only
 * while it is the lowest entry of its profile's set, and removes it once the item is delivered or
 * dead-lettered; an item that is not first waits (its job is delayed, spending no attempt). An
 * earlier item that is retrying holds the later ones back — that is the point.
 *
 * Entries cannot block forever: an entry whose job finished (completed or failed for good) or
 * never got added (a crash between this step and the job add; after a grace period) is dropped
 * by the first worker that finds it in the way.
 *
 * The order is per lane, across classes and sources (issue 12): the pending sets, the counter and
 * every queue of the lane's profiles share one hash tag. A live operation behind an earlier bulk
 * one does not wait for the bulk job's turn: it promotes that operation (see below). A member names its job as
 * `<queue>/<jobId>|<item key>|<ms>`; members written before queues were split by class name a job
 * of the legacy queue as `<jobId>|<item key>|<ms>` and are still understood.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { RedisClient as Redis } from './redis.ts';
import { primaryIdentifier, type ProfileRef } from './model/profile-operation.ts';
import type { PlannedJob } from './ingest/enqueue.ts';
import { luaScript } from './lua/script.ts';
import type { ItemError, ProfilesJobData, StoredProfileItem } from './job-data.ts';
import type { Queues } from './queues.ts';
import type { QueueRef } from './queue-catalog.ts';
import { itemKeyOfPendingMember, pendingMember } from './item-keys.ts';
import { legacyJobKeyPrefix, PROMOTED_FIELD, pendingSetKey, profileSeqKey } from './redis-keys.ts';

/** A crash between joining the pending set and adding the job leaves an entry with no job; this long it is given. */
export const ORPHAN_GRACE_MS = 60_000;

export function profileOrderKey(lane: string, ref: ProfileRef): string {
  const id = primaryIdentifier(ref);
  if (!id) throw new TypeError('a profile operation needs an identifier');
  return createHash('sha256').update(`${lane}\n${id.field}\n${id.value}`).digest().subarray(0, 12).toString('base64url');
}

export function pendingKey(queues: Queues, lane: string, pk: string): string {
  return pendingSetKey(queues.prefix, lane, pk);
}

/** Ingest side: number the items in arrival order and enter them in their profiles' pending sets. */
export async function enterPending(redis: Redis, queues: Queues, ref: QueueRef, jobs: readonly PlannedJob<StoredProfileItem>[]): Promise<void> {
  const lane = ref.lane;
  const n = jobs.reduce((a, j) => a + j.items.length, 0);
  if (n === 0) return;
  const last = await redis.incrby(profileSeqKey(queues.prefix, lane), n);
  let seq = last - n;
  const now = Date.now();
  const pipe = redis.pipeline();
  for (const job of jobs) {
    for (const item of job.items) {
      item.seq = ++seq;
      item.m = pendingMember(ref, job.jobId, item.k, now);
      pipe.zadd(pendingKey(queues, lane, item.pk), seq, item.m);
    }
  }
  const results = await pipe.exec();
  const failed = results?.find(([err]) => err);
  if (failed) throw failed[0];
}

/**
 * Promotion (issue 12). A live operation whose profile has an earlier operation pending in a bulk
 * queue would otherwise wait for that bulk job's turn — the whole import ahead of it. Instead the
 * live worker claims the earlier item and applies it first, through the live path, then its own.
 *
 * The claim is the single arbiter between the live worker that promotes an item and the bulk job
 * that carries it. It is a field of the bulk job's own hash (`relay:promoted:<item key>`, PROMOTED_FIELD), so it
 * lives exactly as long as the job (it goes when BullMQ removes the job, nothing to sweep), and
 * every check and change of it is one Lua call with the job's state:
 *   - `c|<owner>|<until ms>`: claimed, being applied. A claim is made only while the job is not
 *     active (not in the queue's active list, no lock): a job being processed applies its own
 *     items, and the live operation waits for them. While a claim holds, the bulk job (should it
 *     become active) holds the item back. The promoter renews its lease while it works; a claim
 *     whose lease ran out (the promoter crashed) may be taken again, by another live worker or
 *     by the bulk job itself.
 *   - `d`: applied through the live path. The bulk job resolves the item as delivered and does not
 *     apply it again (a second application after the live operation would undo it).
 *   - `x|<error JSON>`: Klaviyo rejected it when promoted. The bulk job records the dead letter
 *     without a second call, then clears the mark (so a replay of that dead letter is sent again).
 * Marking it done (or rejected) and removing it from the pending set is one step, so the next
 * operation on the profile goes on at once.
 */
/** How long a promoter's claim holds without renewal (it renews every third of it while it works). */
export const PROMOTION_LEASE_MS = 30_000;

// The order's Lua: src/lua/profile-turn.lua, profile-finish.lua, profile-renew.lua (each file's header is its contract).
const TURN = luaScript({
  name: 'profile-turn',
  keys: ['pending'],
  args: ['member', 'legacyJobs', 'bullPrefix', 'nowMs', 'graceMs', 'mode', 'owner', 'leaseMs', 'jobKey', 'itemKey'],
  // A table ({1}, {2, member, job key, data}, …); `echo` stands in for an item without an entry.
  reply: (raw) => (Array.isArray(raw) ? raw : [raw]) as (string | number)[],
  constants: { PROMOTED_FIELD },
});
const FINISH = luaScript({ name: 'profile-finish', keys: ['pending'], args: ['jobKey', 'field', 'owner', 'member', 'result'], reply: Number });
const RENEW = luaScript({ name: 'profile-renew', keys: ['job'], args: ['field', 'owner', 'leaseMs'], reply: Number });

/** An earlier bulk item claimed by a live worker, to be applied before the live operation. */
export interface Claim {
  readonly lane: string;
  readonly pk: string;
  /** The claimed item's member of the pending set. */
  readonly member: string;
  readonly jobKey: string;
  readonly field: string;
  readonly owner: string;
  /** The claimed item as its job holds it; undefined when the job no longer carries it. */
  readonly item?: StoredProfileItem;
}

export type Turn =
  /** First for its profile: apply it now. */
  | { readonly kind: 'first' }
  /** An earlier operation is pending (or being applied): wait. */
  | { readonly kind: 'wait' }
  /** (live) Apply this earlier bulk item first (`finish` it), then ask again. */
  | { readonly kind: 'promote'; readonly claim: Claim }
  /** (bulk) Applied already through the live path: resolve it as delivered, without a call. */
  | { readonly kind: 'done' }
  /** (bulk) Klaviyo rejected it when it was promoted: a dead letter, without a second call. */
  | { readonly kind: 'rejected'; readonly error: ItemError };

export type TurnMode = 'live' | 'bulk';

/** What became of a promoted item: settled (delivered or rejected), gone from its job, or not applied. */
export type ClaimResult =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'rejected'; readonly error: ItemError }
  | { readonly kind: 'gone' }
  | { readonly kind: 'released' };

export interface ProfileOrder {
  /** Which of these items may be applied now (each is first for its profile). Claims nothing. */
  firsts(lane: string, items: readonly StoredProfileItem[]): Promise<boolean[]>;
  /**
   * Each item's turn, for a job of `mode`'s class whose hash is `jobKey`. A live item may be
   * handed an earlier bulk item to promote; a bulk item may turn out to be applied already.
   */
  turns(lane: string, items: readonly StoredProfileItem[], mode: TurnMode, jobKey: string): Promise<Turn[]>;
  /** The items are done (delivered or dead-lettered): let the next ones go. */
  release(lane: string, items: readonly StoredProfileItem[]): Promise<void>;
  /** Extends a claim's lease; false when it is no longer this claim's. */
  renew(claim: Claim): Promise<boolean>;
  /** Ends a claim; false when it was no longer this claim's (its lease ran out and it was taken). */
  finish(claim: Claim, result: ClaimResult): Promise<boolean>;
  /** Clears consumed `rejected` marks of a job's items (once the job recorded them as dead letters). */
  forget(jobKey: string, itemKeys: readonly string[]): Promise<void>;
  /** The hash key of a job of one of the lane's profile queues. */
  jobKey(ref: QueueRef, jobId: string): string;
}

/** `leaseMs`: how long a promotion's claim holds without renewal (tests shorten it). */
export function createProfileOrder(redis: Redis, queues: Queues, opts: { leaseMs?: number } = {}): ProfileOrder {
  const leaseMs = opts.leaseMs ?? PROMOTION_LEASE_MS;
  for (const script of [TURN, FINISH, RENEW]) script.define(redis);

  function pipeTurns(lane: string, items: readonly StoredProfileItem[], mode: TurnMode | 'check', jobKey: string) {
    const legacy = legacyJobKeyPrefix(queues.prefix, 'profiles', lane);
    const bp = queues.bullPrefix('profiles', lane);
    const t = Date.now();
    const pipe = redis.pipeline();
    // A claim names its owner, so that only the promoter that made it renews or ends it.
    const owners = items.map(() => randomBytes(9).toString('base64url'));
    items.forEach((it, i) => {
      if (it.m) {
        TURN.queue(pipe, {
          keys: { pending: pendingKey(queues, lane, it.pk) },
          args: {
            member: it.m,
            legacyJobs: legacy,
            bullPrefix: bp,
            nowMs: t,
            graceMs: ORPHAN_GRACE_MS,
            mode,
            owner: owners[i]!,
            leaseMs,
            jobKey,
            itemKey: it.k,
          },
        });
      } else pipe.echo('1'); // replayed without an order entry: nothing to wait for
    });
    return { owners, results: pipe.exec() };
  }

  return {
    async firsts(lane, items) {
      if (items.length === 0) return [];
      const res = (await pipeTurns(lane, items, 'check', '').results) ?? [];
      return res.map(([err, v]) => {
        if (err) throw err;
        return Number(TURN.reply(v)[0]) === 1;
      });
    },
    async turns(lane, items, mode, jobKey) {
      if (items.length === 0) return [];
      const { owners, results } = pipeTurns(lane, items, mode, jobKey);
      const res = (await results) ?? [];
      return res.map(([err, v], i): Turn => {
        if (err) throw err;
        const r = TURN.reply(v);
        switch (Number(r[0])) {
          case 1:
            return { kind: 'first' };
          case 2: {
            const member = String(r[1]);
            const itemKey = itemKeyOfPendingMember(member);
            // What the item is, from its job's data as it was when claimed (read in the same call).
            const item = parseJobData(String(r[3]))?.items.find((x) => x.k === itemKey);
            return {
              kind: 'promote',
              claim: { lane, pk: items[i]!.pk, member, jobKey: String(r[2]), field: PROMOTED_FIELD + itemKey, owner: owners[i]!, item },
            };
          }
          case 3:
            return { kind: 'done' };
          case 4:
            return { kind: 'rejected', error: JSON.parse(String(r[1])) as ItemError };
          default:
            return { kind: 'wait' };
        }
      });
    },
    async release(lane, items) {
      const entered = items.filter((it) => it.m);
      if (entered.length === 0) return;
      const pipe = redis.pipeline();
      for (const it of entered) pipe.zrem(pendingKey(queues, lane, it.pk), it.m!);
      await pipe.exec();
    },
    async renew(claim) {
      return (await RENEW.run(redis, { keys: { job: claim.jobKey }, args: { field: claim.field, owner: claim.owner, leaseMs } })) === 1;
    },
    async finish(claim, result) {
      const value = result.kind === 'delivered' ? 'd' : result.kind === 'rejected' ? `x|${JSON.stringify(result.error)}` : result.kind === 'gone' ? 'gone' : '';
      const done = await FINISH.run(redis, {
        keys: { pending: pendingKey(queues, claim.lane, claim.pk) },
        args: { jobKey: claim.jobKey, field: claim.field, owner: claim.owner, member: claim.member, result: value },
      });
      return done === 1;
    },
    async forget(jobKey, itemKeys) {
      if (itemKeys.length > 0) await redis.hdel(jobKey, ...itemKeys.map((k) => PROMOTED_FIELD + k));
    },
    jobKey: (ref, jobId) => queues.jobKeyPrefix(ref) + jobId,
  };
}

function parseJobData(s: string): ProfilesJobData | undefined {
  try {
    const d = JSON.parse(s) as ProfilesJobData;
    return Array.isArray(d?.items) ? d : undefined;
  } catch {
    return undefined;
  }
}
