/**
 * Catalog bulk jobs (issue 15; OAS bulk_{create,update,delete}_catalog_{items,variants,categories}
 * and their get_…_job): POST answers 202 with a `catalog-<type>-bulk-<action>-job` whose status is
 * `queued`; the job goes `processing` and then `complete` as catalog-store.ts describes, and its
 * operations (`data.attributes.<items|variants|categories>.data`) are applied one by one: an operation that cannot be applied becomes an error of the
 * job (with the pointer of the resource object it came from) and the others still apply, which is
 * what the job's `completed_count`, `failed_count` and `errors` report (APIJobErrorPayload).
 *
 * Per-operation rules (the simulator's; Klaviyo documents none of these errors' codes):
 * creating an id that exists → `duplicate`; updating or deleting one that does not → `not_found`;
 * a variant whose item does not exist → `not_found`. More than 100 resource objects → 400. More
 * jobs than `catalogMaxJobsInProgress` in progress → 429 `throttled` (UNCONFIRMED: what Klaviyo
 * answers past its cap of 500 is not documented).
 */
import { ENDPOINTS, type EndpointName } from '../../klaviyo/endpoints.ts';
import {
  type CatalogAction,
  type CatalogJob,
  type CatalogState,
  type CatalogType,
  catalogState,
  compoundId,
  inProgress,
  jobStatus,
  resourcesOf,
} from '../catalog-store.ts';
import { uuid, ulid } from '../ids.ts';
import { KlaviyoHttpError } from '../json-api.ts';
import type { SimAccount } from '../state.ts';
import { klaviyoTime } from '../time.ts';
import { arr, obj, type Handler, type Obj } from './context.ts';

/** Where a job's resource objects sit: `/data/attributes/<items|variants|categories>/data`. */
const listPointer = (type: CatalogType): string => `/data/attributes/${PLURAL[type]}/data`;
const PLURAL: Record<CatalogType, string> = { item: 'items', variant: 'variants', category: 'categories' };

/** Applies every job due by `now`, in creation order. Called before each catalog request and read. */
export function settleCatalog(account: SimAccount, now: number): CatalogState {
  const state = catalogState(account);
  for (const job of state.open) {
    if (now < job.dueAt) continue;
    apply(state, job, now);
    state.open.delete(job);
  }
  return state;
}

function apply(state: CatalogState, job: CatalogJob, now: number): void {
  const ops = job.pending ?? [];
  job.pending = null;
  const store = resourcesOf(state, job.type);
  const what = `catalog ${job.type}`;
  for (const [index, raw] of ops.entries()) {
    const o = obj(raw);
    const attrs = obj(o['attributes']);
    const fail = (code: string, title: string, detail: string): void => {
      job.failedCount++;
      job.errors.push({ id: uuid(), code, title, detail, source: { pointer: `${listPointer(job.type)}/${index}` } });
    };
    if (job.action === 'create') {
      const id = compoundId(String(attrs['external_id']));
      if (store.has(id)) {
        fail('duplicate', 'Duplicate resource.', `A ${what} with id ${id} already exists.`);
        continue;
      }
      const related = relatedIds(job.type, obj(o['relationships']));
      if (job.type === 'variant' && !state.items.has(related[0] ?? '')) {
        fail('not_found', 'Not found.', `The catalog item ${related[0] ?? '(none)'} of variant ${id} does not exist.`);
        continue;
      }
      const { external_id: _e, integration_type: _i, catalog_type: _c, ...rest } = attrs;
      store.set(id, { id, attributes: rest, related, created: now, updated: now });
      job.ids.push(id);
    } else {
      const id = String(o['id']);
      const found = store.get(id);
      if (!found) {
        fail('not_found', 'Not found.', `A ${what} with id ${id} does not exist.`);
        continue;
      }
      if (job.action === 'delete') store.delete(id);
      else {
        found.attributes = { ...found.attributes, ...attrs };
        if (o['relationships'] !== undefined) found.related = relatedIds(job.type, obj(o['relationships']));
        found.updated = now;
      }
      job.ids.push(id);
    }
    job.completedCount++;
  }
  job.completedAt = now;
}

function relatedIds(type: CatalogType, rel: Obj): string[] {
  if (type === 'variant') {
    const id = obj(obj(rel['item'])['data'])['id'];
    return typeof id === 'string' ? [id] : [];
  }
  const list = arr(obj(rel[type === 'item' ? 'categories' : 'items'])['data']);
  return list.map((r) => String(obj(r)['id']));
}

