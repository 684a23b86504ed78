/**
 * Processor for `webhooks.<lane>` jobs: a Klaviyo webhook item goes through the rules, and the
 * work they produce is enqueued like any other (events, profile operations), keyed by the item
 * and rule so that processing the same item twice adds nothing.
 */
import type { Job } from 'bullmq';
import type { Ingest } from '../../src/ingest/ingest.ts';
import { decodeWebhookItem, jobOrigin, type WebhooksJobData } from '../../src/job-data.ts';
import type { Rule } from '../../src/relay-config.ts';
import { flowWebhookContext, systemWebhookContext } from '../../src/rules/context.ts';
import { evaluate } from '../../src/rules/engine.ts';

export interface WebhookResult {
  readonly applied: number;
  readonly events: number;
  readonly ops: number;
}

export type Count = (counter: string, fields: Readonly<Record<string, number>>) => Promise<void>;

export function webhooksProcessor(rules: readonly Rule[], ingest: Ingest, count: Count) {
  return async function processWebhooks(job: Job<WebhooksJobData>): Promise<WebhookResult> {
    const { source, lane } = jobOrigin(job.data);
    const origin = { id: source, lane };
    const total = { applied: 0, events: 0, ops: 0 };
    for (const item of job.data.items.map(decodeWebhookItem)) {
      const w = item.webhook;
      const ctx = 'topic' in w ? systemWebhookContext(w.topic, w.payload) : flowWebhookContext(w.flow, w.body);
      const out = evaluate(rules, ctx, origin, item.id);
      if (out.events.length > 0) await ingest.events(origin, out.events);
      if (out.ops.length > 0) await ingest.profileOps(origin, out.ops);
      total.applied += out.applied.length;
      total.events += out.events.length;
      total.ops += out.ops.length;
      await count('webhooks', { 'rules:applied': out.applied.length, 'rules:filtered': out.filtered, 'rules:no_profile': out.noProfile });
    }
    return total;
  };
}
