/**
 * Erasing a person (issue 16): the relay's own copies first, then Klaviyo's.
 *
 *   1. purge every place the relay keeps personal data — the queues (cancelling what was not yet
 *      delivered), completed jobs, dead letters, the profile-id cache, the audit stream and the
 *      disk spool (src/privacy/purge-*.ts, Spool.scrub);
 *   2. the caller then queues Klaviyo's deletion job (an `erase` profile operation: through the
 *      quota governor, retried by BullMQ like any operation);
 *   3. an audit entry records what was removed where, under the subject hash — never the identifier.
 *
 * Work accepted before the request is cancelled; work accepted after it is new data and flows as
 * usual (the person may come back as a new customer). Work being sent at that moment cannot be
 * recalled; Klaviyo's deletion job, queued after it, erases it there.
 */
import type { RedisClient as Redis } from '../redis.ts';
import type { Queues } from '../queues.ts';
import { appendAudit } from '../ops/audit.ts';
import type { StoredItem } from '../job-data.ts';
import type { Spool } from '../ingest/spool.ts';
import { PersonMatcher, subjectOf, type ErasureField, type Person } from './person.ts';
import { definePurgeScripts, ownerOf, purgeJobs } from './purge-jobs.ts';
import { purgeAudit, purgeProfileIdCache } from './purge-stores.ts';
import { RemovalLog, type Removal, type Removed } from './removals.ts';

export interface ErasureRecord {
  /** SHA-256 of the identifier (src/privacy/person.ts): who, without saying who. */
  readonly subject: string;
  readonly identifier: ErasureField;
  readonly requestedAt: string;
  readonly removed: Removed;
  readonly where: readonly Removal[];
}

export interface EraserDeps {
  readonly redis: Redis;
  readonly queues: Queues;
  /** Every lane: a person's data is purged wherever the relay holds it. */
  readonly lanes: readonly string[];
  /** This API process's spool (it scrubs every file in the directory), if it spools. */
  readonly spool?: Spool;
  readonly auditKeepS?: number;
  /** How long to wait for jobs being sent at the moment of the request (purge-jobs.ts). */
  readonly activeWaitMs?: number;
}

export type Eraser = (people: readonly Person[], actor: string) => Promise<ErasureRecord[]>;

export function createEraser(deps: EraserDeps): Eraser {
  const { redis, queues } = deps;
  definePurgeScripts(redis);
  return async function erase(people, actor) {
    const at = Date.now();
    const requestedAt = new Date(at).toISOString();
    const matcher = new PersonMatcher(people);
    const logs = people.map(() => new RemovalLog());
    // The spool first: what it holds would otherwise move into Redis after the queues were purged.
    if (deps.spool) {
      const perPerson = people.map(() => 0);
      deps.spool.scrub((_m, item) => {
        const who = ownerOf(matcher, item as StoredItem);
        if (who >= 0) perPerson[who]!++;
        return who >= 0;
      });
      for (const [i, n] of perPerson.entries()) logs[i]!.add('spool', 'spool', n);
    }
    await purgeJobs(redis, queues, deps.lanes, matcher, logs, deps.activeWaitMs, at);
    for (let i = 0; i < people.length; i++)
      logs[i]!.add('profileIdCache', 'profile id cache', await purgeProfileIdCache(redis, queues.prefix, deps.lanes, people[i]!));
    for (const [i, n] of (await purgeAudit(redis, queues.prefix, matcher)).entries()) logs[i]!.add('audit', 'audit stream', n);
    const records = people.map((p, i) => ({ subject: subjectOf(p), identifier: p.field, requestedAt, removed: logs[i]!.totals, where: logs[i]!.where() }));
    for (const r of records) await appendAudit(redis, queues.prefix, { actor, action: 'privacy.erase', ...r }, deps.auditKeepS);
    return records;
  };
}
