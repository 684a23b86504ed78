/**
 * Priority classes (issue 12). Live work — an order confirmation, a sign-up, a subscribe — must
 * reach Klaviyo within seconds, because Klaviyo's flows trigger on it; bulk work — imports,
 * backfills, nightly syncs, dead-letter replays — only needs to keep the account at its ceiling.
 * Live is served first; bulk gets what live leaves, with a guaranteed minimum share.
 */
export const PRIORITY_CLASSES = ['live', 'bulk'] as const;
export type PriorityClass = (typeof PRIORITY_CLASSES)[number];
