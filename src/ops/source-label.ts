/**
 * How a queue's source is named where operators look (status, metrics, the dashboard).
 *
 * The label is the source id from the queue name (`key-<hex>` is a hash of the key, `src-<name>`,
 * `flow-<name>`, `klaviyo-webhooks`): never a key, an email or a caller's id, and only ever one of
 * the sources the registry holds — ingest registers queues for authenticated sources only, so a
 * request cannot add a label value. The queues without a source get a word no source id can be:
 * `legacy` for `<kind>.<lane>` (work queued by an older version, served as live) and `all` for
 * `webhooks.<lane>` (every webhook source's deliveries in one queue).
 */
import { isSingleQueue, type QueueRef } from '../queue-catalog.ts';

export const LEGACY_SOURCE = 'legacy';
export const SHARED_SOURCE = 'all';

export function sourceLabel(ref: QueueRef): string {
  return ref.source ?? (isSingleQueue(ref.kind) ? SHARED_SOURCE : LEGACY_SOURCE);
}

/** The configured name of a source id (`api-key-1`, `shop-eu`), where it says more than the id. */
export type SourceNamer = (id: string) => string | undefined;

export function sourceNamer(sources: readonly { id: string; name: string }[]): SourceNamer {
  const names = new Map(sources.map((s) => [s.id, s.name]));
  return (id) => {
    const name = names.get(id);
    // `src-shop-eu` is named `shop-eu`: the id already says it.
    return name !== undefined && id !== `src-${name}` ? name : undefined;
  };
}

/** `api-key-1 (key-1a2b3c4d5e6f)`, or the id alone when it is its own name. */
export function sourceText(id: string, nameOf?: SourceNamer): string {
  const name = nameOf?.(id);
  return name ? `${name} (${id})` : id;
}

/** One line for the dashboard: what the queue holds, in words. */
export function describeQueue(ref: QueueRef, nameOf?: SourceNamer): string {
  if (ref.kind === 'catalog') return `Catalog items, variants and categories for lane ${ref.lane}, in the order accepted (every source)`;
  if (ref.kind === 'webhooks') return `Klaviyo webhook and flow webhook deliveries for lane ${ref.lane} (class live, every webhook source)`;
  if (ref.source === undefined) return `${ref.kind} queued by an older version for lane ${ref.lane} (drained as class live, every source)`;
  return `${ref.kind}, class ${ref.cls}, from source ${sourceText(ref.source, nameOf)}, for lane ${ref.lane}`;
}
