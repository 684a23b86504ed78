/**
 * POST /v1/events — one event, or {"events": [...]} with up to 1,000.
 *
 * The whole request is validated before anything is enqueued: one bad item fails the request
 * with every problem named (field and index), and nothing from it is queued. 202 is sent only
 * after Redis acknowledged every job.
 */
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { EventSchema, MAX_EVENTS_PER_REQUEST } from '../../model/event.ts';
import { isPlainValidEvent } from '../../model/event-fast-path.ts';
import { eventKey } from '../../item-keys.ts';
import type { EventItem } from '../../job-data.ts';
import type { V1Env } from '../middleware/v1.ts';
import type { Ingest } from '../../ingest/ingest.ts';
import { jsonError } from '../errors.ts';
import { type EnqueueOr503Deps, enqueueOr503, spooled } from '../enqueue-or-503.ts';
import { parseSingleOrBatch } from '../parse-batch.ts';
import { type ClassDeps, classInputs, ingestByClass } from '../ingest-by-class.ts';
import { itemClass } from '../../priority.ts';

/** What POST /v1/events needs: ingest, and what decides the items' class and answers a failed enqueue. */
export interface EventsRouteDeps extends EnqueueOr503Deps, ClassDeps {
  readonly ingest: Ingest;
}

export function eventsRoutes(deps: EventsRouteDeps) {
  const app = new Hono<V1Env>();

  app.post('/', async (c) => {
    const parsed = parseSingleOrBatch(c.get('body'), 'events', EventSchema, MAX_EVENTS_PER_REQUEST, isPlainValidEvent);
    if (!parsed.ok) return jsonError(c, 400, 'validation_failed', parsed.message, parsed.issues);
    const source = c.get('source');
    // `event` is zod's own copy of the input: stored as it is (no second copy; the id lives on the item).
    const items: EventItem[] = parsed.items.map((event) => {
      const id = event.id ?? randomUUID();
      return { key: eventKey(source.id, id), id, event };
    });
    // A backfill event is bulk whatever the request asked for (src/priority.ts).
    const classes = classInputs(c, deps);
    return enqueueOr503(c, deps, async () => {
      const result = await ingestByClass(deps.ingest, 'events', source, items, (it) => itemClass(classes, it.event.backfill), c.get('bodyBytes'));
      return c.json({ accepted: items.length, ids: items.map((it) => it.id), duplicates: result.duplicates, ...spooled(result) }, 202);
    });
  });

  return app;
}
