/**
 * Our event → Klaviyo's JSON:API bodies for create_event and bulk_create_events
 * (docs/klaviyo-and-maton.md §1–2; OpenAPI EventCreateQueryV2 and EventsBulkCreateJob).
 */
import type { EventInput } from '../model/event.ts';
import type { EventProfile } from '../model/profile-fields.ts';

/**
 * The first revision whose create_event and bulk_create_events accept `backfill` (Klaviyo's
 * changelog for 2026-07-15; docs/klaviyo-and-maton.md §2). With an older KLAVIYO_REVISION the
 * field is left out — the event is still recorded (and still queued as bulk), but it triggers
 * flows as any event does.
 */
export const BACKFILL_SINCE_REVISION = '2026-07-15';

/** Whether bodies for this revision may carry `backfill` (`YYYY-MM-DD[.suffix]`: the date decides). */
export function revisionHasBackfill(revision: string): boolean {
  return revision.slice(0, 10) >= BACKFILL_SINCE_REVISION;
}

/** One event ready to send: the validated input and its deterministic unique_id. */
export interface OutboundEvent {
  readonly uniqueId: string;
  readonly event: EventInput;
}

/**
 * The profile part of an event. The validated profile already uses Klaviyo's attribute names;
 * only what is set is copied. `kid` (a Klaviyo profile id, known for webhook-triggered events)
 * becomes the resource's `id`.
 */
function profileData(p: EventProfile & { kid?: string }): Record<string, unknown> {
  const attributes: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) if (v !== undefined && k !== 'kid') attributes[k] = v;
  return { type: 'profile', ...(p.kid ? { id: p.kid } : {}), attributes };
}

function eventAttributes(e: OutboundEvent, revision: string): Record<string, unknown> {
  const ev = e.event;
  const attrs: Record<string, unknown> = {
    properties: ev.properties ?? {},
    metric: { data: { type: 'metric', attributes: { name: ev.event } } },
    unique_id: e.uniqueId,
  };
  if (ev.time !== undefined) attrs.time = ev.time;
  if (ev.value !== undefined) attrs.value = ev.value;
  if (ev.value_currency !== undefined) attrs.value_currency = ev.value_currency;
  if (ev.backfill !== undefined && revisionHasBackfill(revision)) attrs.backfill = ev.backfill;
  return attrs;
}

/** POST /api/events, for the KLAVIYO_REVISION the request is sent with. */
export function createEventBody(e: OutboundEvent, revision: string): unknown {
  return {
    data: {
      type: 'event',
      attributes: {
        ...eventAttributes(e, revision),
        profile: { data: profileData(e.event.profile) },
      },
    },
  };
}

export interface BulkEventsBody {
  readonly body: unknown;
  /** For each bulk entry (one per distinct profile), the indexes of the input events it carries, in order. */
  readonly groups: readonly (readonly number[])[];
}

/**
 * POST /api/event-bulk-create-jobs. Klaviyo groups bulk events per profile; events whose profile
 * objects are identical share an entry. Callers must not pass two events with the same unique_id
 * (Klaviyo fails the whole request then). `revision`: as for createEventBody.
 */
export function bulkCreateEventsBody(events: readonly OutboundEvent[], revision: string): BulkEventsBody {
  const byProfile = new Map<string, number[]>();
  events.forEach((e, i) => {
    const key = JSON.stringify(e.event.profile);
    const group = byProfile.get(key);
    if (group) group.push(i);
    else byProfile.set(key, [i]);
  });
  const groups = [...byProfile.values()];
  const data = groups.map((idx) => ({
    type: 'event-bulk-create',
    attributes: {
      profile: { data: profileData(events[idx[0]!]!.event.profile) },
      events: { data: idx.map((i) => ({ type: 'event', attributes: eventAttributes(events[i]!, revision) })) },
    },
  }));
  return {
    body: { data: { type: 'event-bulk-create-job', attributes: { 'events-bulk-create': { data } } } },
    groups,
  };
}

/**
 * Which input events a bulk 400's `source.pointer` blames, e.g.
 * `/data/attributes/events-bulk-create/data/3/attributes/events/data/0/attributes/time` → group 3,
 * event 0; a pointer into a group's profile blames every event of that group. Undefined when the
 * pointer does not name an item (then the caller isolates by splitting).
 */
export function blamedByPointer(pointer: string | undefined, groups: BulkEventsBody['groups']): number[] | undefined {
  if (!pointer) return undefined;
  const m = /^\/data\/attributes\/events-bulk-create\/data\/(\d+)(?:\/attributes\/(profile|events)(?:\/data\/(\d+))?)?/.exec(pointer);
  if (!m) return undefined;
  const group = groups[Number(m[1])];
  if (!group) return undefined;
  if (m[2] === 'events' && m[3] !== undefined) {
    const idx = group[Number(m[3])];
    return idx === undefined ? undefined : [idx];
  }
  return [...group];
}

/** Serialized size of one event inside a bulk body, for the 5 MB request limit. */
export function approxEventBytes(e: OutboundEvent): number {
  return Buffer.byteLength(JSON.stringify(e.event)) + 200;
}
