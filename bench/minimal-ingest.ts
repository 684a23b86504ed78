/**
 * The ingest baseline: the least a Hono + zod + BullMQ service can do per request — parse, validate
 * a small event, `queue.add`, answer 202. Our API is measured against this in the same run.
 * Env: PORT, REDIS_URL, PREFIX.
 */
import { serve } from '@hono/node-server';
import { Queue } from 'bullmq';
import { Hono } from 'hono';
import { Redis } from 'ioredis';
import { z } from 'zod';

const Event = z.object({
  id: z.string().min(1).max(255),
  event: z.string().min(1).max(127),
  profile: z.object({ email: z.email().optional(), phone_number: z.string().optional(), external_id: z.string().optional() }).loose(),
  properties: z.record(z.string(), z.unknown()).optional(),
  value: z.number().optional(),
});

const connection = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 });
const queue = new Queue('minimal', { connection, prefix: process.env.PREFIX ?? 'bench-minimal' });
const app = new Hono();
app.post('/v1/events', async (c) => {
  const parsed = Event.safeParse(await c.req.json());
  if (!parsed.success) return c.json({ error: parsed.error.message }, 400);
  await queue.add('e', parsed.data, { removeOnComplete: true });
  return c.json({ accepted: 1 }, 202);
});
const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3100), hostname: '127.0.0.1' }, (info) => {
  process.stdout.write(`listening on http://127.0.0.1:${info.port}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  void queue
    .close()
    .then(() => connection.quit())
    .then(() => process.exit(0));
});
