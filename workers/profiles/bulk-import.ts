/**
 * Profile upserts on a backlog: profile-bulk-import-jobs carries up to 10,000 profiles per call
 * (10/s, 150/min) where profile-import carries one (75/s, 750/min, and the gateway's 10/s).
 *
 * Klaviyo imports asynchronously: the job is polled until complete, then its import errors are
 * fetched and mapped back to the profiles they name (by pointer); only then do the items settle,
 * so the per-profile order still holds (an upsert is done before the list add behind it). A
 * `duplicate_profile` import error is handed to the single-profile path, which resolves it.
 */
import { KlaviyoApiError } from '../../src/errors.ts';
import { bulkImportBody, bulkImportIndex } from '../../src/klaviyo/profile-payloads.ts';
import { BulkImportJobSchema, ImportErrorsPageSchema } from '../../src/klaviyo/schemas.ts';
import type { ProfileItem } from '../../src/job-data.ts';
import { REQUEUE, type SendResult } from '../batcher.ts';
import { call, callWithQuota, type CallDeps } from '../klaviyo-call.ts';
import { classify, DELIVERED, outcomeOf, toItemError, type ItemOutcome } from '../retry-policy.ts';

/** Below this many waiting upserts, single profile-import calls are quicker than an async job. */
export const BULK_IMPORT_MIN = 20;
const POLL_TIMEOUT_MS = 15 * 60_000;

type Upsert = Extract<ProfileItem['operation'], { op: 'upsert' }>;

export async function bulkImport(
  deps: CallDeps,
  items: readonly ProfileItem[],
  single: (item: ProfileItem) => Promise<ItemOutcome>,
): Promise<SendResult<ItemOutcome>[]> {
  let jobId: string;
  const payload = JSON.stringify(bulkImportBody(items.map((it) => (it.operation as Upsert).profile)));
  const grant = await deps.governor.take(deps.scope, 'bulk_import_profiles', undefined, deps.cls ?? 'live');
  try {
    const res = await call(deps, { endpoint: 'bulk_import_profiles', body: payload, schema: BulkImportJobSchema, grant }, items.length);
    jobId = res.data.data.id;
  } catch (err) {
    if (classify(err) === 'rate-limited') return items.map((): SendResult<ItemOutcome> => REQUEUE);
    // A 400 rejects the whole import (a schema error); profile-import then finds the bad one(s).
    if (err instanceof KlaviyoApiError && err.status === 400) return Promise.all(items.map(single));
    return items.map(() => outcomeOf(err));
  }

  const deadline = Date.now() + POLL_TIMEOUT_MS;
  let wait = 250;
  for (;;) {
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 5000);
    try {
      const job = await callWithQuota(deps, { endpoint: 'get_bulk_import_profiles_job', pathParams: { id: jobId }, schema: BulkImportJobSchema });
      const a = job.data.data.attributes;
      if (a.status === 'cancelled') return items.map(() => outcomeOf(new Error(`bulk import job ${jobId} was cancelled`)));
      if (a.status !== 'complete') {
        if (Date.now() > deadline) return items.map(() => outcomeOf(new Error(`bulk import job ${jobId} did not complete in ${POLL_TIMEOUT_MS / 60_000} min`)));
        continue;
      }
      if (!a.failed_count) return items.map(() => DELIVERED);
      break;
    } catch (err) {
      return items.map(() => outcomeOf(err));
    }
  }

  const outcomes: (ItemOutcome | Promise<ItemOutcome>)[] = items.map(() => DELIVERED);
  try {
    const grant = await deps.governor.take(deps.scope, 'get_bulk_import_profiles_job_errors', undefined, deps.cls ?? 'live');
    for await (const page of deps.client.paginate({
      grant,
      endpoint: 'get_bulk_import_profiles_job_errors',
      pathParams: { id: jobId },
      schema: ImportErrorsPageSchema,
    })) {
      for (const e of page.data) {
        const i = bulkImportIndex(e.attributes.source?.pointer) ?? (typeof e.meta?.index === 'number' ? e.meta.index : undefined);
        if (i === undefined || !items[i]) continue;
        const item = items[i];
        outcomes[i] =
          e.attributes.code === 'duplicate_profile'
            ? single(item)
            : {
                kind: 'rejected',
                error: {
                  ...toItemError(new KlaviyoApiError(400, 'klaviyo', e.attributes.code, e.attributes.detail, undefined, [], 'bulk_import_profiles')),
                  pointer: e.attributes.source?.pointer,
                },
              };
      }
    }
  } catch (err) {
    // The import happened; without its error list we cannot tell which profiles failed. Retrying
    // them all is safe: profile-import is an upsert.
    return items.map(() => outcomeOf(err));
  }
  return Promise.all(outcomes);
}
