/**
 * The audit log: every operator action that changes what the relay does (replays, pauses,
 * resumes) is appended to a Redis stream, capped at the last 10,000 entries.
 */
import type { RedisClient as Redis } from '../redis.ts';
import { auditKey } from '../redis-keys.ts';

export interface AuditEntry {
  readonly actor: string;
  readonly action: string;
  readonly [k: string]: unknown;
}

export async function appendAudit(redis: Redis, prefix: string, entry: AuditEntry): Promise<void> {
  await redis.xadd(auditKey(prefix), 'MAXLEN', '~', '10000', '*', 'entry', JSON.stringify({ ...entry, at: new Date().toISOString() }));
}

export async function readAudit(redis: Redis, prefix: string, count = 100): Promise<(AuditEntry & { at: string; id: string })[]> {
  const rows = await redis.xrevrange(auditKey(prefix), '+', '-', 'COUNT', count);
  return rows.map(([id, fields]) => ({ id, ...(JSON.parse(fields[1] ?? '{}') as AuditEntry & { at: string }) }));
}
