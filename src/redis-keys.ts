/**
 * Every Redis key the relay writes, by family: the one place their names are spelled out.
 *
 * `prefix` is RELAY_QUEUE_PREFIX (default `relay`). Each family says who writes it, who reads it,
 * and its hash tag — the part in braces. In a Redis Cluster only keys with the same tag share a
 * slot, and a Lua call or a MULTI may only touch one slot: keys read or written together must
 * share a tag, and keys that need not are spread over tags so that load spreads over the cluster.
 *
 * Names here are stored: Redis holds keys under them across restarts and upgrades. Changing one
 * strands what is stored under the old name.
 *
 * Lua scripts build a few names themselves from prefixes they are given (the claim's item and job
 * keys in src/lua/enqueue-claim.lua, the per-profile order's job keys in src/lua/profile-turn.lua):
 * their callers (src/ingest/enqueue.ts, src/profile-order.ts) get those prefixes from here.
 */
import type { JobKind } from './queue-catalog.ts';
import type { PriorityClass } from './priority.ts';

// ---------------------------------------------------------------------------------------------
// Queues, per job kind and lane. Tag `{<kind>.<lane>}`: BullMQ's keys for every queue of a kind
// and lane and ours for them (item keys, per-profile order, byte counters) share one slot, which
// the claim and the per-profile order's Lua need (src/queue-catalog.ts).
// ---------------------------------------------------------------------------------------------

/**
 * `<prefix>:{<kind>.<lane>}` — BullMQ's prefix for every queue of a kind and lane. Under it BullMQ
 * keeps `<bullPrefix>:<queue>:<jobId>` (a job's hash), `…:<queue>:wait`, `…:active`, and the rest.
 * Written by BullMQ: ingest adds jobs, workers move them, ops replay and remove them.
 */
export function bullPrefix(prefix: string, kind: JobKind, lane: string): string {
  return `${prefix}:{${kind}.${lane}}`;
}

/** `<bullPrefix>:<queue>:` — what BullMQ puts before a job id and the queue's own keys (its qualifiedName and ':'). */
export function queueKeyPrefix(prefix: string, kind: JobKind, lane: string, queue: string): string {
  return `${bullPrefix(prefix, kind, lane)}:${queue}:`;
}

/** `<bullPrefix>:<queue>:<jobId>` — a job's hash (BullMQ's). `qualifiedName` is BullMQ's `<bullPrefix>:<queue>`. */
export function jobHashKey(qualifiedName: string, jobId: string): string {
  return `${qualifiedName}:${jobId}`;
}

/**
 * `<bullPrefix>:queues` — a set: the names of a kind and lane's queues besides the legacy one.
 * Written by ingest (QueueCatalog.register) before a queue's first job; read by the workers (to
 * open a worker per queue), status, dead letters, find, lane pause and the dashboard.
 */
export function queueRegistryKey(prefix: string, kind: JobKind, lane: string): string {
  return `${bullPrefix(prefix, kind, lane)}:queues`;
}

/**
 * Our own keys for a whole kind and lane sit under the legacy queue's name,
 * `<bullPrefix>:<kind>.<lane>:`, as they did before queues were split by class and source.
 */
function laneKeyPrefix(prefix: string, kind: JobKind, lane: string): string {
  return queueKeyPrefix(prefix, kind, lane, `${kind}.${lane}`);
}

/**
 * `<bullPrefix>:<kind>.<lane>:id:<item key>` — an item key (src/item-keys.ts builds the item key,
 * and what the key holds): the job that carries the item, or `done`. TTL RELAY_DEDUP_TTL_S.
 * Written by ingest (the claim, src/ingest/enqueue.ts), the workers (`done` once a job completed,
 * src/delivery-marks.ts) and a dead-letter replay (re-pointed at the job it became); read by the
 * claim and find.
 */
export function itemKeyName(prefix: string, kind: JobKind, lane: string, itemKey: string): string {
  return `${itemKeyPrefix(prefix, kind, lane)}${itemKey}`;
}

/** What comes before an item key: the claim's Lua gets it once and appends each item's key. */
export function itemKeyPrefix(prefix: string, kind: JobKind, lane: string): string {
  return `${laneKeyPrefix(prefix, kind, lane)}id:`;
}

/**
 * `<bullPrefix>:<kind>.<lane>:dd:` — the dedupe memory's keys (src/dedupe-memory.ts: buckets, job
 * tables and counters per generation). Written by ingest (the claim), the workers (`done`) and a
 * dead-letter replay; read by the claim and find.
 */
export function dedupeMemoryPrefix(prefix: string, kind: JobKind, lane: string): string {
  return `${laneKeyPrefix(prefix, kind, lane)}dd:`;
}

