/**
 * Who may send us work, and which lane (Klaviyo account) their work goes to.
 *
 * Keys are held only as SHA-256 digests and looked up by digest, so comparing a presented key
 * takes the same time whatever its content, and the keys themselves are never kept in memory
 * longer than parsing the configuration.
 */
import { createHash } from 'node:crypto';
import { sourceIdForKey } from './model/ids.ts';
import { DEFAULT_LANE } from './queues.ts';

export interface Source {
  /** Stable id scoping event ids and dedupe keys. */
  readonly id: string;
  readonly name: string;
  readonly lane: string;
}

export function keyDigest(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export class SourceRegistry {
  private readonly byDigest = new Map<string, Source>();

  /** `RELAY_API_KEYS`: each key is its own source, all on the default lane. */
  static fromApiKeys(keys: readonly string[], lane = DEFAULT_LANE): SourceRegistry {
    const reg = new SourceRegistry();
    keys.forEach((key, i) => reg.add(keyDigest(key), { id: sourceIdForKey(key), name: `api-key-${i + 1}`, lane }));
    return reg;
  }

  add(digest: string, source: Source): void {
    this.byDigest.set(digest, source);
  }

  byKey(key: string): Source | undefined {
    return this.byDigest.get(keyDigest(key));
  }

  lanes(): string[] {
    return [...new Set([...this.byDigest.values()].map((s) => s.lane))];
  }
}
