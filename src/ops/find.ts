/**
 * Finding the jobs for a person or an order. By id (an event id, an order id, a profile update
 * id): the item keys the ingest derived from (source, id) lead straight to the job that carries
 * it — or tell that it was delivered and its job since pruned. By email, phone or external id:
 * BullMQ has no search, so the most recent jobs of each state of every queue are scanned (bounded
 * per queue).
 */
import type { Job } from 'bullmq';
import { itemKey } from '../model/ids.ts';
import { ORDER_STATUSES } from '../model/order.ts';
import { JOB_KINDS, type Queues } from '../queues.ts';
import { jobRef, legacyRef, parseJobRef, queueName, type QueueRef } from '../queue-catalog.ts';
import { DONE, itemKeyName } from '../delivery-marks.ts';
import type { RedisClient as Redis } from '../redis.ts';

export interface FoundJob {
  readonly ref: string;
  readonly queue: string;
  readonly jobId: string;
  readonly state: string;
  readonly acceptedAt?: number;
  /** How the job was found. */
  readonly via: 'id' | 'scan';
}

export interface FoundDelivered {
  readonly queue: string;
  readonly state: 'delivered';
  readonly via: 'id';
  readonly note: string;
}

const SCAN_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;
/** Per queue and state: how far back a scan by identifier looks. */
export const SCAN_DEPTH = 2000;

/** The suffixes ingest adds for derived items (orders, profile updates). */
const SUFFIXES: (string | undefined)[] = [undefined, 'upsert', 'placed', ...ORDER_STATUSES, ...Array.from({ length: 50 }, (_, i) => `line:${i}`)];

export async function findJobs(
  redis: Redis,
  queues: Queues,
  lanes: readonly string[],
  sourceIds: readonly string[],
  q: { id?: string; email?: string; phone_number?: string; external_id?: string },
): Promise<(FoundJob | FoundDelivered)[]> {
  const out: (FoundJob | FoundDelivered)[] = [];
  const seen = new Set<string>();
  const push = async (q: QueueRef, job: Job | undefined, via: 'id' | 'scan') => {
    if (!job?.id) return;
    const ref = jobRef(q, job.id);
    if (seen.has(ref)) return;
    seen.add(ref);
    out.push({ ref, queue: queueName(q), jobId: job.id, state: await job.getState(), acceptedAt: (job.data as { at?: number }).at, via });
  };

  if (q.id) {
    for (const kind of JOB_KINDS) {
      for (const lane of lanes) {
        const names = sourceIds.flatMap((src) => SUFFIXES.map((s) => itemKeyName(queues, kind, lane, itemKey(src, q.id!, s))));
        const values = await redis.mget(names);
        let delivered = 0;
        for (const v of values) {
          if (v === null) continue;
          if (v === DONE) {
            delivered++;
            continue;
          }
          // "<queue>/<jobId>", or a bare job id of the legacy queue (written before issue 12).
          const at = parseJobRef(v) ?? { ref: legacyRef(kind, lane), jobId: v };
          await push(at.ref, await queues.get(at.ref).getJob(at.jobId), 'id');
        }
        if (delivered > 0)
          out.push({
            queue: queueName(legacyRef(kind, lane)),
            state: 'delivered',
            via: 'id',
            note: `${delivered} item(s) with this id were delivered; their job is no longer kept`,
          });
      }
    }
  }

  const needles = [
    q.email ? `"email":"${q.email.trim().toLowerCase()}"` : undefined,
    q.phone_number ? `"phone_number":"${q.phone_number.trim()}"` : undefined,
    q.external_id ? `"external_id":"${q.external_id.trim()}"` : undefined,
  ].filter((n): n is string => n !== undefined);
  if (needles.length > 0) {
    for (const q of await queues.catalog.all(lanes)) {
      const jobs = await queues.get(q).getJobs([...SCAN_STATES], 0, SCAN_DEPTH - 1);
      for (const job of jobs) {
        if (!job) continue;
        const text = JSON.stringify(job.data);
        const lower = text.toLowerCase();
        if (needles.some((n) => (n.startsWith('"email"') ? lower.includes(n) : text.includes(n)))) await push(q, job, 'scan');
      }
    }
  }
  return out;
}
