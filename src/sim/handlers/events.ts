/**
 * create_event (POST /api/events) and bulk_create_events (POST /api/event-bulk-create-jobs):
 * both answer 202 with an empty body (OAS, and as recorded live; docs/klaviyo-and-maton.md §2)
 * and create or update the event's profile. A bulk request is
 * applied atomically: everything was validated before this runs, so either all of its events
 * are considered or none.
 */
import { KlaviyoHttpError, klaviyoError } from '../json-api.ts';
import { identifiersIn, upsertLenient, type ProfileInput } from '../profile-store.ts';
import { recordEvent } from '../event-store.ts';
import type { SimAccount } from '../state.ts';
import { klaviyoTime } from '../time.ts';
import { arr, obj, strOrNull, type Handler, type HandlerContext, type Obj } from './context.ts';

function profileInput(profileData: Obj): ProfileInput {
  const attributes = obj(profileData['attributes']);
  // Event profiles carry `meta` inside attributes (EventProfileCreateQueryResourceObject) or
  // beside them (OnsiteProfileCreateQueryResourceObject); accept either.
  const meta = profileData['meta'] ?? attributes['meta'];
  return { id: strOrNull(profileData['id']), attributes, meta: meta ? obj(meta) : null };
}

/** A profile given only by an id we do not know cannot be resolved: reject, naming it. */
function unknownIdError(account: SimAccount, profileData: Obj, pointer: string): ReturnType<typeof klaviyoError> | null {
  const id = profileData['id'];
  if (typeof id !== 'string' || id === '' || account.profiles.has(id)) return null;
  if (Object.keys(identifiersIn(obj(profileData['attributes']))).length > 0) return null;
  return klaviyoError(400, `A profile with id ${id} does not exist.`, { source: { pointer } });
}

function applyEvent(ctx: HandlerContext, profileId: string, attrs: Obj, via: 'create_event' | 'bulk_create_events', entryBackfill = false): void {
  const metric = String(obj(obj(obj(attrs['metric'])['data'])['attributes'])['name']);
  const time = typeof attrs['time'] === 'string' ? attrs['time'] : null;
  const timeMs = time !== null ? Date.parse(time) : ctx.now;
  const value = typeof attrs['value'] === 'number' ? attrs['value'] : null;
  recordEvent(
    ctx.account,
    {
      profileId,
      metric,
      uniqueId: strOrNull(attrs['unique_id']),
      time: time ?? klaviyoTime(ctx.now),
      value,
      valueCurrency: strOrNull(attrs['value_currency']),
      properties: obj(attrs['properties']),
      // The bulk entry's `backfill` applies to its events unless an event sets its own.
      backfill: typeof attrs['backfill'] === 'boolean' ? attrs['backfill'] : entryBackfill,
      via,
    },
    timeMs,
    ctx.now,
    ctx.options.retainEventBodies,
  );
}

export const createEvent: Handler = (ctx) => {
  const attrs = obj(obj(obj(ctx.body)['data'])['attributes']);
  const profileData = obj(obj(attrs['profile'])['data']);
  const unknown = unknownIdError(ctx.account, profileData, '/data/attributes/profile/data/id');
  if (unknown) throw new KlaviyoHttpError(400, [unknown]);
  const profile = upsertLenient(ctx.account, profileInput(profileData), ctx.now);
  applyEvent(ctx, profile.id, attrs, 'create_event');
  return { status: 202 };
};

export const bulkCreateEvents: Handler = (ctx) => {
  const entries = arr(obj(obj(obj(obj(ctx.body)['data'])['attributes'])['events-bulk-create'])['data']);
  const errors = entries.flatMap((entry, i) => {
    const profileData = obj(obj(obj(obj(entry)['attributes'])['profile'])['data']);
    const e = unknownIdError(ctx.account, profileData, `/data/attributes/events-bulk-create/data/${i}/attributes/profile/data/id`);
    return e ? [e] : [];
  });
  if (errors.length > 0) throw new KlaviyoHttpError(400, errors);
  for (const entry of entries) {
    const attrs = obj(obj(entry)['attributes']);
    const profile = upsertLenient(ctx.account, profileInput(obj(obj(attrs['profile'])['data'])), ctx.now);
    for (const event of arr(obj(attrs['events'])['data'])) {
      applyEvent(ctx, profile.id, obj(obj(event)['attributes']), 'bulk_create_events', attrs['backfill'] === true);
    }
  }
  return { status: 202 };
};
