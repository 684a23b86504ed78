/**
 * A PRODUCER span per enqueue (the part of a request that puts its items into Redis), around an
 * Ingest. Used only while tracing is on (src/runtime/service.ts). The job writer stores the
 * span's context in each job it adds (src/ingest/enqueue.ts), which the workers continue.
 */
import type { Ingest, Origin } from '../ingest/ingest.ts';
import type { EnqueueResult } from '../ingest/enqueue.ts';
import { SpanKind, withSpan } from './tracer.ts';

function traced(kind: string, origin: Origin, items: number, run: () => Promise<EnqueueResult>): Promise<EnqueueResult> {
  return withSpan(
    `enqueue ${kind}`,
    SpanKind.PRODUCER,
    { 'relay.kind': kind, 'relay.lane': origin.lane, 'relay.class': origin.cls ?? 'live', 'relay.items': items, 'messaging.system': 'bullmq' },
    async (span) => {
      const r = await run();
      span.setAttributes({ 'relay.enqueued': r.enqueued, 'relay.duplicates': r.duplicates, 'relay.spooled': r.spooled === true });
      return r;
    },
  );
}

export function tracedIngest(inner: Ingest): Ingest {
  return {
    events: (origin, items, bytes, admitted) => traced('events', origin, items.length, () => inner.events(origin, items, bytes, admitted)),
    profileOps: (origin, ops, bytes, admitted) => traced('profiles', origin, ops.length, () => inner.profileOps(origin, ops, bytes, admitted)),
    webhooks: (origin, items, bytes, admitted) => traced('webhooks', origin, items.length, () => inner.webhooks(origin, items, bytes, admitted)),
    backInStock: (origin, items, bytes, admitted) => traced('back-in-stock', origin, items.length, () => inner.backInStock(origin, items, bytes, admitted)),
    couponCodes: (origin, items, bytes, admitted) => traced('coupon-codes', origin, items.length, () => inner.couponCodes(origin, items, bytes, admitted)),
    ...(inner.admit ? { admit: inner.admit.bind(inner) } : {}),
  };
}
