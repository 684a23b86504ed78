/**
 * Sends batches of events to Klaviyo: create_event for a lone event (its quota, 350/s·3,500/min,
 * is far larger than the bulk endpoint's 10/s·150/min), event-bulk-create-jobs for more.
 * Failure handling per item is workers/klaviyo-call.ts's.
 *
 * Live events (issue 12) use the quota's shape: while only a few are waiting they go out as
 * single create_event calls, in parallel — that endpoint's own window is almost always free, while
 * the bulk endpoint's 150 calls a minute may be spent by an import for the next 45 s. More than a
 * few go as one bulk request when the bulk endpoint has a call left now, else still one by one —
 * up to LIVE_SINGLES_FALLBACK_MAX; a live backlog waits for the bulk endpoint like bulk does.
 * Bulk events keep the old rule: a lone one as create_event, more as a bulk request.
 */
import { ENDPOINTS } from '../../src/klaviyo/endpoints.ts';
import { approxEventBytes, blamedByPointer, bulkCreateEventsBody, createEventBody } from '../../src/klaviyo/event-payloads.ts';
import type { EventItem } from '../../src/job-data.ts';
import { REQUEUE, type BatcherOptions, type SendResult } from '../batcher.ts';
import { call, sendDistinct, sendIsolating, takeToken, YIELDED, type CallDeps } from '../klaviyo-call.ts';
import { classify, DELIVERED, outcomeOf, type ItemOutcome } from '../retry-policy.ts';

type Endpoint = 'create_event' | 'bulk_create_events';

/** Up to this many live events waiting go out as single calls (design, issue 12). */
export const LIVE_SINGLE_MAX = 4;
/**
 * Up to this many live events waiting may still go one by one when the bulk endpoint has no call
 * left (an import spent its minute): at the gateway's ~8 single calls a second that is a few
 * seconds. More than that is a backlog (an unmarked import, or priorities off): single calls would
 * carry a few events a second while holding the batcher's slots and the gateway's tokens from the
 * bulk calls that carry a thousand each, so it waits for the bulk endpoint (test/integration/
 * live-backlog.test.ts: the backlog drained at 35% of the ceiling before).
 */
export const LIVE_SINGLES_FALLBACK_MAX = 32;

export const MAX_BULK_BYTES = 4.5 * 1024 * 1024; // under Klaviyo's 5 MB, leaving room for the envelope

export function eventSender(deps: CallDeps): Pick<BatcherOptions<EventItem, ItemOutcome, Endpoint>, 'acquire' | 'send' | 'sizeOf' | 'maxItems' | 'maxBytes'> {
  const cls = deps.cls ?? 'live';
  // Bodies are built for the revision the client sends (`backfill` only where it exists).
  const { revision } = deps.client.target;

  async function sendSingle(item: EventItem, signal: AbortSignal): Promise<SendResult<ItemOutcome>> {
    const payload = JSON.stringify(createEventBody({ uniqueId: item.key, event: item.event }, revision));
    const grant = await takeToken(deps, 'create_event', signal);
    if (!grant) return YIELDED;
    try {
      await call(deps, { endpoint: 'create_event', body: payload, grant });
      return DELIVERED;
    } catch (err) {
      return classify(err) === 'rate-limited' ? REQUEUE : outcomeOf(err);
    }
  }

  /** Whether a bulk request could leave now (not blocked, a call left in both windows). */
  async function bulkCallLeft(): Promise<boolean> {
    const [blocked, h] = await Promise.all([
      deps.governor.blockedFor(deps.scope, 'bulk_create_events'),
      deps.governor.headroom(deps.scope, 'bulk_create_events'),
    ]);
    return blocked === 0 && h.burst > 0 && h.steady > 0 && (h.gateway === undefined || h.gateway > 0);
  }

  function bulk(items: readonly EventItem[]) {
    const { body, groups } = bulkCreateEventsBody(
      items.map((it) => ({ uniqueId: it.key, event: it.event })),
      revision,
    );
    return { endpoint: 'bulk_create_events' as const, body, blame: (pointer: string | undefined) => blamedByPointer(pointer, groups) };
  }

  return {
    maxItems: ENDPOINTS.bulk_create_events.maxItems!,
    maxBytes: MAX_BULK_BYTES,
    sizeOf: (item) => approxEventBytes({ uniqueId: item.key, event: item.event }),
    // Wait until a request could go, then cut the batch (it kept filling while we waited); the
    // token itself is taken once the body is serialized.
    async acquire(pending, signal) {
      let endpoint: Endpoint;
      if (cls === 'live')
        endpoint = pending > LIVE_SINGLE_MAX && (pending > LIVE_SINGLES_FALLBACK_MAX || (await bulkCallLeft())) ? 'bulk_create_events' : 'create_event';
      else endpoint = pending > 1 ? 'bulk_create_events' : 'create_event';
      await deps.governor.waitFree(deps.scope, endpoint, signal, cls);
      return { maxItems: endpoint === 'create_event' ? 1 : ENDPOINTS.bulk_create_events.maxItems!, tag: endpoint };
    },
    // Klaviyo fails a bulk request that repeats a unique_id, so each is sent once.
    send: (items, endpoint, signal) =>
      sendDistinct(
        items,
        (it) => it.key,
        async (distinct) =>
          endpoint === 'create_event' && distinct.length === 1 ? [await sendSingle(distinct[0]!, signal)] : sendIsolating(deps, distinct, bulk, signal),
      ),
  };
}
