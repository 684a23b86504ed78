/**
 * Hands a request's items to ingest by class: a batch with both live and backfill events becomes
 * one ingest call per class (each into its own queue), answered together once Redis holds both.
 */
import type { Context } from 'hono';
import type { EnqueueResult } from '../ingest/enqueue.ts';
import type { Origin } from '../ingest/ingest.ts';
import { requestClass, splitByClass, type ClassInputs, type PriorityClass } from '../priority.ts';
import type { Source } from '../sources.ts';
import type { AppDeps, V1Env } from './app.ts';

/** What decides the class of this request's items (src/priority.ts). */
export function classInputs(c: Context<V1Env>, deps: Pick<AppDeps, 'priorities'>): ClassInputs {
  return { enabled: deps.priorities?.enabled !== false, requested: c.get('priority'), sourceDefault: c.get('source').priority };
}

/** One class for the whole request (profile operations have no backfill of their own). */
export function classOfRequest(c: Context<V1Env>, deps: Pick<AppDeps, 'priorities'>): PriorityClass {
  return requestClass(classInputs(c, deps));
}

/** `bytes`: the request body's size (queued-bytes limits); each class's part carries its items' share. */
export async function ingestByClass<I>(
  send: (origin: Origin, items: readonly I[], bytes?: number) => Promise<EnqueueResult>,
  source: Source,
  items: readonly I[],
  classOf: (item: I) => PriorityClass,
  bytes?: number,
): Promise<EnqueueResult> {
  const parts = splitByClass(items, classOf);
  const share = (n: number) => (bytes === undefined || items.length === 0 ? bytes : (bytes * n) / items.length);
  // Only what ingest needs travels on (it is also what a spool record keeps).
  const results = await Promise.all(parts.map(([cls, part]) => send({ id: source.id, lane: source.lane, cls }, part, share(part.length))));
  if (results.length === 0) return { enqueued: 0, duplicates: 0, jobIds: [] };
  if (results.length === 1) return results[0]!;
  return {
    enqueued: results.reduce((n, r) => n + r.enqueued, 0),
    duplicates: results.reduce((n, r) => n + r.duplicates, 0),
    jobIds: results.flatMap((r) => r.jobIds),
    ...(results.some((r) => r.spooled) ? { spooled: true } : {}),
  };
}
