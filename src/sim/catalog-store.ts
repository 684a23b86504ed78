/**
 * The simulator's catalog (issue 15): items, variants and categories per account, and the bulk
 * jobs that change them. Kept beside the account (a WeakMap, so `reset` forgets it with the
 * account) rather than in state.ts: the catalog is its own feature.
 *
 * A bulk job's life cycle follows the clock, with no timer: `queued` when created, `processing`
 * from half of `catalogJobMs` on, `complete` at `catalogJobMs` — its operations are applied then,
 * the first time anyone looks (a request to the account or a read here). Jobs are applied in the
 * order they were created. A job not complete is "in progress"; Klaviyo allows 500 at a time
 * (OAS bulk_create_catalog_items: "The maximum number of jobs in progress at one time is 500").
 */
import type { SimAccount } from './state.ts';

export type CatalogType = 'item' | 'variant' | 'category';
export type CatalogAction = 'create' | 'update' | 'delete';

/** An error of one operation of a job, as Klaviyo's APIJobErrorPayload. */
export interface CatalogJobError {
  readonly id: string;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly source: { readonly pointer: string };
}

export interface CatalogJob {
  readonly id: string;
  readonly type: CatalogType;
  readonly action: CatalogAction;
  readonly createdAt: number;
  readonly startAt: number;
  readonly dueAt: number;
  /** The resource objects of the request (`data.attributes.items.data`), until applied. */
  pending: unknown[] | null;
  completedCount: number;
  failedCount: number;
  readonly errors: CatalogJobError[];
  /** Ids of the resources it created, updated or deleted. */
  readonly ids: string[];
  completedAt: number | null;
}

/** A catalog resource as stored: its compound id, attributes and relationships as last written. */
export interface CatalogResource {
  readonly id: string;
  attributes: Record<string, unknown>;
  /** item → category ids; variant → its item id; category → item ids. */
  related: string[];
  created: number;
  updated: number;
}

export interface CatalogState {
  readonly items: Map<string, CatalogResource>;
  readonly variants: Map<string, CatalogResource>;
  readonly categories: Map<string, CatalogResource>;
  readonly jobs: Map<string, CatalogJob>;
  /** Jobs not applied yet, in creation order. */
  readonly open: Set<CatalogJob>;
  /** Most jobs in progress at one time. */
  peakInProgress: number;
  /** Job creations refused because the in-progress cap was reached. */
  refusedAtCap: number;
}

const states = new WeakMap<SimAccount, CatalogState>();

export function catalogState(account: SimAccount): CatalogState {
  let s = states.get(account);
  if (!s) {
    s = { items: new Map(), variants: new Map(), categories: new Map(), jobs: new Map(), open: new Set(), peakInProgress: 0, refusedAtCap: 0 };
    states.set(account, s);
  }
  return s;
}

export function resourcesOf(state: CatalogState, type: CatalogType): Map<string, CatalogResource> {
  return type === 'item' ? state.items : type === 'variant' ? state.variants : state.categories;
}

/** `$custom:::$default:::<external_id>`: the only integration and catalog Klaviyo supports. */
export function compoundId(externalId: string): string {
  return `$custom:::$default:::${externalId}`;
}

export function jobStatus(job: CatalogJob, now: number): 'queued' | 'processing' | 'complete' {
  if (job.completedAt !== null || now >= job.dueAt) return 'complete';
  return now >= job.startAt ? 'processing' : 'queued';
}

export function inProgress(state: CatalogState, now: number): number {
  let n = 0;
  for (const job of state.open) if (jobStatus(job, now) !== 'complete') n++;
  return n;
}
