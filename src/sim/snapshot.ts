/** JSON views of the simulator's state, for `GET /__sim/state` and for logging in tests. */
import type { BulkImportJob, SimAccount, SimEvent, SimProfile } from './state.ts';

export interface SnapshotOptions {
  /** Which events to include per account: none, the most recent `recentEvents` (default), or all. */
  events?: 'none' | 'recent' | 'all';
  recentEvents?: number;
  /** Mask secrets (direct-mode account ids are private API keys). Default false. */
  maskSecrets?: boolean;
}

/** `pk_live_abcdef123456` → `pk_l…3456`. */
export function maskSecret(s: string): string {
  return s.length <= 8 ? '****' : `${s.slice(0, 4)}…${s.slice(-4)}`;
}

export function profileView(p: SimProfile): Record<string, unknown> {
  return {
    id: p.id,
    email: p.email,
    phone_number: p.phone_number,
    external_id: p.external_id,
    anonymous_id: p.anonymous_id,
    attributes: p.attributes,
    location: p.location,
    properties: p.properties,
    lists: [...p.lists],
    consent: p.consent,
    listSuppressions: p.listSuppressions,
    created: p.created,
    updated: p.updated,
    lastEventDate: p.lastEventDate,
  };
}

function jobView(job: BulkImportJob): Record<string, unknown> {
  const { pending, ...rest } = job;
  return { ...rest, pendingCount: pending?.length ?? 0 };
}

export function accountView(a: SimAccount, opts: SnapshotOptions = {}): Record<string, unknown> {
  const mode = opts.events ?? 'recent';
  let events: SimEvent[] = [];
  if (mode === 'all') events = a.events;
  else if (mode === 'recent') events = a.events.slice(-(opts.recentEvents ?? 100));
  return {
    id: opts.maskSecrets && a.mode === 'direct' ? maskSecret(a.id) : a.id,
    mode: a.mode,
    createdAt: a.createdAt,
    profileCount: a.profiles.size,
    profiles: [...a.profiles.values()].map(profileView),
    eventCount: a.eventCount,
    eventCountsByMetric: Object.fromEntries(a.eventCountsByMetric),
    duplicateEvents: a.duplicateEvents,
    events,
    lists: Object.fromEntries([...a.lists].map(([id, members]) => [id, [...members]])),
    subscriptionOps: a.subscriptionOps,
    privacyOps: a.privacyOps,
    bulkImportJobs: [...a.bulkImportJobs.values()].map(jobView),
    backInStock: [...a.backInStock.values()],
    coupons: {
      codes: Object.fromEntries([...a.coupons.codes].map(([coupon, codes]) => [coupon, [...codes.keys()]])),
      jobs: [...a.coupons.jobs.values()].map(({ pending, ...job }) => ({ ...job, pendingCount: pending?.length ?? 0 })),
      peakQueued: a.coupons.peakQueued,
      refusedOverCap: a.coupons.refusedOverCap,
    },
    // Never a webhook's secret: /sandbox/state and /__sim/state show this.
    webhooks: [...a.webhooks.values()].map(({ secrets, ...w }) => ({ ...w, secrets: secrets.length })),
    webhookAccess: a.webhookAccess,
  };
}
