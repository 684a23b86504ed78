/**
 * A CONSUMER span per job run (only while tracing is on: src/tracing/), continuing the trace the
 * enqueue stored in the job (`tp`, src/job-data.ts). A retry is another span in the same trace.
 * The Klaviyo calls made for its items are its children (workers/batcher.ts carries the context).
 */
import type { Job } from 'bullmq';
import { queueName, type QueueRef } from '../src/queue-catalog.ts';
import { contextFrom, SpanKind, withSpan } from '../src/tracing/tracer.ts';

type Processor<D> = (job: Job<D>, token?: string) => Promise<unknown>;

export function tracedJob<D extends { readonly items: readonly unknown[]; readonly tp?: string }>(ref: QueueRef, processor: Processor<D>): Processor<D> {
  const queue = queueName(ref);
  return (job, token) =>
    withSpan(
      `job ${ref.kind}`,
      SpanKind.CONSUMER,
      {
        'relay.kind': ref.kind,
        'relay.lane': ref.lane,
        'relay.class': ref.cls,
        'relay.items': job.data.items.length,
        'messaging.system': 'bullmq',
        'messaging.destination.name': queue,
        'relay.attempt': job.attemptsMade + 1,
      },
      async (span) => {
        const result = await processor(job, token);
        if (result && typeof result === 'object') {
          for (const [k, v] of Object.entries(result)) if (typeof v === 'number') span.setAttribute(`relay.result.${k}`, v);
        }
        return result;
      },
      contextFrom(job.data.tp),
    );
}
