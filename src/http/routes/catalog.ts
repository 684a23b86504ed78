/**
 * The catalog (issue 15):
 *
 *   PUT    /v1/catalog/{items|variants|categories}   one resource, or {"<plural>": [...]} (≤ 1,000): upserts
 *   DELETE /v1/catalog/{items|variants|categories}   {"id": "…"} or {"ids": [...]} (≤ 1,000): deletes
 *   POST   /v1/catalog/sync[?sync_id=&final=&deletes=] the whole catalog: NDJSON (streamed, any size,
 *          one resource a line with its "type") or {"items": [...]} JSON; src/catalog/sync.ts
 *
 * Upserts and deletes are accepted whole or not at all (every problem named) and applied in the
 * order accepted (src/catalog/accept.ts). A sync is read as it arrives, so it is never held in
 * memory whole: its valid lines are accepted batch by batch, and invalid ones are listed in the
 * answer (422, with the counts) rather than failing what was already taken.
 *
 * The sync route reads its own body (request-body.ts: readLines for NDJSON, readBody for JSON), so
 * it is mounted before the /v1 middleware (which buffers a body up to RELAY_MAX_BODY_BYTES): authenticated first, by bearer key only — a Standard Webhooks
 * signature covers the whole body, which a streamed sync cannot wait for before accepting lines.
 */
import { type Context, Hono } from 'hono';
import { z } from 'zod';
import type { CatalogIngest } from '../../catalog/accept.ts';
import { newSyncId, syncSession, type SyncSummary } from '../../catalog/sync.ts';
import type { Source, SourceRegistry } from '../../sources.ts';
import { CatalogDeleteSchema, type CatalogType, MAX_CATALOG_PER_REQUEST, PLURAL, SCHEMA_OF, upsertOp } from '../../model/catalog.ts';
import { type EnqueueOr503Deps, enqueueOr503 } from '../enqueue-or-503.ts';
import { jsonError, zodIssues } from '../errors.ts';
import { authenticate, type AuthEnv } from '../middleware/authenticate.ts';
import type { JsonBodyEnv } from '../middleware/json-body.ts';
import { LINE_TOO_LONG, NOT_UTF8, readBody, readLines } from '../request-body.ts';
import type { V1Env } from '../middleware/v1.ts';
import { parseSingleOrBatch } from '../parse-batch.ts';

export interface CatalogRouteDeps extends EnqueueOr503Deps {
  readonly catalog?: CatalogIngest;
}

const TYPES: readonly CatalogType[] = ['item', 'variant', 'category'];

function unavailable(c: Context) {
  return jsonError(c, 404, 'not_found', 'The catalog is not served by this relay');
}

/** PUT and DELETE /v1/catalog/{items|variants|categories}, under the /v1 middleware. */
export function catalogRoutes(deps: CatalogRouteDeps) {
  const app = new Hono<V1Env>();
  for (const type of TYPES) {
    const plural = PLURAL[type];
    app.put(`/${plural}`, async (c) => {
      const catalog = deps.catalog;
      if (!catalog) return unavailable(c);
      const parsed = parseSingleOrBatch(c.get('body'), plural, SCHEMA_OF[type], MAX_CATALOG_PER_REQUEST);
      if (!parsed.ok) return jsonError(c, 400, 'validation_failed', parsed.message, parsed.issues);
      const source = c.get('source');
      const ops = parsed.items.map((data) => upsertOp(type, data));
      return enqueueOr503(c, deps, async () => {
        const r = await catalog.accept({ id: source.id, lane: source.lane }, ops);
        return c.json({ accepted: r.accepted }, 202);
      });
    });
    app.delete(`/${plural}`, async (c) => {
      const catalog = deps.catalog;
      if (!catalog) return unavailable(c);
      const parsed = CatalogDeleteSchema.safeParse(c.get('body'));
      if (!parsed.success)
        return jsonError(c, 400, 'validation_failed', 'The request body is not valid: give {"id": "…"} or {"ids": [...]}', zodIssues(parsed.error));
      const ids = 'ids' in parsed.data ? parsed.data.ids : [parsed.data.id];
      const source = c.get('source');
      return enqueueOr503(c, deps, async () => {
        const r = await catalog.accept(
          { id: source.id, lane: source.lane },
          ids.map((id) => ({ type, action: 'delete' as const, id })),
        );
        return c.json({ accepted: r.accepted }, 202);
      });
    });
  }
  return app;
}

export interface CatalogSyncRouteDeps extends CatalogRouteDeps {
  readonly sources: SourceRegistry;
  readonly maxBodyBytes: number;
}

