/**
 * Runs catalog operations of one type and action as Klaviyo bulk jobs: cut into requests of at
 * most 100 resources and under 5 MB, all sent at once within the lane's job slots (the cap of jobs
 * in progress), each polled until complete, and each job's errors mapped back to the operations
 * they name by pointer.
 *
 * What comes back per operation: done; `exists` (a create Klaviyo refused as a duplicate) or
 * `missing` (an update or delete of something Klaviyo does not have) for the caller to resolve;
 * or an ItemOutcome — rejected with Klaviyo's error naming the resource, or retry / paused as the
 * error taxonomy says (workers/retry-policy.ts).
 *
 * A 400 on the request itself (the body failed validation) applies nothing: the resources its
 * errors point at are rejected and the rest sent again; when no error points at one, the request
 * is split in halves until the bad ones are isolated (as workers/klaviyo-call.ts sendIsolating).
 */
import { z } from 'zod';
import { KlaviyoApiError } from '../../src/errors.ts';
import { KLAVIYO_LIMITS } from '../../src/klaviyo/endpoints.ts';
import { type CatalogAction, catalogEndpoints, catalogIndex, catalogJobBody } from '../../src/klaviyo/catalog-payloads.ts';
import type { ItemError } from '../../src/job-data.ts';
import type { CatalogType } from '../../src/model/catalog.ts';
import { callWithQuota, type CallDeps } from '../klaviyo-call.ts';
import { outcomeOf, toItemError, type ItemOutcome } from '../retry-policy.ts';
import type { JobSlots } from './job-slots.ts';

export type CatalogResult = { readonly kind: 'done' } | { readonly kind: 'exists' } | { readonly kind: 'missing' } | ItemOutcome;

export const DONE: CatalogResult = Object.freeze({ kind: 'done' });
const EXISTS: CatalogResult = Object.freeze({ kind: 'exists' });
const MISSING: CatalogResult = Object.freeze({ kind: 'missing' });

const MAX_PER_JOB = 100;
/** Under Klaviyo's 5 MB per request, with room for the envelope. */
const MAX_JOB_BYTES = KLAVIYO_LIMITS.maxRequestBytes - 64 * 1024;
const POLL_TIMEOUT_MS = 15 * 60_000;

const JobErrorSchema = z
  .object({
    code: z.string().optional(),
    title: z.string().optional(),
    detail: z.string().optional(),
    source: z.object({ pointer: z.string().optional() }).loose().optional(),
  })
  .loose();
const CatalogJobSchema = z
  .object({
    data: z
      .object({
        id: z.string(),
        attributes: z.object({ status: z.enum(['queued', 'processing', 'complete', 'cancelled']), errors: z.array(JobErrorSchema).nullish() }).loose(),
      })
      .loose(),
  })
  .loose();

export interface BulkJobDeps {
  readonly call: CallDeps;
  readonly slots: JobSlots;
  /** The first poll after this long, then twice as long each time up to 5 s. Default 250 ms. */
  readonly pollFirstMs?: number;
}

/** One operation to run: its resource's caller id and the resource object to send. */
export interface CatalogRequestOp {
  readonly id: string;
  readonly resource: unknown;
}

function jobError(type: CatalogType, id: string, endpoint: string, e: z.infer<typeof JobErrorSchema>): ItemError {
  return {
    status: 400,
    origin: 'klaviyo',
    code: e.code,
    // The dead letter names the resource: Klaviyo's detail may only name its compound id, or nothing.
    detail: `catalog ${type} ${id}: ${e.detail ?? e.title ?? 'rejected by Klaviyo'}`,
    pointer: e.source?.pointer,
    endpoint,
    at: Date.now(),
  };
}

const isDuplicate = (e: z.infer<typeof JobErrorSchema>) => e.code === 'duplicate' || /already exists/i.test(e.detail ?? '');
const isMissing = (e: z.infer<typeof JobErrorSchema>) => e.code === 'not_found' || /does not exist|not found/i.test(e.detail ?? '');

