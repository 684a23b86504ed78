/**
 * Sends batches of events to Klaviyo: create_event for a lone event (its quota, 350/s·3,500/min,
 * is far larger than the bulk endpoint's 10/s·150/min), event-bulk-create-jobs for more.
 *
 * A bulk 400 rejects the whole request and applies nothing (OpenAPI bulk_create_events), so the
 * items it blames (by `source.pointer`) are rejected and the rest go back to the batcher to be
 * sent again; when Klaviyo names no item, the batch is split in halves until the bad ones are
 * isolated. A 429 hands every item back: the governor holds the lane for Retry-After.
 */
import { ENDPOINTS } from '../../src/klaviyo/endpoints.ts';
import type { KlaviyoClient } from '../../src/klaviyo/client.ts';
import {
  approxEventBytes,
  blamedByPointer,
  bulkCreateEventsBody,
  createEventBody,
  type OutboundEvent,
} from '../../src/klaviyo/event-payloads.ts';
import { KlaviyoApiError } from '../../src/errors.ts';
import type { EventItem } from '../../src/queues.ts';
import type { Logger } from '../../src/log.ts';
import { REQUEUE, type BatcherOptions, type SendResult } from '../batcher.ts';
import type { QuotaGovernor, QuotaScope } from '../quota-governor.ts';
import { classify, DELIVERED, outcomeOf, toItemError, type ItemOutcome } from '../retry-policy.ts';

type Endpoint = 'create_event' | 'bulk_create_events';

export interface EventSenderDeps {
  readonly client: KlaviyoClient;
  readonly governor: QuotaGovernor;
  readonly scope: QuotaScope;
  readonly log: Logger;
  readonly onCall?: (endpoint: Endpoint, status: number, items: number, ms: number) => void;
}

export const MAX_BULK_BYTES = 4.5 * 1024 * 1024; // under Klaviyo's 5 MB, leaving room for the envelope

export function eventSender(deps: EventSenderDeps): Pick<BatcherOptions<EventItem, ItemOutcome, Endpoint>, 'acquire' | 'send' | 'sizeOf' | 'maxItems' | 'maxBytes'> {
  const { client, governor, scope } = deps;

  async function call(endpoint: Endpoint, body: unknown, n: number): Promise<void> {
    const started = performance.now();
    try {
      const res = await client.request({ endpoint, body });
      deps.onCall?.(endpoint, res.status, n, performance.now() - started);
      if (res.rateLimit.remaining === 0) await governor.observe(scope, endpoint, { ...res.rateLimit, status: res.status });
    } catch (err) {
      if (err instanceof KlaviyoApiError) {
        deps.onCall?.(endpoint, err.status, n, performance.now() - started);
        if (err.status === 429) {
          await governor.observe(scope, endpoint, { retryAfterMs: err.retryAfterMs, status: 429, origin: err.origin });
        }
      }
      throw err;
    }
  }

  function outbound(items: readonly EventItem[]): OutboundEvent[] {
    return items.map((it) => ({ uniqueId: it.k, event: it.e }));
  }

  async function sendSingle(item: EventItem): Promise<SendResult<ItemOutcome>> {
    try {
      await call('create_event', createEventBody({ uniqueId: item.k, event: item.e }), 1);
      return DELIVERED;
    } catch (err) {
      if (classify(err) === 'rate-limited') return REQUEUE;
      return outcomeOf(err);
    }
  }

  /** `tokenHeld`: the batcher already took this request's token; halves of a split take their own. */
  async function sendBulk(items: readonly EventItem[], tokenHeld: boolean): Promise<SendResult<ItemOutcome>[]> {
    if (!tokenHeld) await governor.take(scope, 'bulk_create_events');
    const { body, groups } = bulkCreateEventsBody(outbound(items));
    try {
      await call('bulk_create_events', body, items.length);
      return items.map(() => DELIVERED);
    } catch (err) {
      const kind = classify(err);
      if (kind === 'rate-limited') return items.map((): SendResult<ItemOutcome> => REQUEUE);
      if (!(err instanceof KlaviyoApiError) || err.status !== 400) return items.map(() => outcomeOf(err));

      // Which items does Klaviyo blame? Use the pointers if every error names an item.
      const blame = new Map<number, (typeof err.errors)[number]>();
      let allNamed = err.errors.length > 0;
      for (const e of err.errors) {
        const idx = blamedByPointer(e.source?.pointer, groups);
        if (!idx) allNamed = false;
        else for (const i of idx) if (!blame.has(i)) blame.set(i, e);
      }
      if (allNamed && blame.size > 0) {
        deps.log.warn({ rejected: blame.size, of: items.length }, 'bulk events: Klaviyo rejected items; re-sending the rest');
        return items.map((_, i) => {
          const e = blame.get(i);
          return e ? { kind: 'rejected', error: toItemError(err, e) } : REQUEUE;
        });
      }
      if (items.length === 1) return [{ kind: 'rejected', error: toItemError(err, err.errors[0]) }];
      const mid = Math.ceil(items.length / 2);
      const left = await sendBulk(items.slice(0, mid), false);
      const right = await sendBulk(items.slice(mid), false);
      return [...left, ...right];
    }
  }

  return {
    maxItems: ENDPOINTS.bulk_create_events.maxItems!,
    maxBytes: MAX_BULK_BYTES,
    sizeOf: (item) => approxEventBytes({ uniqueId: item.k, event: item.e }),
    async acquire(pending) {
      const endpoint: Endpoint = pending > 1 ? 'bulk_create_events' : 'create_event';
      await governor.take(scope, endpoint);
      return { maxItems: endpoint === 'create_event' ? 1 : ENDPOINTS.bulk_create_events.maxItems!, tag: endpoint };
    },
    async send(items, endpoint) {
      // Two jobs may carry the same item (a resend that raced its original). Klaviyo fails a bulk
      // request that repeats a unique_id, so send each once and give every copy the same outcome.
      const first = new Map<string, number>();
      const distinct: EventItem[] = [];
      const slot = items.map((it) => {
        let i = first.get(it.k);
        if (i === undefined) {
          i = distinct.length;
          first.set(it.k, i);
          distinct.push(it);
        }
        return i;
      });
      const results: SendResult<ItemOutcome>[] = endpoint === 'create_event' && distinct.length === 1 ? [await sendSingle(distinct[0]!)] : await sendBulk(distinct, true);
      return slot.map((i) => results[i]!);
    },
  };
}
