/**
 * When Redis cannot take the work, say so: 503 with Retry-After, never a 2xx for work Redis does
 * not hold. (Callers retry; ids make the retry safe.)
 */
import type { Context } from 'hono';
import type { AppDeps } from './app.ts';
import { jsonError } from './errors.ts';

export async function enqueueOr503(c: Context, deps: AppDeps, work: () => Promise<Response>): Promise<Response> {
  try {
    return await work();
  } catch (err) {
    deps.log.error({ err }, 'enqueue failed');
    c.header('Retry-After', '5');
    return jsonError(c, 503, 'unavailable', 'The queue is unavailable; retry with the same ids (they are deduplicated)');
  }
}
