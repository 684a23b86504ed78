/**
 * When Redis cannot take the work, say so: 503 with Retry-After, never a 2xx for work Redis does
 * not hold. (Callers retry; ids make the retry safe.) A source over one of its own limits gets 429
 * with Retry-After instead: the relay is fine, that sender must slow down.
 */
import type { Context } from 'hono';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { jsonError } from './errors.ts';
import { BacklogFullError } from '../ingest/backlog.ts';
import { SpoolFullError } from '../ingest/spool.ts';
import { OrderedWorkUnavailableError } from '../ingest/durable-ingest.ts';
import { SourceLimitedError } from '../ingest/source-limits.ts';

/** What answering a failed enqueue needs: where to log it and, for a source over its limits, the counter. */
export interface EnqueueOr503Deps {
  readonly log: Logger;
  readonly metrics?: Metrics;
}

export function enqueueOr503(c: Context, deps: EnqueueOr503Deps, work: () => Promise<Response>): Promise<Response> {
  // A promise chain, not an async frame that waits on Redis with the request (issue 18).
  try {
    return work().catch((err: unknown) => answerFailure(c, deps, err));
  } catch (err) {
    return Promise.resolve(answerFailure(c, deps, err));
  }
}

function answerFailure(c: Context, deps: EnqueueOr503Deps, err: unknown): Response {
  if (err instanceof SourceLimitedError) {
    deps.metrics?.sourceLimited.inc({ source: err.source, limit: err.limit });
    c.header('Retry-After', String(err.retryAfterS));
    return jsonError(c, 429, err.code, err.message);
  }
  if (err instanceof BacklogFullError) {
    c.header('Retry-After', '30');
    return jsonError(c, 503, 'backlog_full', `${err.message}; retry later with the same ids`);
  }
  if (err instanceof SpoolFullError) {
    deps.log.error({ err: err.message }, 'Redis is unavailable and the local spool is full');
    c.header('Retry-After', '10');
    return jsonError(c, 503, 'unavailable', 'Redis is unavailable and the local spool is full; retry later with the same ids');
  }
  if (err instanceof OrderedWorkUnavailableError) {
    c.header('Retry-After', '2');
    return jsonError(
      c,
      503,
      'unavailable',
      'Redis is unavailable; profile and list operations are not spooled locally, so that they keep their order — retry with the same ids',
    );
  }
  deps.log.error({ err }, 'enqueue failed');
  c.header('Retry-After', '5');
  return jsonError(c, 503, 'unavailable', 'The queue is unavailable; retry with the same ids (they are deduplicated)');
}

/** `{"spooled": true}` in a 2xx when Redis was away and the work went to the local spool. */
export function spooled(result: { spooled?: boolean }): { spooled?: true } {
  return result.spooled ? { spooled: true } : {};
}