/** Cuts `ops` into requests of at most 100 resources and MAX_JOB_BYTES. */
function cut(ops: readonly CatalogRequestOp[]): number[][] {
  const chunks: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  ops.forEach((op, i) => {
    const size = Buffer.byteLength(JSON.stringify(op.resource));
    if (current.length > 0 && (current.length >= MAX_PER_JOB || bytes + size > MAX_JOB_BYTES)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(i);
    bytes += size + 1;
  });
  if (current.length > 0) chunks.push(current);
  return chunks;
}

export async function runBulkJobs(deps: BulkJobDeps, type: CatalogType, action: CatalogAction, ops: readonly CatalogRequestOp[]): Promise<CatalogResult[]> {
  const results: CatalogResult[] = ops.map(() => DONE);
  const { post, get } = catalogEndpoints(type, action);

  /** One request and its job: results for `idx`, or `resend` for those a request-level 400 did not blame. */
  async function one(idx: readonly number[]): Promise<void> {
    let resend: number[][] = [];
    await deps.slots.take();
    try {
      let jobId: string;
      try {
        const body = JSON.stringify(
          catalogJobBody(
            type,
            action,
            idx.map((i) => ops[i]!.resource),
          ),
        );
        const res = await callWithQuota(deps.call, { endpoint: post, body, schema: CatalogJobSchema });
        jobId = res.data.data.id;
      } catch (err) {
        if (!(err instanceof KlaviyoApiError) || err.status !== 400) {
          const o = outcomeOf(err);
          for (const i of idx) results[i] = o;
          return;
        }
        const blamed = new Set<number>();
        for (const e of err.errors) {
          const at = catalogIndex(e.source?.pointer);
          const i = at === undefined ? undefined : idx[at];
          if (i === undefined || blamed.has(i)) continue;
          blamed.add(i);
          results[i] = { kind: 'rejected', error: { ...toItemError(err, e), detail: `catalog ${type} ${ops[i]!.id}: ${e.detail ?? e.title ?? err.detail}` } };
        }
        const rest = idx.filter((i) => !blamed.has(i));
        if (blamed.size > 0) resend = rest.length > 0 ? [rest] : [];
        else if (idx.length === 1)
          results[idx[0]!] = { kind: 'rejected', error: { ...toItemError(err, err.errors[0]), detail: `catalog ${type} ${ops[idx[0]!]!.id}: ${err.detail}` } };
        else resend = [idx.slice(0, Math.ceil(idx.length / 2)), idx.slice(Math.ceil(idx.length / 2))];
        return;
      }

      const deadline = Date.now() + POLL_TIMEOUT_MS;
      let wait = deps.pollFirstMs ?? 250;
      for (;;) {
        await new Promise((r) => setTimeout(r, wait));
        wait = Math.min(wait * 2, 5000);
        let a: z.infer<typeof CatalogJobSchema>['data']['attributes'];
        try {
          a = (await callWithQuota(deps.call, { endpoint: get, pathParams: { id: jobId }, schema: CatalogJobSchema })).data.data.attributes;
        } catch (err) {
          // The job may still apply: its operations are retried, and a retried create that finds
          // its resource made is turned into an update (processor.ts).
          const o = outcomeOf(err);
          for (const i of idx) results[i] = o.kind === 'rejected' ? { kind: 'retry', error: o.error } : o;
          return;
        }
        if (a.status === 'cancelled' || (a.status !== 'complete' && Date.now() > deadline)) {
          const o = outcomeOf(
            new Error(`catalog ${type} bulk ${action} job ${jobId} ${a.status === 'cancelled' ? 'was cancelled' : 'did not complete in 15 min'}`),
          );
          for (const i of idx) results[i] = o;
          return;
        }
        if (a.status !== 'complete') continue;
        for (const e of a.errors ?? []) {
          const at = catalogIndex(e.source?.pointer);
          const i = at === undefined ? undefined : idx[at];
          if (i === undefined) continue;
          if (action === 'create' && isDuplicate(e)) results[i] = EXISTS;
          else if (action !== 'create' && isMissing(e)) results[i] = MISSING;
          else results[i] = { kind: 'rejected', error: jobError(type, ops[i]!.id, post, e) };
        }
        return;
      }
    } finally {
      deps.slots.release();
      // Sent again after the slot is free: with a cap of one, holding it would wait for ourselves.
      if (resend.length > 0) await Promise.all(resend.map(one));
    }
  }

  await Promise.all(cut(ops).map(one));
  return results;
}
