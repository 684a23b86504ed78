/**
 * POST /v1/privacy/deletions — erase a person (issue 16): `{"email": …}`, `{"phone_number": …}`
 * or `{"profile_id": …}`, or `{"deletions": [...]}` with up to 100.
 *
 * The relay's own copies are purged before the answer (src/privacy/erasure.ts): work not yet
 * delivered is cancelled, delivered and dead-lettered copies, the profile-id cache, the audit
 * stream and the spool lose the person. Then Klaviyo's deletion job is queued (an `erase` profile
 * operation), sent through the quota governor and retried like any work. The answer is the
 * erasure's record: what was removed where, under a hash of the identifier.
 *
 * POST|DELETE /v1/suppressions — `{"emails": [...]}` (up to 1,000): stop (or resume) marketing
 * email to these addresses without erasing anyone; sent to Klaviyo in jobs of up to 100.
 */
import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { privacyItemKey } from '../../item-keys.ts';
import { DeletionSchema, MAX_DELETIONS_PER_REQUEST, SuppressionsSchema, type DeletionInput } from '../../model/privacy-requests.ts';
import type { ProfileRef } from '../../model/profile-operation.ts';
import type { ProfileItem } from '../../job-data.ts';
import type { Ingest } from '../../ingest/ingest.ts';
import type { ErasureRecord, Eraser } from '../../privacy/erasure.ts';
import { person, type ErasureField } from '../../privacy/person.ts';
import type { V1Env } from '../middleware/v1.ts';
import { jsonError, zodIssues } from '../errors.ts';
import { type EnqueueOr503Deps, enqueueOr503, spooled } from '../enqueue-or-503.ts';
import { type ClassDeps, classOfRequest, ingestByClass } from '../ingest-by-class.ts';
import { parseSingleOrBatch } from '../parse-batch.ts';

export interface PrivacyRouteDeps extends EnqueueOr503Deps, ClassDeps {
  readonly ingest: Ingest;
  /** Absent where the API has no Redis to purge (never in a running service). */
  readonly erase?: Eraser;
}

function identifierOf(d: DeletionInput): { field: ErasureField; value: string; ref: ProfileRef } {
  if (d.email !== undefined) return { field: 'email', value: d.email, ref: { email: d.email } };
  if (d.phone_number !== undefined) return { field: 'phone_number', value: d.phone_number, ref: { phone_number: d.phone_number } };
  return { field: 'profile_id', value: d.profile_id!, ref: { kid: d.profile_id! } };
}

export function privacyRoutes(deps: PrivacyRouteDeps) {
  const app = new Hono<V1Env>();

  app.post('/privacy/deletions', async (c) => {
    const parsed = parseSingleOrBatch(c.get('body'), 'deletions', DeletionSchema, MAX_DELETIONS_PER_REQUEST);
    if (!parsed.ok) return jsonError(c, 400, 'validation_failed', parsed.message, parsed.issues);
    if (!deps.erase) return jsonError(c, 503, 'unavailable', 'erasure needs Redis, which this process has not');
    const source = c.get('source');
    const who = parsed.items.map((d) => ({ id: d.id ?? randomUUID(), ...identifierOf(d) }));
    let records: ErasureRecord[];
    try {
      records = await deps.erase(
        who.map((w) => person(w.field, w.value)),
        source.id,
      );
    } catch (err) {
      deps.log.error({ err: (err as Error).message }, 'erasure: could not purge the relay’s stores');
      c.header('Retry-After', '5');
      return jsonError(c, 503, 'unavailable', 'The relay could not purge its stores (Redis unavailable); nothing was queued, retry with the same ids');
    }
    deps.metrics?.erasures.inc(records.length);
    for (const r of records) for (const [store, n] of Object.entries(r.removed)) if (n > 0) deps.metrics?.erasedItems.inc({ store }, n);
    const ops: ProfileItem[] = who.map((w) => ({
      key: privacyItemKey(source.id, w.id, 'erase', w.field, w.value),
      id: w.id,
      operation: { op: 'erase', member: w.ref },
    }));
    const cls = classOfRequest(c, deps);
    return enqueueOr503(c, deps, async () => {
      const result = await ingestByClass(deps.ingest, 'profileOps', source, ops, () => cls, c.get('bodyBytes'));
      return c.json({ accepted: ops.length, ids: who.map((w) => w.id), duplicates: result.duplicates, erasures: records, ...spooled(result) }, 202);
    });
  });

  const suppressions = (suppress: boolean) =>
    async function suppressionsRoute(c: Context<V1Env>) {
      const parsed = SuppressionsSchema.safeParse(c.get('body'));
      if (!parsed.success) return jsonError(c, 400, 'validation_failed', 'The request body is not valid', zodIssues(parsed.error));
      const source = c.get('source');
      const id = parsed.data.id ?? randomUUID();
      const op = suppress ? 'suppress' : 'unsuppress';
      const emails = [...new Set(parsed.data.emails.map((e) => e.toLowerCase()))];
      const ops: ProfileItem[] = emails.map((email) => ({
        key: privacyItemKey(source.id, id, op, 'email', email),
        id,
        operation: { op, member: { email } },
      }));
      const cls = classOfRequest(c, deps);
      return enqueueOr503(c, deps, async () => {
        const result = await ingestByClass(deps.ingest, 'profileOps', source, ops, () => cls, c.get('bodyBytes'));
        return c.json({ accepted: ops.length, id, duplicates: result.duplicates, ...spooled(result) }, 202);
      });
    };
  app.post('/suppressions', suppressions(true));
  app.delete('/suppressions', suppressions(false));
  return app;
}
