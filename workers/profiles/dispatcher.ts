/**
 * Routes each profile operation to the call that carries it out:
 *   upsert      → profile-import (one profile per call; 409s resolved in upsert.ts), or on a
 *                 backlog profile-bulk-import-jobs (≤10,000 per call; bulk-import.ts)
 *   list-add    → profile id (cache, else profile-import of the identifier, which creates a new
 *                 profile) → batched POST lists/{id}/relationships/profiles (≤1,000 ids)
 *   list-remove → profile id (cache, else a lookup; unknown profile = nothing to remove) →
 *                 batched DELETE lists/{id}/relationships/profiles (≤1,000 ids)
 *   subscribe   → batched profile-subscription-bulk-create-jobs per (list, source) (≤1,000)
 *   unsubscribe → batched profile-subscription-bulk-delete-jobs per list (≤100); the list is
 *                 always named unless a global unsubscribe was asked for explicitly
 *   suppress, unsuppress → batched profile-suppression-bulk-create-jobs / …-delete-jobs (≤100 emails)
 *   erase       → data-privacy-deletion-jobs, one person per call (3/s, 60/min); the person's
 *                 cached profile id goes with it (issue 16)
 */
import { ENDPOINTS, type EndpointName } from '../../src/klaviyo/endpoints.ts';
import {
  deletionBody,
  identifierOnly,
  listMembersBody,
  profileFilter,
  profileImportBody,
  subscribeBody,
  suppressionBody,
  unsubscribeBody,
} from '../../src/klaviyo/profile-payloads.ts';
import { ProfileResponseSchema, ProfilesPageSchema } from '../../src/klaviyo/schemas.ts';
import type { ProfileRef } from '../../src/model/profile-operation.ts';
import type { ProfileItem } from '../../src/job-data.ts';
import { Batcher, type SendResult } from '../batcher.ts';
import { blameByIndex, callWithQuota, sendDistinct, sendIsolating, type CallDeps } from '../klaviyo-call.ts';
import { DELIVERED, outcomeOf, type ItemOutcome } from '../retry-policy.ts';

const YIELD: ItemOutcome = Object.freeze({ kind: 'yield' });
import type { IdCache } from './id-cache.ts';
import { upsertProfile } from './upsert.ts';
import { BULK_IMPORT_MIN, bulkImport } from './bulk-import.ts';

export interface ProfileDispatcher {
  /** `key`: the item's source, whose weight sets its share of each batch (workers/fair-buffer.ts). */
  submit(item: ProfileItem, key?: string): Promise<ItemOutcome>;
  drain(): Promise<void>;
  /** Shutdown: items not yet sent go back to their jobs untouched. */
  yieldAll(): void;
  /** Batchers held now, one per list (and consent source) in recent use. */
  batcherCount(): number;
}

type Consent = Extract<ProfileItem['operation'], { op: 'subscribe' | 'unsubscribe' }>;

/**
 * A batcher idle this long is dropped. List ids and consent sources are the callers' choice: one
 * batcher kept for each ever seen would grow without bound (a closure and its buffers per key).
 */
export const IDLE_BATCHER_MS = 60_000;

/**
 * One dispatcher per lane and class (issue 12): its calls are made for `deps.cls` (the governor
 * serves live first), and it has batchers of its own, so a live subscribe never sits in a buffer
 * behind an import's thousands. Within the class, items are cut from sources by `weightOf`.
 */
