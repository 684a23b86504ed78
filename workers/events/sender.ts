/**
 * Sends batches of events to Klaviyo: create_event for a lone event (its quota, 350/s·3,500/min,
 * is far larger than the bulk endpoint's 10/s·150/min), event-bulk-create-jobs for more.
 * Failure handling per item is workers/klaviyo-call.ts's.
 */
import { ENDPOINTS } from '../../src/klaviyo/endpoints.ts';
import { approxEventBytes, blamedByPointer, bulkCreateEventsBody, createEventBody } from '../../src/klaviyo/event-payloads.ts';
import type { EventItem } from '../../src/queues.ts';
import { REQUEUE, type BatcherOptions, type SendResult } from '../batcher.ts';
import { call, sendDistinct, sendIsolating, type CallDeps } from '../klaviyo-call.ts';
import { classify, DELIVERED, outcomeOf, type ItemOutcome } from '../retry-policy.ts';

type Endpoint = 'create_event' | 'bulk_create_events';

export const MAX_BULK_BYTES = 4.5 * 1024 * 1024; // under Klaviyo's 5 MB, leaving room for the envelope

export function eventSender(deps: CallDeps): Pick<BatcherOptions<EventItem, ItemOutcome, Endpoint>, 'acquire' | 'send' | 'sizeOf' | 'maxItems' | 'maxBytes'> {
  async function sendSingle(item: EventItem): Promise<SendResult<ItemOutcome>> {
    const payload = JSON.stringify(createEventBody({ uniqueId: item.k, event: item.e }));
    await deps.governor.take(deps.scope, 'create_event');
    try {
      await call(deps, { endpoint: 'create_event', body: payload });
      return DELIVERED;
    } catch (err) {
      return classify(err) === 'rate-limited' ? REQUEUE : outcomeOf(err);
    }
  }

  function bulk(items: readonly EventItem[]) {
    const { body, groups } = bulkCreateEventsBody(items.map((it) => ({ uniqueId: it.k, event: it.e })));
    return { endpoint: 'bulk_create_events' as const, body, blame: (pointer: string | undefined) => blamedByPointer(pointer, groups) };
  }

  return {
    maxItems: ENDPOINTS.bulk_create_events.maxItems!,
    maxBytes: MAX_BULK_BYTES,
    sizeOf: (item) => approxEventBytes({ uniqueId: item.k, event: item.e }),
    // Wait until a request could go, then cut the batch (it kept filling while we waited); the
    // token itself is taken once the body is serialized.
    async acquire(pending) {
      const endpoint: Endpoint = pending > 1 ? 'bulk_create_events' : 'create_event';
      await deps.governor.waitFree(deps.scope, endpoint);
      return { maxItems: endpoint === 'create_event' ? 1 : ENDPOINTS.bulk_create_events.maxItems!, tag: endpoint };
    },
    // Klaviyo fails a bulk request that repeats a unique_id, so each is sent once.
    send: (items, endpoint) =>
      sendDistinct(items, (it) => it.k, async (distinct) =>
        endpoint === 'create_event' && distinct.length === 1 ? [await sendSingle(distinct[0]!)] : sendIsolating(deps, distinct, bulk),
      ),
  };
}
