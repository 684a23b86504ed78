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
import type { ItemError, ProfilesJobData, StoredProfileItem } from './job-data.ts';
import type { Queues } from './queues.ts';
import { legacyRef, type QueueRef } from './queue-catalog.ts';
import { itemKeyOfPendingMember, pendingMember } from './item-keys.ts';
import { PROMOTED_FIELD, pendingSetKey, profileSeqKey } from './redis-keys.ts';

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

// KEYS[1] pending set. ARGV: [1] member, [2] legacy queue's job key prefix ("<bullPrefix>:profiles.<lane>:"),
// [3] the bull prefix, [4] now ms (the members' clock, for the grace), [5] grace ms, [6] mode, [7] owner (live), [8] lease ms (live),
// [9] the item's own job key (bulk), [10] the item's key (bulk).
// Modes: 'check' only answers whether the item is first; 'live' may claim an earlier bulk item at
// the head; 'bulk' first looks at the item's own claim field.
// Returns {1} first, {0} wait, {2, head member, head job key, head job data} claimed for the
// caller, {3} applied already through the live path, {4, error JSON} rejected when promoted.
const TURN = `
local key, me, legacy, bp = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local now, grace, mode = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local FIELD = '${PROMOTED_FIELD}'
-- Leases run on Redis's clock: the promoter and the bulk job may be on machines whose clocks differ.
local t = redis.call('TIME')
local clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function leaseOf(v)
  return v and tonumber(string.match(v, '^c|[^|]*|(%d+)$'))
end
if mode == 'bulk' then
  local field = FIELD .. ARGV[10]
  local v = redis.call('HGET', ARGV[9], field)
  if v then
    if v == 'd' then
      redis.call('ZREM', key, me)
      return {3}
    end
    local err = string.match(v, '^x|(.*)$')
    if err then
      redis.call('ZREM', key, me)
      return {4, err}
    end
    local untilMs = leaseOf(v)
    if untilMs and untilMs > clock then return {0} end
    -- The promoter's lease ran out (it crashed, or lost Redis): this job applies the item itself.
    redis.call('HDEL', ARGV[9], field)
  end
end
for _ = 1, 100 do
  local head = redis.call('ZRANGE', key, 0, 0)[1]
  if not head or head == me then return {1} end
  local job, item, ts = string.match(head, '^([^|]+)|([^|]+)|(%d+)$')
  local stale = false
  if not job then
    stale = true
  else
    local qp, jobId, q = legacy, job, nil
    local q2, id = string.match(job, '^([^/]+)/(.+)$')
    if q2 then q, qp, jobId = q2, bp .. ':' .. q2 .. ':', id end
    local jobKey = qp .. jobId
    if redis.call('EXISTS', jobKey) == 0 then
      stale = now - tonumber(ts) > grace
      if not stale then return {0} end
    elseif redis.call('ZSCORE', qp .. 'failed', jobId) or redis.call('ZSCORE', qp .. 'completed', jobId) then
      stale = true
    elseif mode == 'live' and q and string.match(q, '^[^.]+%.[^.]+%.bulk%.') then
      local field = FIELD .. item
      local v = redis.call('HGET', jobKey, field)
      if v == 'd' or (v and string.sub(v, 1, 2) == 'x|') then
        stale = true -- settled through the live path already (its removal from this set was lost)
      else
        local untilMs = leaseOf(v)
        if untilMs and untilMs > clock then return {0} end
        if redis.call('EXISTS', jobKey .. ':lock') == 1 or redis.call('LPOS', qp .. 'active', jobId) then return {0} end
        redis.call('HSET', jobKey, field, 'c|' .. ARGV[7] .. '|' .. (clock + tonumber(ARGV[8])))
        return {2, head, jobKey, redis.call('HGET', jobKey, 'data') or ''}
      end
    else
      return {0}
    end
  end
  redis.call('ZREM', key, head)
end
return {0}
`;

// KEYS[1] pending set. ARGV: job key, field, owner, claimed member, result: 'd' | 'x|<error>' (settled:
// mark it and let the next operation go), 'gone' (the job no longer carries the item: drop the
// entry), '' (not applied: give the claim up). 1 = done; 0 = the claim was no longer this owner's.
const FINISH = `
local v = redis.call('HGET', ARGV[1], ARGV[2])
if not v or string.match(v, '^c|([^|]*)|') ~= ARGV[3] then return 0 end
local result = ARGV[5]
if result == '' or result == 'gone' then
  redis.call('HDEL', ARGV[1], ARGV[2])
else
  redis.call('HSET', ARGV[1], ARGV[2], result)
end
if result ~= '' then redis.call('ZREM', KEYS[1], ARGV[4]) end
return 1
`;

// KEYS[1] job key. ARGV: field, owner, lease ms (from now, on Redis's clock). 1 = renewed; 0 = no
// longer this owner's.
const RENEW = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v or string.match(v, '^c|([^|]*)|') ~= ARGV[2] then return 0 end
local t = redis.call('TIME')
local clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], 'c|' .. ARGV[2] .. '|' .. (clock + tonumber(ARGV[3])))
return 1
`;

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

  function pipeTurns(lane: string, items: readonly StoredProfileItem[], mode: TurnMode | 'check', jobKey: string) {
    const legacy = queues.jobKeyPrefix(legacyRef('profiles', lane));
    const bp = queues.bullPrefix('profiles', lane);
    const t = Date.now();
    const pipe = redis.pipeline();
    // A claim names its owner, so that only the promoter that made it renews or ends it.
    const owners = items.map(() => randomBytes(9).toString('base64url'));
    items.forEach((it, i) => {
      if (it.m) pipe.eval(TURN, 1, pendingKey(queues, lane, it.pk), it.m, legacy, bp, t, ORPHAN_GRACE_MS, mode, owners[i]!, leaseMs, jobKey, it.k);
      else pipe.echo('1'); // replayed without an order entry: nothing to wait for
    });
    return { owners, results: pipe.exec() };
  }

  return {
    async firsts(lane, items) {
      if (items.length === 0) return [];
      const res = (await pipeTurns(lane, items, 'check', '').results) ?? [];
      return res.map(([err, v]) => {
        if (err) throw err;
        return Number(Array.isArray(v) ? v[0] : v) === 1;
      });
    },
    async turns(lane, items, mode, jobKey) {
      if (items.length === 0) return [];
      const { owners, results } = pipeTurns(lane, items, mode, jobKey);
      const res = (await results) ?? [];
      return res.map(([err, v], i): Turn => {
        if (err) throw err;
        const r = (Array.isArray(v) ? v : [v]) as (string | number)[];
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
      return Number(await redis.eval(RENEW, 1, claim.jobKey, claim.field, claim.owner, leaseMs)) === 1;
    },
    async finish(claim, result) {
      const value = result.kind === 'delivered' ? 'd' : result.kind === 'rejected' ? `x|${JSON.stringify(result.error)}` : result.kind === 'gone' ? 'gone' : '';
      return Number(await redis.eval(FINISH, 1, pendingKey(queues, claim.lane, claim.pk), claim.jobKey, claim.field, claim.owner, claim.member, value)) === 1;
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