function jobResource(job: CatalogJob, now: number, origin: string): Obj {
  const self = `${origin}/api/catalog-${job.type}-bulk-${job.action}-jobs/${job.id}/`;
  const status = jobStatus(job, now);
  return {
    type: `catalog-${job.type}-bulk-${job.action}-job`,
    id: job.id,
    attributes: {
      status,
      created_at: klaviyoTime(job.createdAt),
      total_count: job.completedCount + job.failedCount + (job.pending?.length ?? 0),
      completed_count: job.completedCount,
      failed_count: job.failedCount,
      completed_at: job.completedAt === null ? null : klaviyoTime(job.completedAt),
      errors: job.errors,
      expires_at: klaviyoTime(job.createdAt + 7 * 24 * 3600 * 1000),
    },
    relationships: { [PLURAL[job.type]]: { data: job.ids.map((id) => ({ type: `catalog-${job.type}`, id })) } },
    links: { self },
  };
}

function createJob(type: CatalogType, action: CatalogAction): Handler {
  const endpoint = `bulk_${action}_catalog_${PLURAL[type]}` as EndpointName;
  return (ctx) => {
    const ops = arr(obj(obj(obj(obj(ctx.body)['data'])['attributes'])[PLURAL[type]])['data']);
    const max = ENDPOINTS[endpoint].maxItems ?? 100;
    if (ops.length > max)
      throw KlaviyoHttpError.of(400, `At most ${max} catalog ${PLURAL[type]} are allowed per job; got ${ops.length}.`, {
        source: { pointer: listPointer(type) },
      });
    const state = settleCatalog(ctx.account, ctx.now);
    const cap = ctx.options.catalogMaxJobsInProgress;
    const open = inProgress(state, ctx.now);
    if (open >= cap) {
      state.refusedAtCap++;
      throw KlaviyoHttpError.of(429, `At most ${cap} catalog jobs may be in progress at one time.`, { code: 'throttled', title: 'Request was throttled.' });
    }
    const delay = ctx.options.catalogJobMs;
    const job: CatalogJob = {
      id: ulid(ctx.now),
      type,
      action,
      createdAt: ctx.now,
      startAt: ctx.now + delay / 2,
      dueAt: ctx.now + delay,
      pending: ops,
      completedCount: 0,
      failedCount: 0,
      errors: [],
      ids: [],
      completedAt: null,
    };
    state.jobs.set(job.id, job);
    state.open.add(job);
    // Counted with this one; a job of delay 0 is complete from its first GET on, but the 202 says `queued`.
    state.peakInProgress = Math.max(state.peakInProgress, open + 1);
    const data = jobResource(job, ctx.now, ctx.linkOrigin);
    return { status: 202, body: { data: { ...data, attributes: { ...(data['attributes'] as Obj), status: 'queued' } } } };
  };
}

function getJob(type: CatalogType, action: CatalogAction): Handler {
  return (ctx) => {
    const state = settleCatalog(ctx.account, ctx.now);
    const id = ctx.params['id'] ?? '';
    const job = state.jobs.get(id);
    if (!job || job.type !== type || job.action !== action) {
      throw KlaviyoHttpError.of(404, `A catalog ${type} bulk ${action} job with id ${id} does not exist.`, { source: { parameter: 'job_id' } });
    }
    const data = jobResource(job, ctx.now, ctx.linkOrigin);
    return { status: 200, body: { data, links: (data as { links: unknown }).links } };
  };
}

export const CATALOG_HANDLERS = {
  bulk_create_catalog_items: createJob('item', 'create'),
  bulk_update_catalog_items: createJob('item', 'update'),
  bulk_delete_catalog_items: createJob('item', 'delete'),
  bulk_create_catalog_variants: createJob('variant', 'create'),
  bulk_update_catalog_variants: createJob('variant', 'update'),
  bulk_delete_catalog_variants: createJob('variant', 'delete'),
  bulk_create_catalog_categories: createJob('category', 'create'),
  bulk_update_catalog_categories: createJob('category', 'update'),
  bulk_delete_catalog_categories: createJob('category', 'delete'),
  get_bulk_create_catalog_items_job: getJob('item', 'create'),
  get_bulk_update_catalog_items_job: getJob('item', 'update'),
  get_bulk_delete_catalog_items_job: getJob('item', 'delete'),
  get_bulk_create_variants_job: getJob('variant', 'create'),
  get_bulk_update_variants_job: getJob('variant', 'update'),
  get_bulk_delete_variants_job: getJob('variant', 'delete'),
  get_bulk_create_categories_job: getJob('category', 'create'),
  get_bulk_update_categories_job: getJob('category', 'update'),
  get_bulk_delete_categories_job: getJob('category', 'delete'),
} as const satisfies Partial<Record<EndpointName, Handler>>;
