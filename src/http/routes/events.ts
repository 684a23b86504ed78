/**
 * POST /v1/events — one event, or {"events": [...]} with up to 1,000.
 *
 * The whole request is validated before anything is enqueued: one bad item fails the request
 * with every problem named (field and index), and nothing from it is queued. 202 is sent only
 * after Redis acknowledged every job.
 */
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { EventSchema, EventsBatchSchema, type EventInput } from '../../model/event.ts';
import { itemKey } from '../../model/ids.ts';
import type { EventItem, EventsJobData } from '../../queues.ts';
import type { AuthEnv } from '../middleware/bearer-auth.ts';
import type { JsonBodyEnv } from '../middleware/json-body.ts';
import { jsonError, zodIssues, type FieldIssue } from '../errors.ts';
import type { AppDeps } from '../app.ts';
import { enqueueOr503 } from '../enqueue-or-503.ts';

type Env = { Variables: AuthEnv['Variables'] & JsonBodyEnv['Variables'] };

export function eventsRoutes(deps: AppDeps) {
  const app = new Hono<Env>();

  app.post('/', async (c) => {
    const body = c.get('body');
    const source = c.get('source');

    const isBatch = body !== null && typeof body === 'object' && !Array.isArray(body) && 'events' in body;
    let raw: unknown[];
    if (isBatch) {
      const batch = EventsBatchSchema.safeParse(body);
      if (!batch.success) return jsonError(c, 400, 'validation_failed', 'The request body is not valid', zodIssues(batch.error));
      raw = batch.data.events;
    } else {
      raw = [body];
    }

    const issues: FieldIssue[] = [];
    const events: EventInput[] = [];
    raw.forEach((item, i) => {
      const parsed = EventSchema.safeParse(item);
      if (parsed.success) events.push(parsed.data);
      else issues.push(...(isBatch ? zodIssues(parsed.error, ['events', i], i) : zodIssues(parsed.error)));
    });
    if (issues.length > 0) {
      const bad = new Set(issues.map((x) => x.index)).size;
      const message = isBatch ? `${bad} of ${raw.length} events are not valid; nothing was accepted` : 'The event is not valid';
      return jsonError(c, 400, 'validation_failed', message, issues);
    }

    const items: EventItem[] = events.map((e) => {
      const id = e.id ?? randomUUID();
      return { k: itemKey(source.id, id), id, e: { ...e, id } };
    });
    const at = Date.now();
    return enqueueOr503(c, deps, async () => {
      const result = await deps.enqueuer.enqueue('events', source.lane, items, (chunk): EventsJobData => ({ v: 1, src: source.id, lane: source.lane, at, items: chunk }));
      return c.json({ accepted: items.length, ids: items.map((it) => it.id), duplicates: result.duplicates }, 202);
    });
  });

  return app;
}
