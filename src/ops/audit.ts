/**
 * The audit log: every operator action that changes what the relay does (replays, pauses,
 * resumes, erasures) is appended to a Redis stream, capped at the last 10,000 entries and at
 * RELAY_AUDIT_KEEP_S of age (issue 16: entries may quote a filter with an identifier in it, so
 * they do not stay forever). Stream ids are milliseconds, so age is trimmed by MINID.
 */
import type { RedisClient as Redis } from '../redis.ts';
import { auditKey } from '../redis-keys.ts';

export interface AuditEntry {
  readonly actor: string;
  readonly action: string;
  readonly [k: string]: unknown;
}

/** RELAY_AUDIT_KEEP_S's default: 90 days. */
export const DEFAULT_AUDIT_KEEP_S = 90 * 86_400;

export async function appendAudit(redis: Redis, prefix: string, entry: AuditEntry, keepS = DEFAULT_AUDIT_KEEP_S): Promise<void> {
  const key = auditKey(prefix);
  const now = Date.now();
  await redis
    .pipeline()
    .xadd(key, 'MAXLEN', '~', '10000', '*', 'entry', JSON.stringify({ ...entry, at: new Date(now).toISOString() }))
    // Exact, not '~': approximate trimming only drops whole nodes (100 entries), so a small stream would keep its old entries for ever.
    .xtrim(key, 'MINID', String(now - keepS * 1000))
    .exec();
}

export async function readAudit(redis: Redis, prefix: string, count = 100): Promise<(AuditEntry & { at: string; id: string })[]> {
  const rows = await redis.xrevrange(auditKey(prefix), '+', '-', 'COUNT', count);
  return rows.map(([id, fields]) => ({ id, ...(JSON.parse(fields[1] ?? '{}') as AuditEntry & { at: string }) }));
}