export const SyncQuerySchema = z
  .object({
    sync_id: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1 to 64 letters, digits, "_", "." or "-"')
      .optional(),
    final: z.enum(['true', 'false', '1', '0']).optional(),
    deletes: z.enum(['true', 'false', '1', '0']).optional(),
  })
  .strict();

const NDJSON = /^application\/(?:x-ndjson|ndjson|jsonl|x-jsonlines|jsonlines)\s*(?:;|$)/i;
const JSON_TYPE = /^application\/json\s*(?:;|$)/i;
/** A line longer than this is refused (one resource is far smaller), so a line without end cannot fill memory. */
export const MAX_LINE_BYTES = 1024 * 1024;
/** A JSON sync: each item is a line of the feed (SyncLineSchema), checked one by one as NDJSON lines are. */
export const JsonSyncSchema = z.object({ items: z.array(z.unknown()).max(100_000) }).strict();

type SyncEnv = { Variables: AuthEnv['Variables'] & JsonBodyEnv['Variables'] };

function summaryBody(s: SyncSummary) {
  return {
    sync_id: s.syncId,
    complete: s.complete,
    received: s.received,
    unchanged: s.unchanged,
    upserts: s.upserts,
    deletes: s.deletes,
    invalid: s.invalid,
    ...(s.problems.length > 0 ? { problems: s.problems } : {}),
    ...(s.deletesSkipped ? { deletes_skipped: s.deletesSkipped } : {}),
  };
}

/** POST /v1/catalog/sync, mounted on the app itself (see above). */
export function catalogSyncRoutes(deps: CatalogSyncRouteDeps) {
  const app = new Hono<SyncEnv>();
  app.use('/sync', authenticate<SyncEnv>(deps.sources));
  app.post('/sync', async (c) => {
    const catalog = deps.catalog;
    if (!catalog) return unavailable(c);
    if (c.get('signed')) return jsonError(c, 400, 'bearer_key_required', 'A catalog sync is authenticated with "Authorization: Bearer <key>", not a signature');
    const query = SyncQuerySchema.safeParse(c.req.query());
    if (!query.success) return jsonError(c, 400, 'validation_failed', 'The query is not valid', zodIssues(query.error));
    const q = query.data;
    const flag = (v: string | undefined, dflt: boolean) => (v === undefined ? dflt : v === 'true' || v === '1');
    const contentType = c.req.header('content-type') ?? '';
    const ndjson = NDJSON.test(contentType);
    if (!ndjson && !JSON_TYPE.test(contentType)) {
      return jsonError(c, 415, 'unsupported_media_type', 'Send the catalog as application/x-ndjson (one resource a line) or application/json {"items": [...]}');
    }
    const source: Source = c.get('source');
    const session = syncSession(
      catalog,
      { id: source.id, lane: source.lane },
      {
        syncId: q.sync_id ?? newSyncId(),
        // A request without a sync id is a whole sync; with one, a chunk of it until final=true.
        final: flag(q.final, q.sync_id === undefined),
        deletes: flag(q.deletes, false),
      },
    );
    return enqueueOr503(c, deps, async () => {
      if (ndjson) {
        let notUtf8 = false;
        for await (const line of readLines(c, MAX_LINE_BYTES)) {
          if (line === LINE_TOO_LONG) session.reject(`is longer than ${MAX_LINE_BYTES} bytes`);
          else if (line === NOT_UTF8)
            notUtf8 = true; // the last: the rest of the body is not read
          else await session.line(line);
        }
        if (notUtf8) {
          const s = await session.finish();
          return jsonError(c, 400, 'invalid_body', `The body is not UTF-8; the ${s.received} line(s) before it were taken`);
        }
      } else {
        const raw = await readBody(c, deps.maxBodyBytes);
        if (raw === 'too-large')
          return jsonError(
            c,
            413,
            'payload_too_large',
            `The body is larger than ${deps.maxBodyBytes} bytes; send NDJSON (streamed, any size) or chunks with a sync_id`,
          );
        let body: unknown;
        try {
          body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
        } catch (err) {
          return jsonError(c, 400, 'invalid_json', `The body is not valid JSON: ${(err as Error).message}`, [
            { field: '(body)', message: 'is not valid JSON' },
          ]);
        }
        const parsed = JsonSyncSchema.safeParse(body);
        if (!parsed.success) return jsonError(c, 400, 'validation_failed', 'The request body is not valid: give {"items": [...]}', zodIssues(parsed.error));
        for (const item of parsed.data.items) await session.value(item);
      }
      const s = await session.finish();
      if (s.invalid > 0) {
        return c.json(
          { error: 'invalid_lines', message: `${s.invalid} line(s) were not valid (the first are listed); the others were taken`, ...summaryBody(s) },
          422,
        );
      }
      return c.json(summaryBody(s), 202);
    });
  });
  return app;
}