/** `<bullPrefix>:<kind>.<lane>:dd:<generation>:j` — a generation's job table (src/dedupe-memory.ts). */
export function dedupeJobTableKey(prefix: string, kind: JobKind, lane: string, generation: string | number): string {
  return `${dedupeMemoryPrefix(prefix, kind, lane)}${generation}:j`;
}

/**
 * `<bullPrefix>:<kind>.<lane>:meta` — BullMQ's meta hash of the legacy queue. We never write it:
 * it is the claim's KEYS[1], the key that routes the call to the lane's slot in a cluster.
 */
export function claimRouteKey(prefix: string, kind: JobKind, lane: string): string {
  return `${laneKeyPrefix(prefix, kind, lane)}meta`;
}

/** `<bullPrefix>:<kind>.<lane>:` — the legacy queue's job key prefix: a bare job id (older item keys and pending members) is a job of it. */
export function legacyJobKeyPrefix(prefix: string, kind: JobKind, lane: string): string {
  return laneKeyPrefix(prefix, kind, lane);
}

/**
 * `<bullPrefix>:profiles.<lane>:pend:<profile key>` — a sorted set: one profile's pending
 * operations, scored by arrival (src/profile-order.ts). Written by ingest (enters) and the workers
 * (remove once delivered or dead-lettered, drop stale entries); read by the workers.
 */
export function pendingSetKey(prefix: string, lane: string, profileKey: string): string {
  return `${laneKeyPrefix(prefix, 'profiles', lane)}pend:${profileKey}`;
}

/** `<bullPrefix>:profiles.<lane>:seq` — the lane's arrival counter for profile operations. Written (INCRBY) by ingest only. */
export function profileSeqKey(prefix: string, lane: string): string {
  return `${laneKeyPrefix(prefix, 'profiles', lane)}seq`;
}

/**
 * `<bullPrefix>:<queue>:qbytes` — bytes of one queue's accepted-but-unfinished work
 * (src/ingest/queued-bytes.ts). `qualifiedName` is BullMQ's `<bullPrefix>:<queue>`. Written by
 * ingest (the claim counts), the workers (release) and the backlog guard (heals it when the queue
 * is empty); read by the backlog guard and status.
 */
export function queueBytesKey(qualifiedName: string): string {
  return `${qualifiedName}:qbytes`;
}

/**
 * A field of a job's hash, not a key: `relay:promoted:<item key>`, a live worker's claim on an item
 * of a bulk job (src/profile-order.ts). Always `relay:`, whatever the prefix: it lives in the job's
 * own hash, which the prefix already names.
 */
export const PROMOTED_FIELD = 'relay:promoted:';

// ---------------------------------------------------------------------------------------------
// Sources. Tag `{src:<source id>}`: a source's limits are checked in one call wherever its work goes.
// ---------------------------------------------------------------------------------------------

/** `<prefix>:{src:<id>}:qbytes` — the source's queued bytes. Written by ingest (counts), the workers (release), the pruner; read by the source limiter and status. */
export function sourceBytesKey(prefix: string, sourceId: string): string {
  return `${prefix}:{src:${sourceId}}:qbytes`;
}

/** `<prefix>:{src:<id>}:qbytes:jobs` — a hash, job key → bytes: the ledger behind sourceBytesKey. Same writers; read by the pruner. */
export function sourceLedgerKey(prefix: string, sourceId: string): string {
  return `${prefix}:{src:${sourceId}}:qbytes:jobs`;
}

/** `<prefix>:{src:<id>}:qbytes:prune` — a lock (SET NX PX): one API process prunes a source's ledger at a time. */
export function sourcePruneLockKey(prefix: string, sourceId: string): string {
  return `${prefix}:{src:${sourceId}}:qbytes:prune`;
}

/** `<prefix>:{src:<id>}:rate` — the source's rate limiter (GCRA, src/ingest/source-limits.ts). Written and read by the API. */
export function sourceRateKey(prefix: string, sourceId: string): string {
  return `${prefix}:{src:${sourceId}}:rate`;
}

// ---------------------------------------------------------------------------------------------
// Quota governor (src/quota/governor.ts). Tag `{<key id>}`: one per API key (Maton's or
// Klaviyo's), whose every bucket one Lua call checks. `klaviyoAccount` and the endpoint name the
// bucket inside it. Written by the workers (takes, blocks); read by status and metrics too.
// ---------------------------------------------------------------------------------------------

