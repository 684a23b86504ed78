/**
 * Hands a request's items to ingest by class: a batch with both live and backfill events becomes
 * one ingest call per class (each into its own queue), answered together once Redis holds both.
 */
import type { Context } from 'hono';
import type { EnqueueResult } from '../ingest/enqueue.ts';
import type { Ingest, Origin } from '../ingest/ingest.ts';
import { requestClass, splitByClass, type ClassInputs, type PriorityClass } from '../priority.ts';
import type { Source } from '../sources.ts';
import type { V1Env } from './middleware/v1.ts';

/** RELAY_CONFIG `priorities` (src/priority.ts): `enabled: false` makes every item live. */
export interface ClassDeps {
  readonly priorities?: { readonly enabled: boolean };
}

/** What decides the class of this request's items (src/priority.ts). */
export function classInputs(c: Context<V1Env>, deps: ClassDeps): ClassInputs {
  return { enabled: deps.priorities?.enabled !== false, requested: c.get('priority'), sourceDefault: c.get('source').priority };
}

/** One class for the whole request (profile operations have no backfill of their own). */
export function classOfRequest(c: Context<V1Env>, deps: ClassDeps): PriorityClass {
  return requestClass(classInputs(c, deps));
}

type Method = 'events' | 'profileOps';
type ItemOf<M extends Method> = Parameters<Ingest[M]>[1][number];

/**
 * `bytes`: the request body's size (queued-bytes limits); each class's part carries its items'
 * share. A request split over both classes is checked as a whole first (`Ingest.admit`): refused
 * (429, 503) with nothing of it taken, not one part queued and the other refused — an answer of
 * "nothing accepted" with work queued, and a retry charged again for the part already taken.
 */
export async function ingestByClass<M extends Method>(
  ingest: Ingest,
  method: M,
  source: Source,
  items: readonly ItemOf<M>[],
  classOf: (item: ItemOf<M>) => PriorityClass,
  bytes?: number,
): Promise<EnqueueResult> {
  const parts = splitByClass(items, classOf);
  // Only what ingest needs travels on (it is also what a spool record keeps).
  const origin = (cls: PriorityClass): Origin => ({ id: source.id, lane: source.lane, cls });
  const admitted = parts.length > 1 && ingest.admit !== undefined;
  if (admitted)
    await ingest.admit!(
      method,
      { id: source.id, lane: source.lane },
      parts.map(([cls, part]) => ({ cls, items: part.length })),
      bytes ?? 0,
    );
  const share = (n: number) => (bytes === undefined || items.length === 0 ? bytes : (bytes * n) / items.length);
  const send = (cls: PriorityClass, part: readonly ItemOf<M>[]) =>
    (ingest[method] as (o: Origin, items: readonly ItemOf<M>[], bytes?: number, admitted?: boolean) => Promise<EnqueueResult>).call(
      ingest,
      origin(cls),
      part,
      share(part.length),
      admitted,
    );
  // One class (nearly every request): its call's promise as it is, with no frame waiting on it (issue 18).
  if (parts.length === 1) return send(parts[0]![0], parts[0]![1]);
  const results = await Promise.all(parts.map(([cls, part]) => send(cls, part)));
  if (results.length === 0) return { enqueued: 0, duplicates: 0, jobIds: [] };
  if (results.length === 1) return results[0]!;
  return {
    enqueued: results.reduce((n, r) => n + r.enqueued, 0),
    duplicates: results.reduce((n, r) => n + r.duplicates, 0),
    jobIds: results.flatMap((r) => r.jobIds),
    ...(results.some((r) => r.spooled) ? { spooled: true } : {}),
  };
}