export function createProfileDispatcher(
  deps: CallDeps,
  cache: IdCache,
  lane: string,
  lingerMs: number,
  idleMs = IDLE_BATCHER_MS,
  weightOf?: (sourceId: string) => number,
): ProfileDispatcher {
  const batchers = new Map<string, { b: Batcher<unknown, ItemOutcome, EndpointName>; used: number }>();
  let swept = Date.now();

  /** Drops idle batchers not used for `idleMs`; at most twice per `idleMs`, on use (no timer to stop). */
  function evictIdle(now: number): void {
    if (now - swept < idleMs / 2) return;
    swept = now;
    for (const [key, e] of batchers) if (e.b.idle && now - e.used >= idleMs) batchers.delete(key);
  }

  /** One batcher per target (endpoint + list + source): items in one request must share them. */
  function batcher<I>(key: string, endpoint: EndpointName, maxItems: number, send: (items: I[]) => Promise<SendResult<ItemOutcome>[]>) {
    const now = Date.now();
    evictIdle(now);
    const held = batchers.get(key);
    let b = held?.b as Batcher<I, ItemOutcome, EndpointName> | undefined;
    if (held) held.used = now;
    if (!b) {
      b = new Batcher<I, ItemOutcome, EndpointName>({
        maxItems,
        maxBytes: 4 * 1024 * 1024,
        lingerMs,
        maxInFlight: 4,
        sizeOf: () => 200,
        acquire: async () => {
          await deps.governor.waitFree(deps.scope, endpoint, undefined, deps.cls ?? 'live');
          return { maxItems, tag: endpoint };
        },
        send: (items) => send(items),
        onError: (err) => deps.log.warn({ err, endpoint }, 'profile batcher: retrying after an error'),
        weightOf,
      });
      batchers.set(key, { b: b as Batcher<unknown, ItemOutcome, EndpointName>, used: now });
    }
    return b;
  }

  const single = (item: ProfileItem) => upsertProfile(deps, cache, lane, item);
  const upserts = new Batcher<ProfileItem, ItemOutcome, 'single' | 'bulk'>({
    maxItems: ENDPOINTS.bulk_import_profiles.maxItems!,
    maxBytes: 4.5 * 1024 * 1024,
    lingerMs,
    maxInFlight: 16,
    sizeOf: (item) => JSON.stringify(item.operation).length + 100,
    // The single path takes its own token (it may need more than one call to resolve a 409).
    acquire: async (pending) => {
      if (pending < BULK_IMPORT_MIN) return { maxItems: 1, tag: 'single' };
      await deps.governor.waitFree(deps.scope, 'bulk_import_profiles', undefined, deps.cls ?? 'live');
      return { maxItems: ENDPOINTS.bulk_import_profiles.maxItems!, tag: 'bulk' };
    },
    send: async (items, tag) => (tag === 'single' ? [await single(items[0]!)] : bulkImport(deps, items, single)),
    onError: (err) => deps.log.warn({ err }, 'upsert batcher: retrying after an error'),
    weightOf,
  });

  async function resolveId(ref: ProfileRef, create: boolean): Promise<string | null> {
    if (ref.kid) return ref.kid;
    const cached = await cache.get(lane, ref);
    if (cached) return cached;
    let id: string | null;
    if (create) {
      const res = await callWithQuota(deps, {
        endpoint: 'create_or_update_profile',
        body: profileImportBody(identifierOnly(ref)),
        schema: ProfileResponseSchema,
      });
      id = res.data.data.id;
    } else {
      const res = await callWithQuota(deps, {
        endpoint: 'get_profiles',
        query: { filter: profileFilter(ref), 'fields[profile]': 'email,phone_number,external_id' },
        schema: ProfilesPageSchema,
      });
      id = res.data.data[0]?.id ?? null;
    }
    if (id) await cache.set(lane, [ref], id);
    return id;
  }

  function membership(op: 'list-add' | 'list-remove', listId: string) {
    const endpoint = op === 'list-add' ? 'add_profiles_to_list' : 'remove_profiles_from_list';
    return batcher<string>(`${endpoint}|${listId}`, endpoint, ENDPOINTS[endpoint].maxItems!, (ids) =>
      sendDistinct(
        ids,
        (id) => id,
        (distinct) =>
          sendIsolating(deps, distinct, (batch) => ({ endpoint, pathParams: { id: listId }, body: listMembersBody(batch), blame: blameByIndex('/data') })),
      ),
    );
  }

  function consent(o: Consent) {
    const subscribe = o.op === 'subscribe';
    const endpoint = subscribe ? 'bulk_subscribe_profiles' : 'bulk_unsubscribe_profiles';
    const key = `${endpoint}|${o.listId ?? '(global)'}|${subscribe ? (o.source ?? '') : ''}`;
    return batcher<Consent>(key, endpoint, ENDPOINTS[endpoint].maxItems!, (ops) =>
      sendIsolating(deps, ops, (batch) => {
        const members = batch.map((b) => ({ ref: b.member, channels: b.channels }));
        return {
          endpoint,
          body: subscribe ? subscribeBody(members, o.listId, o.source) : unsubscribeBody(members, o.listId),
          blame: blameByIndex('/data/attributes/profiles/data'),
        };
      }),
    );
  }

  function suppression(suppress: boolean) {
    const endpoint = suppress ? 'bulk_suppress_profiles' : 'bulk_unsuppress_profiles';
    return batcher<string>(endpoint, endpoint, ENDPOINTS[endpoint].maxItems!, (emails) =>
      sendIsolating(deps, emails, (batch) => ({ endpoint, body: suppressionBody(batch, suppress), blame: blameByIndex('/data/attributes/profiles/data') })),
    );
  }

  async function erase(ref: ProfileRef): Promise<ItemOutcome> {
    try {
      await callWithQuota(deps, { endpoint: 'request_profile_deletion', body: deletionBody(ref) });
    } catch (err) {
      return outcomeOf(err);
    }
    // Klaviyo's id for the person names no one any more; the relay's own copies were purged at the request.
    await cache.forget(lane, ref);
    return DELIVERED;
  }

  let stopping = false;
  return {
    async submit(item, key = '') {
      if (stopping) return YIELD;
      const o = item.operation;
      switch (o.op) {
        case 'upsert':
          return upserts.submit(item, key);
        case 'list-add':
        case 'list-remove': {
          let id: string | null;
          try {
            id = await resolveId(o.member, o.op === 'list-add');
          } catch (err) {
            return outcomeOf(err);
          }
          if (id === null) return DELIVERED; // not in Klaviyo, so not in the list: nothing to remove
          return membership(o.op, o.listId).submit(id, key);
        }
        case 'subscribe':
        case 'unsubscribe':
          return consent(o).submit(o, key);
        case 'suppress':
        case 'unsuppress':
          return suppression(o.op === 'suppress').submit(o.member.email, key);
        case 'erase':
          return erase(o.member);
      }
    },
    async drain() {
      await Promise.all([upserts.drain(), ...[...batchers.values()].map((e) => e.b.drain())]);
    },
    yieldAll() {
      stopping = true;
      for (const b of [upserts, ...[...batchers.values()].map((e) => e.b)]) b.yieldAll(YIELD);
    },
    batcherCount: () => batchers.size,
  };
}