export interface GovernorScopeKeys {
  /** `…:block:gateway` — set (PX) while the gateway answered 429: nothing goes through the key. */
  readonly gatewayBlock: string;
  /** `…:gateway:1s` — the gateway's per-key log of calls (sorted set), one second wide (plus the margin). */
  readonly gatewayBurst: string;
  /** `…:gateway:waiting` — lanes waiting for the gateway (sorted set of `<cls>|<lane>|<waiter>` by deadline): the fair order. */
  readonly gatewayWaiting: string;
  /** `…:gateway:tags` — each lane's finish tag in the fair order (hash; `~V` the virtual time). */
  readonly gatewayTags: string;
  /** `…:gateway:60s` — every gateway grant of the last minute as `<lane>|<id>` (utilisation, lane shares). */
  readonly gatewayMinute: string;
  /** `…:block:<account>:<endpoint>` — set (PX) while Klaviyo answered 429 or 0 remaining for that endpoint. */
  endpointBlock(endpoint: string): string;
  /** `…:<account>:<endpoint>:1s` — the endpoint's burst log. */
  burst(endpoint: string): string;
  /** `…:<account>:<endpoint>:60s` — the endpoint's steady log. */
  steady(endpoint: string): string;
}

/** `<prefix>:gov:{<keyId>}…` — the buckets of one quota scope (src/lanes.ts QuotaScope). */
export function governorKeys(prefix: string, scope: { readonly keyId: string; readonly klaviyoAccount: string }): GovernorScopeKeys {
  const tag = `${prefix}:gov:{${scope.keyId}}`;
  const bucket = `${tag}:${scope.klaviyoAccount}`;
  return {
    gatewayBlock: `${tag}:block:gateway`,
    gatewayBurst: `${tag}:gateway:1s`,
    gatewayWaiting: `${tag}:gateway:waiting`,
    gatewayTags: `${tag}:gateway:tags`,
    gatewayMinute: `${tag}:gateway:60s`,
    endpointBlock: (endpoint) => `${tag}:block:${scope.klaviyoAccount}:${endpoint}`,
    burst: (endpoint) => `${bucket}:${endpoint}:1s`,
    steady: (endpoint) => `${bucket}:${endpoint}:60s`,
  };
}

/** Beside each bucket's log: `<bucket>:bulk` (bulk's calls), `<bucket>:want:<class>` (who waits for it now). */
export const bucketBulkLog = (bucket: string) => `${bucket}:bulk`;
export const bucketWaiters = (bucket: string, cls: PriorityClass) => `${bucket}:want:${cls}`;

// ---------------------------------------------------------------------------------------------
// Others. One key per purpose; each has a tag only where a pipeline writes several at once.
// ---------------------------------------------------------------------------------------------

/**
 * `<prefix>:stats:<counter>` — a hash of counts (e.g. `stats:webhooks`: items matched, unmatched,
 * rules applied). Written by the API and the workers (Service's `count`); read by metrics.
 */
export function statsKey(prefix: string, counter: string): string {
  return `${prefix}:stats:${counter}`;
}

/**
 * `<prefix>:rate:<lane>:<queue>:10s:<period>` — items delivered from one queue in one 10-second
 * period (expires after 10 minutes). Written by the workers, read by status: both through
 * src/delivery-marks.ts.
 */
export function deliveredKey(prefix: string, lane: string, queue: string, period: number): string {
  return `${prefix}:rate:${lane}:${queue}:10s:${period}`;
}

/** `<prefix>:audit` — a stream of operator actions (src/ops/audit.ts). Written and read by the ops API. */
export function auditKey(prefix: string): string {
  return `${prefix}:audit`;
}

/**
 * `<prefix>:lane:<lane>:paused` — a lane's pause record, JSON (src/ops/lane-state.ts). Written by
 * the workers (credentials refused; resumed by the probe) and the ops API; read by both and metrics.
 */
export function lanePausedKey(prefix: string, lane: string): string {
  return `${prefix}:lane:${lane}:paused`;
}

/** `<prefix>:lane:<lane>:paused:probe` — a lock (SET NX PX): one worker process probes a paused lane's credentials at a time. */
export function lanePauseProbeKey(prefix: string, lane: string): string {
  return `${lanePausedKey(prefix, lane)}:probe`;
}

/**
 * `<prefix>:{webhook-ids}:<source>:<message id>` — a Standard Webhooks message seen, against
 * replays (src/webhooks/replay-cache.ts). Written and read by the API.
 */
export function webhookIdKey(prefix: string, sourceId: string, messageId: string): string {
  return `${prefix}:{webhook-ids}:${sourceId}:${messageId}`;
}

// ---------------------------------------------------------------------------------------------
// Klaviyo webhook secrets the relay made (src/webhooks/secret-store.ts). Written by the ops API
// (create, rotate, delete; retirement) and read by the API's POST /webhooks/klaviyo and metrics.
// A webhook's secrets and their retire times share the tag `{<webhook id>}`: one MULTI reads both.
// ---------------------------------------------------------------------------------------------

/** `<prefix>:kwh:{<id>}:secrets` — a hash, fingerprint → `{"value", "addedAt"}`: the webhook's accepted secrets. */
export function webhookSecretsKey(prefix: string, webhookId: string): string {
  return `${prefix}:kwh:{${webhookId}}:secrets`;
}

