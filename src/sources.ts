/**
 * Who may send us work, and which lane (Klaviyo account) their work goes to.
 *
 * Keys are registered by SHA-256 digest (a config file names its sources' keys only as digests)
 * and a presented key is looked up by its digest, so no key is compared character by character
 * with a real one. A key found valid is then remembered as it is (`seen`), so that its sender's
 * next requests skip the hash: only real keys get in, so that map is as small as the key list.
 * The raw keys are in memory regardless: RELAY_API_KEYS in the environment and in Config.apiKeys.
 */
import { hash } from 'node:crypto';
import { DEFAULT_LANE } from './queues.ts';
import type { RelayFile, TrackingSettings } from './relay-config.ts';
import type { PriorityClass } from './priority.ts';

export interface Source {
  /** Stable id scoping event ids and dedupe keys. */
  readonly id: string;
  readonly name: string;
  readonly lane: string;
  /** The class of its work unless a request says otherwise (RELAY_CONFIG `sources[].priority`); unset = live. */
  readonly priority?: PriorityClass;
  /** Its weight among the sources of a class (RELAY_CONFIG `sources[].weight`); unset = 1. */
  readonly weight?: number;
  /** How its Segment/RudderStack tracking calls map (RELAY_CONFIG `sources[].tracking`); unset = the defaults. */
  readonly tracking?: TrackingSettings;
}

/** A stable, non-secret name for an API key (RELAY_API_KEYS): ids are scoped per key without storing the key. */
export function sourceIdForKey(apiKey: string): string {
  return `key-${(hash('sha256', `relay-source\n${apiKey}`, 'hex') as string).slice(0, 12)}`;
}

/** The id of a source named in RELAY_CONFIG (`sources[].name`): stable across key rotation. */
export const configSourceId = (name: string) => `src-${name}`;
/** Klaviyo's system webhooks are one source; each flow webhook is its own. */
export const KLAVIYO_WEBHOOK_SOURCE = 'klaviyo-webhooks';
export const flowSource = (name: string) => `flow-${name}`;

export function keyDigest(key: string): string {
  return hash('sha256', key, 'hex') as string;
}

export class SourceRegistry {
  private readonly byDigest = new Map<string, Source>();
  /** Keys already found valid: only real keys get in, so the map is as small as the key list. */
  private readonly seen = new Map<string, Source>();
  private readonly signers: { source: Source; secrets: readonly string[] }[] = [];
  private readonly weights = new Map<string, number>();

  /** `RELAY_API_KEYS`: each key is its own source, all on the default lane. */
  static fromApiKeys(keys: readonly string[], lane = DEFAULT_LANE): SourceRegistry {
    const reg = new SourceRegistry();
    for (const [i, key] of keys.entries()) reg.add(keyDigest(key), { id: sourceIdForKey(key), name: `api-key-${i + 1}`, lane });
    return reg;
  }

  /** RELAY_API_KEYS plus the config file's sources (keys by digest; their ids stay stable across key rotation). */
  static fromConfig(apiKeys: readonly string[], file: RelayFile): SourceRegistry {
    const reg = SourceRegistry.fromApiKeys(apiKeys);
    for (const s of file.sources) {
      const source: Source = { id: configSourceId(s.name), name: s.name, lane: s.account, priority: s.priority, weight: s.weight, tracking: s.tracking };
      for (const digest of s.keySha256 ?? []) reg.add(digest.toLowerCase(), source);
      if (s.signingSecret) reg.addSigner(source, s.signingSecret);
    }
    return reg;
  }

  add(digest: string, source: Source): void {
    this.byDigest.set(digest, source);
    if (source.weight !== undefined) this.weights.set(source.id, source.weight);
  }

  /** A source that authenticates with Standard Webhooks signatures instead of (or besides) a key. */
  addSigner(source: Source, secrets: readonly string[]): void {
    this.signers.push({ source, secrets });
    if (source.weight !== undefined) this.weights.set(source.id, source.weight);
  }

  signing(): readonly { source: Source; secrets: readonly string[] }[] {
    return this.signers;
  }

  byKey(key: string): Source | undefined {
    const hit = this.seen.get(key);
    if (hit) return hit;
    const source = this.byDigest.get(keyDigest(key));
    if (source) this.seen.set(key, source);
    return source;
  }

  /** Every source, once. */
  all(): Source[] {
    const byId = new Map<string, Source>();
    for (const s of [...this.byDigest.values(), ...this.signers.map((x) => x.source)]) if (!byId.has(s.id)) byId.set(s.id, s);
    return [...byId.values()];
  }

  /** Every source's id (finding jobs by the caller's id needs them: ids are scoped per source). */
  ids(): string[] {
    return [...new Set([...this.byDigest.values(), ...this.signers.map((s) => s.source)].map((s) => s.id))];
  }

  /** A source's weight among the sources of its class (1 unless configured; unknown sources too). */
  weightOf(id: string): number {
    return this.weights.get(id) ?? 1;
  }
}
