/**
 * Priority classes (issue 12). Live work — an order confirmation, a sign-up, a subscribe — must
 * reach Klaviyo within seconds, because Klaviyo's flows trigger on it; bulk work — imports,
 * backfills, nightly syncs, dead-letter replays — only needs to keep the account at its ceiling.
 * Live is served first; bulk gets what live leaves, with a guaranteed minimum share.
 *
 * This module owns the decision. Work is bulk when any of:
 *   - an event has `backfill: true` (per item: a mixed batch is split; an order, per order);
 *   - the request says so: header `X-Relay-Priority: bulk`, or `?priority=bulk` for senders that
 *     cannot set headers (`live` there asks for live, overriding the source's default — but never
 *     for a backfill event);
 *   - its source is configured `priority: bulk` in RELAY_CONFIG;
 *   - it is a dead-letter replay, unless the replay asks for `"priority": "live"`.
 * Everything else is live, webhook-derived work included. With `priorities.enabled: false` in
 * RELAY_CONFIG everything is live: one FIFO per source, as before classes existed.
 */
export const PRIORITY_CLASSES = ['live', 'bulk'] as const;
export type PriorityClass = (typeof PRIORITY_CLASSES)[number];

export const PRIORITY_HEADER = 'X-Relay-Priority';
export const PRIORITY_QUERY = 'priority';

export interface PriorityIssue {
  readonly field: string;
  readonly message: string;
}

export type RequestedPriority = { readonly ok: true; readonly cls?: PriorityClass } | { readonly ok: false; readonly issues: readonly PriorityIssue[] };

function parseClass(v: string): PriorityClass | undefined {
  const t = v.trim().toLowerCase();
  return (PRIORITY_CLASSES as readonly string[]).includes(t) ? (t as PriorityClass) : undefined;
}

/**
 * What a request asks for, from its `X-Relay-Priority` header and `priority` query parameter
 * (either, or both if they agree). Case does not matter; any value but live or bulk is an error
 * naming where it came from.
 */
export function requestedPriority(header: string | undefined, query: string | undefined): RequestedPriority {
  const issues: PriorityIssue[] = [];
  const expect = 'must be "live" or "bulk"';
  const fromHeader = header === undefined ? undefined : parseClass(header);
  const fromQuery = query === undefined ? undefined : parseClass(query);
  if (header !== undefined && !fromHeader) issues.push({ field: PRIORITY_HEADER, message: expect });
  if (query !== undefined && !fromQuery) issues.push({ field: PRIORITY_QUERY, message: expect });
  if (issues.length > 0) return { ok: false, issues };
  if (fromHeader && fromQuery && fromHeader !== fromQuery) {
    return {
      ok: false,
      issues: [{ field: PRIORITY_QUERY, message: `says "${fromQuery}" but the ${PRIORITY_HEADER} header says "${fromHeader}": send one, or the same in both` }],
    };
  }
  return { ok: true, cls: fromHeader ?? fromQuery };
}

export interface ClassInputs {
  /** `priorities.enabled` in RELAY_CONFIG (default true). */
  readonly enabled: boolean;
  /** What the request asked for, if anything. */
  readonly requested?: PriorityClass;
  /** The source's `priority` in RELAY_CONFIG (default live). */
  readonly sourceDefault?: PriorityClass;
}

/** The class of the request's items, before any item's own `backfill`. */
export function requestClass(c: ClassInputs): PriorityClass {
  if (!c.enabled) return 'live';
  return c.requested ?? c.sourceDefault ?? 'live';
}

/** The class of one item: a backfill event is bulk whatever was asked (it triggers no flow anyway). */
export function itemClass(c: ClassInputs, backfill: boolean | undefined): PriorityClass {
  if (!c.enabled) return 'live';
  return backfill === true ? 'bulk' : requestClass(c);
}

/** A dead-letter replay is bulk (it must not delay live traffic) unless the operator asks for live. */
export function replayClass(enabled: boolean, requested?: PriorityClass): PriorityClass {
  if (!enabled) return 'live';
  return requested ?? 'bulk';
}

/** Items grouped by class, in their order; classes without items are left out. */
export function splitByClass<T>(items: readonly T[], classOf: (item: T) => PriorityClass): [PriorityClass, T[]][] {
  const live: T[] = [];
  const bulk: T[] = [];
  for (const it of items) (classOf(it) === 'bulk' ? bulk : live).push(it);
  const out: [PriorityClass, T[]][] = [];
  if (live.length > 0) out.push(['live', live]);
  if (bulk.length > 0) out.push(['bulk', bulk]);
  return out;
}
