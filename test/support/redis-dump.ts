/**
 * Everything Redis holds under a prefix, decoded to text: every key's name and value whatever its
 * type (strings, hashes — BullMQ's job hashes among them —, lists, sets, sorted sets, streams).
 * JSON values are parsed and written again, so escapes (`\u0040`) cannot hide a string. For tests
 * that must show something is nowhere (erasure, encryption at rest).
 */
import { testRedis } from './redis.ts';

export interface DumpedKey {
  readonly key: string;
  readonly type: string;
  /** The value as text: each field, member, score or entry on its own line. */
  readonly text: string;
}

/** Every JSON-looking string also in its re-serialised form. */
function decoded(values: readonly string[]): string {
  const out: string[] = [];
  for (const v of values) {
    out.push(v);
    const t = v.trimStart();
    if (t.startsWith('{') || t.startsWith('[') || t.startsWith('"')) {
      try {
        out.push(JSON.stringify(JSON.parse(v)));
      } catch {
        /* not JSON after all: the raw text is there */
      }
    }
  }
  return out.join('\n');
}

export async function dumpPrefix(prefix: string): Promise<DumpedKey[]> {
  const redis = testRedis();
  const out: DumpedKey[] = [];
  try {
    let cursor = '0';
    const keys = new Set<string>();
    do {
      const [next, page] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      for (const k of page) keys.add(k);
    } while (cursor !== '0');
    for (const key of [...keys].sort()) {
      const type = await redis.type(key);
      let values: string[];
      switch (type) {
        case 'string':
          values = [(await redis.get(key)) ?? ''];
          break;
        case 'hash':
          values = Object.entries(await redis.hgetall(key)).flat();
          break;
        case 'list':
          values = await redis.lrange(key, 0, -1);
          break;
        case 'set':
          values = await redis.smembers(key);
          break;
        case 'zset':
          values = await redis.zrange(key, '0', '-1', 'WITHSCORES');
          break;
        case 'stream':
          values = (await redis.xrange(key, '-', '+')).flatMap(([id, fields]) => [id, ...fields]);
          break;
        case 'none':
          continue; // expired between SCAN and TYPE
        default:
          throw new Error(`dumpPrefix: key ${key} has type ${type}, which this helper does not read`);
      }
      out.push({ key, type, text: decoded(values) });
    }
  } finally {
    redis.disconnect();
  }
  return out;
}

/** The keys whose name or value holds `needle` (case-insensitive). */
export function keysHolding(dump: readonly DumpedKey[], needle: string): string[] {
  const n = needle.toLowerCase();
  return dump.filter((d) => d.key.toLowerCase().includes(n) || d.text.toLowerCase().includes(n)).map((d) => d.key);
}
