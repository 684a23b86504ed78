/**
 * The delivery baseline: the naive design — one job per event, one create_event call per job,
 * no quota governor, no batching; BullMQ retries whatever fails (including the gateway's 429s)
 * with exponential backoff. Env: REDIS_URL, PREFIX, GATEWAY_URL, CONNECTION, CONCURRENCY.
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createKlaviyoClient } from '../src/klaviyo/client.ts';
import { createEventBody } from '../src/klaviyo/event-payloads.ts';

const connection = new Redis(process.env.REDIS_URL!, { maxRetriesPerRequest: null });
const client = createKlaviyoClient({
  mode: 'gateway',
  baseUrl: process.env.GATEWAY_URL!,
  apiKey: 'bench-maton-key',
  connectionId: process.env.CONNECTION ?? 'bench',
  revision: '2026-01-15',
  timeoutMs: 15_000,
});
const worker = new Worker(
  'naive',
  async (job) => {
    await client.request({ endpoint: 'create_event', body: createEventBody({ uniqueId: job.data.uniqueId, event: job.data.event }, client.target.revision) });
  },
  { connection, prefix: process.env.PREFIX ?? 'naive', concurrency: Number(process.env.CONCURRENCY ?? 50) },
);
worker.on('error', () => undefined);
process.stdout.write('ready\n');
process.on('SIGTERM', () => void worker.close(true).then(() => process.exit(0)));
