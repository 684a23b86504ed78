/**
 * POST|DELETE /v1/lists/{listId}/members
 *   {"profiles": [{identifiers}], "consent": {"email": true, "sms": false}, "source": "Checkout"}
 *
 * Without `consent`: list membership only (add or remove). With `consent`: subscribe (POST) or
 * unsubscribe (DELETE) the channels set to true. An unsubscribe always names the list, so it is
 * never account-wide, unless the request says `"global": true`.
 *
 * `listId` must look like a Klaviyo id: no request can steer a path on the gateway.
 */
import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { listMemberKey } from '../../item-keys.ts';
import { primaryIdentifier, type Channel } from '../../model/profile-operation.ts';
import { ListIdSchema, ListMembersSchema } from '../../model/profile-requests.ts';
import type { ProfileItem } from '../../job-data.ts';
import type { Ingest } from '../../ingest/ingest.ts';
import type { V1Env } from '../middleware/v1.ts';
import { jsonError, zodIssues, type FieldIssue } from '../errors.ts';
import { type EnqueueOr503Deps, enqueueOr503, spooled } from '../enqueue-or-503.ts';
import { type ClassDeps, classOfRequest, ingestByClass } from '../ingest-by-class.ts';

/** What /v1/lists/{listId}/members needs: ingest, and what decides the items' class and answers a failed enqueue. */
export interface ListsRouteDeps extends EnqueueOr503Deps, ClassDeps {
  readonly ingest: Ingest;
}

export function listsRoutes(deps: ListsRouteDeps) {
  const app = new Hono<V1Env>();

  const members = (remove: boolean) =>
    async function listMembers(c: Context<V1Env, '/:listId/members'>) {
      const listId = ListIdSchema.safeParse(c.req.param('listId'));
      if (!listId.success)
        return jsonError(c, 400, 'validation_failed', 'The list id is not valid', [{ field: 'listId', message: listId.error.issues[0]!.message }]);
      const parsed = ListMembersSchema.safeParse(c.get('body'));
      if (!parsed.success) return jsonError(c, 400, 'validation_failed', 'The request body is not valid', zodIssues(parsed.error));
      const body = parsed.data;

      const issues: FieldIssue[] = [];
      const channels: Channel[] = body.consent ? (['email', 'sms'] as const).filter((ch) => body.consent![ch] === true) : [];
      if (body.global && !(remove && body.consent)) issues.push({ field: 'global', message: 'only applies to an unsubscribe (DELETE with consent)' });
      body.profiles.forEach((p, i) => {
        if (channels.includes('email') && !p.email) issues.push({ field: `profiles[${i}].email`, index: i, message: 'is required to change email consent' });
        if (channels.includes('sms') && !p.phone_number)
          issues.push({ field: `profiles[${i}].phone_number`, index: i, message: 'is required to change SMS consent' });
      });
      if (issues.length > 0) return jsonError(c, 400, 'validation_failed', 'The request body is not valid', issues);

      const source = c.get('source');
      const id = body.id ?? randomUUID();
      const list = listId.data;
      const ops: ProfileItem[] = body.profiles.map((member) => {
        const who = primaryIdentifier(member)!;
        const operation: ProfileItem['operation'] = !body.consent
          ? { op: remove ? 'list-remove' : 'list-add', listId: list, member }
          : remove
            ? { op: 'unsubscribe', listId: body.global ? null : list, member, channels, source: body.source }
            : { op: 'subscribe', listId: list, member, channels, source: body.source };
        return { key: listMemberKey(source.id, id, operation.op, list, who), id, operation };
      });
      const cls = classOfRequest(c, deps);
      return enqueueOr503(c, deps, async () => {
        const result = await ingestByClass(deps.ingest, 'profileOps', source, ops, () => cls, c.get('bodyBytes'));
        return c.json({ accepted: ops.length, id, duplicates: result.duplicates, ...spooled(result) }, 202);
      });
    };

  app.post('/:listId/members', members(false));
  app.delete('/:listId/members', members(true));
  return app;
}
