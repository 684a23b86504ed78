/**
 * Bulk profile import (OAS bulk_import_profiles, get_bulk_import_profiles_job,
 * get_errors_for_bulk_import_profiles_job): POST answers 202 with a
 * `profile-bulk-import-job` whose status is `queued`; the job is processed `bulkImportDelayMs`
 * later (0 = at once) with profile-import semantics per profile. A profile that breaks a rule
 * (no identifier, bad email/phone, identifiers of two profiles) becomes an import error with
 * its pointer and original payload instead of failing the request; the good ones are imported
 * and added to the lists named in `relationships.lists`.
 */
import { KlaviyoHttpError } from '../json-api.ts';
import { uuid, ulid } from '../ids.ts';
import { addToList, ensureList, upsertStrict } from '../profile-store.ts';
import { profileIdentityErrors } from '../semantic-rules.ts';
import type { BulkImportJob, SimAccount } from '../state.ts';
import { klaviyoTime } from '../time.ts';
import { checkListId } from './lists.ts';
import { arr, obj, strOrNull, type Handler, type Obj } from './context.ts';

const BASE = '/data/attributes/profiles/data';

export function processJob(account: SimAccount, job: BulkImportJob, now: number): void {
  if (job.pending === null) return;
  const items = job.pending;
  job.pending = null;
  job.startedAt = now;
  for (const listId of job.listIds) ensureList(account, listId);
  for (const [index, raw] of items.entries()) {
    const item = obj(raw);
    const attributes = obj(item['attributes']);
    const fail = (code: string, title: string, detail: string, pointer: string): void => {
      job.failedCount++;
      job.errors.push({ id: uuid(), index, code, title, detail, pointer, originalPayload: attributes });
    };
    const ruleErrors = profileIdentityErrors(item, `${BASE}/${index}`, ['email', 'phone_number', 'external_id'], true);
    if (ruleErrors[0]) {
      fail('invalid', 'Invalid input.', ruleErrors[0].detail, ruleErrors[0].pointer);
      continue;
    }
    try {
      const { profile } = upsertStrict(account, { id: strOrNull(item['id']), attributes, meta: item['meta'] ? obj(item['meta']) : null }, now);
      job.completedCount++;
      job.profileIds.push(profile.id);
      for (const listId of job.listIds) addToList(account, listId, profile);
    } catch (e) {
      if (!(e instanceof KlaviyoHttpError) || !e.errors[0]) throw e;
      const err = e.errors[0];
      const pointer = err.source.pointer ? `${BASE}/${index}${err.source.pointer.replace(/^\/data/, '')}` : `${BASE}/${index}`;
      fail(err.code, err.title, err.detail, pointer);
    }
  }
  job.completedAt = now;
}

function jobStatus(job: BulkImportJob): 'queued' | 'processing' | 'complete' {
  if (job.completedAt !== null) return 'complete';
  return job.startedAt !== null ? 'processing' : 'queued';
}

function jobResource(job: BulkImportJob, origin: string): Obj {
  const self = `${origin}/api/profile-bulk-import-jobs/${job.id}/`;
  return {
    type: 'profile-bulk-import-job',
    id: job.id,
    attributes: {
      status: jobStatus(job),
      created_at: klaviyoTime(job.createdAt),
      total_count: job.totalCount,
      completed_count: job.completedCount,
      failed_count: job.failedCount,
      completed_at: job.completedAt === null ? null : klaviyoTime(job.completedAt),
      expires_at: klaviyoTime(job.createdAt + 7 * 24 * 3600 * 1000),
      started_at: job.startedAt === null ? null : klaviyoTime(job.startedAt),
    },
    relationships: {
      lists: { data: job.listIds.map((id) => ({ type: 'list', id })) },
      'import-errors': { links: { related: `${self}import-errors/` } },
    },
    links: { self },
  };
}

export const bulkImportProfiles: Handler = (ctx) => {
  const data = obj(obj(ctx.body)['data']);
  const items = arr(obj(obj(data['attributes'])['profiles'])['data']);
  const listIds = arr(obj(obj(data['relationships'])['lists'])['data']).map((ref, i) => {
    const id = String(obj(ref)['id']);
    checkListId(id, { pointer: `/data/relationships/lists/data/${i}/id` });
    return id;
  });
  const job: BulkImportJob = {
    id: ulid(ctx.now),
    createdAt: ctx.now,
    dueAt: ctx.now + ctx.options.bulkImportDelayMs,
    startedAt: null,
    completedAt: null,
    totalCount: items.length,
    completedCount: 0,
    failedCount: 0,
    listIds,
    profileIds: [],
    errors: [],
    pending: items,
  };
  ctx.account.bulkImportJobs.set(job.id, job);
  // The 202 shows the job as submitted; processing happens after (at once when the delay is 0).
  const body = { data: jobResource(job, ctx.linkOrigin) };
  if (ctx.options.bulkImportDelayMs <= 0) processJob(ctx.account, job, ctx.now);
  else ctx.scheduleJob(ctx.account, job);
  return { status: 202, body };
};

function getJob(account: SimAccount, id: string): BulkImportJob {
  const job = account.bulkImportJobs.get(id);
  if (!job) throw KlaviyoHttpError.of(404, `A profile bulk import job with id ${id} does not exist.`, { source: { parameter: 'job_id' } });
  return job;
}

export const getBulkImportProfilesJob: Handler = (ctx) => {
  const job = getJob(ctx.account, ctx.params['id'] ?? '');
  return { status: 200, body: { data: jobResource(job, ctx.linkOrigin), links: { self: `${ctx.linkOrigin}/api/profile-bulk-import-jobs/${job.id}/` } } };
};

export const getBulkImportProfilesJobErrors: Handler = (ctx) => {
  const job = getJob(ctx.account, ctx.params['id'] ?? '');
  return {
    status: 200,
    body: {
      data: job.errors.map((e) => ({
        type: 'import-error',
        id: e.id,
        attributes: {
          code: e.code,
          title: e.title,
          detail: e.detail,
          source: { pointer: e.pointer },
          original_payload: e.originalPayload,
        },
        // Not in Klaviyo's schema; the simulator adds the index of the rejected profile.
        meta: { index: e.index },
      })),
      links: { self: `${ctx.linkOrigin}/api/profile-bulk-import-jobs/${job.id}/import-errors/` },
    },
  };
};
