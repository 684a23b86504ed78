/**
 * POST /v1/profiles — upsert one profile, or {"profiles": [...]} with up to 1,000. A field set
 * to null clears it, an omitted one is left alone (Klaviyo's profile-import semantics).
 * Optional "lists" adds the profile to those lists after the upsert (per-profile order).
 *
 * `id` identifies this update (not the person): the same id from the same key is applied once.
 */
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { profileListAddKey, profileUpsertKey } from '../../item-keys.ts';
import { MAX_PROFILES_PER_REQUEST, ProfileUpsertSchema } from '../../model/profile-requests.ts';
import type { ProfileItem } from '../../job-data.ts';
import type { Ingest } from '../../ingest/ingest.ts';
import type { V1Env } from '../middleware/v1.ts';
import { jsonError } from '../errors.ts';
import { type EnqueueOr503Deps, enqueueOr503, spooled } from '../enqueue-or-503.ts';
import { type ClassDeps, classOfRequest, ingestByClass } from '../ingest-by-class.ts';
import { parseSingleOrBatch } from '../parse-batch.ts';

/** What POST /v1/profiles needs: ingest, and what decides the items' class and answers a failed enqueue. */
export interface ProfilesRouteDeps extends EnqueueOr503Deps, ClassDeps {
  readonly ingest: Ingest;
}

export function profilesRoutes(deps: ProfilesRouteDeps) {
  const app = new Hono<V1Env>();

  app.post('/', async (c) => {
    const parsed = parseSingleOrBatch(c.get('body'), 'profiles', ProfileUpsertSchema, MAX_PROFILES_PER_REQUEST);
    if (!parsed.ok) return jsonError(c, 400, 'validation_failed', parsed.message, parsed.issues);
    const source = c.get('source');
    const ids: string[] = [];
    const ops: ProfileItem[] = [];
    for (const p of parsed.items) {
      const { id: given, lists, ...profile } = p;
      const id = given ?? randomUUID();
      ids.push(id);
      ops.push({ key: profileUpsertKey(source.id, id), id, operation: { op: 'upsert', profile } });
      const member = { email: profile.email, phone_number: profile.phone_number, external_id: profile.external_id };
      for (const listId of new Set(lists ?? [])) ops.push({ key: profileListAddKey(source.id, id, listId), id, operation: { op: 'list-add', listId, member } });
    }
    const cls = classOfRequest(c, deps);
    return enqueueOr503(c, deps, async () => {
      const result = await ingestByClass(deps.ingest, 'profileOps', source, ops, () => cls, c.get('bodyBytes'));
      return c.json({ accepted: ids.length, ids, duplicates: result.duplicates, ...spooled(result) }, 202);
    });
  });

  return app;
}