/** `<prefix>:kwh:{<id>}:retire` — a sorted set, fingerprint → when it stops being accepted (ms). */
export function webhookRetireKey(prefix: string, webhookId: string): string {
  return `${prefix}:kwh:{${webhookId}}:retire`;
}

/** `<prefix>:kwh:meta` — a hash, webhook id → what the relay knows of it (lane, full URL, topics…), JSON. */
export function webhookMetaKey(prefix: string): string {
  return `${prefix}:kwh:meta`;
}

/** `<prefix>:kwh:pending` — a hash, nonce → a secret of a webhook being created (no id yet) and until when it is accepted. */
export function webhookPendingKey(prefix: string): string {
  return `${prefix}:kwh:pending`;
}

/**
 * `<prefix>:kid:{<lane>}:<digest>` — Klaviyo's profile id for an identifier (workers/profiles/id-cache.ts).
 * Tag: the lane, as one pipeline writes several identifiers' keys. Written and read by the workers.
 */
export function profileIdKey(prefix: string, lane: string, identifierDigest: string): string {
  return `${prefix}:kid:{${lane}}:${identifierDigest}`;
}

// ---------------------------------------------------------------------------------------------
// The catalog (issue 15). Tag `{catalog.<lane>}`, beside the lane's catalog queue. Written by the
// API (src/catalog/accept.ts, sync.ts) and the catalog worker (workers/catalog/).
// ---------------------------------------------------------------------------------------------

/**
 * `…:catalog.<lane>:cat:hash:<type>` — a hash: id → content hash of the latest upsert accepted for
 * it (deleted on a delete; on a dead letter when it still names that content). What a sync
 * compares against: accepted, not necessarily applied yet, since operations apply in order.
 */
export function catalogHashKey(prefix: string, lane: string, type: string): string {
  return `${laneKeyPrefix(prefix, 'catalog', lane)}cat:hash:${type}`;
}

/**
 * `…:catalog.<lane>:cat:applied:<type>` — a hash: id → the arrival number of the last operation
 * applied at Klaviyo, positive when the resource exists there, negative once deleted. Written and
 * read by the catalog worker only: create or update, and whether an operation is superseded.
 */
export function catalogAppliedKey(prefix: string, lane: string, type: string): string {
  return `${laneKeyPrefix(prefix, 'catalog', lane)}cat:applied:${type}`;
}

/** `…:catalog.<lane>:cat:seq` — the lane's arrival counter for catalog operations. Written (INCRBY) by the API only. */
export function catalogSeqKey(prefix: string, lane: string): string {
  return `${laneKeyPrefix(prefix, 'catalog', lane)}cat:seq`;
}

/** `…:catalog.<lane>:cat:sync:<sync id>:<type>` — a set: the ids a chunked sync has seen so far (expires a day after its last chunk). */
export function catalogSeenKey(prefix: string, lane: string, syncId: string, type: string): string {
  return `${laneKeyPrefix(prefix, 'catalog', lane)}cat:sync:${syncId}:${type}`;
}

/** `…:catalog.<lane>:cat:sync:<sync id>` — a hash: a chunked sync's counters so far (expires with its sets). */
export function catalogSyncKey(prefix: string, lane: string, syncId: string): string {
  return `${laneKeyPrefix(prefix, 'catalog', lane)}cat:sync:${syncId}`;
}

// ---------------------------------------------------------------------------------------------
// Coupon codes (issue 15).
// ---------------------------------------------------------------------------------------------

/**
 * `<prefix>:ccjobs:{<klaviyo account>}` — a sorted set, slot member → when it was taken (ms): the
 * coupon-code bulk create jobs this relay has queued at Klaviyo and not yet seen complete, at
 * most Klaviyo's 100 per account (workers/coupons/slots.ts). Keyed by the account, as every lane
 * on it shares the cap. Written and read by the workers (one MULTI per take).
 */
export function couponJobSlotsKey(prefix: string, klaviyoAccount: string): string {
  return `${prefix}:ccjobs:{${klaviyoAccount}}`;
}

/**
 * `<prefix>:ccres:{<lane>}:<source>:<coupon>:<request id>` — a hash, `c:<code>` → `created` or its error
 * (JSON), plus `total` (codes in the request): one request's per-code results. Written by the
 * coupon workers as each Klaviyo job completes, read by GET /v1/coupons/{id}/codes/{request id}
 * (src/coupon-results.ts); expires RESULTS_TTL_S after the last write.
 */
export function couponResultsKey(prefix: string, lane: string, sourceId: string, couponId: string, requestId: string): string {
  return `${prefix}:ccres:{${lane}}:${sourceId}:${couponId}:${requestId}`;
}
