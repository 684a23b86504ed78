/**
 * bulk_subscribe_profiles (POST /api/profile-subscription-bulk-create-jobs) and
 * bulk_unsubscribe_profiles (POST /api/profile-subscription-bulk-delete-jobs): 202, empty body.
 *
 * Consent is tracked per profile for email and SMS marketing. Subscribing sets it account-wide,
 * lifts a list suppression for the named list and adds the profile to that list (OAS: the
 * endpoint also removes UNSUBSCRIBE suppressions). Unsubscribing with a list: a profile in the
 * list gets a list-level suppression and leaves the list; a profile *not* in it is unsubscribed
 * globally — OAS: "Profiles not in the specified list will be globally unsubscribed." Every
 * per-profile outcome goes to `subscriptionOps` with its `global` flag, so a test can prove the
 * relay never unsubscribed anyone globally by accident.
 *
 * Each outcome is also an event of the account, for its system webhooks (ctx.notify): a consent
 * change is `event:klaviyo.subscribed_to_<channel>_marketing` / `unsubscribed_from_<channel>_marketing`,
 * a list's `subscribed_to_list` / `unsubscribed_from_list` (event properties: the list id and the channels).
 */
import { addToList, ensureList, findBy, removeFromList, upsertLenient } from '../profile-store.ts';
import type { Channel, SimProfile } from '../state.ts';
import { klaviyoTime } from '../time.ts';
import { checkListId } from './lists.ts';
import { arr, obj, strOrNull, type Handler, type HandlerContext, type Obj } from './context.ts';

interface JobBody {
  attrs: Obj;
  listId: string | null;
  profiles: Obj[];
}

function readJob(ctx: HandlerContext): JobBody {
  const data = obj(obj(ctx.body)['data']);
  const attrs = obj(data['attributes']);
  const listRef = obj(obj(obj(data['relationships'])['list'])['data']);
  const listId = typeof listRef['id'] === 'string' ? listRef['id'] : null;
  if (listId !== null) checkListId(listId, { pointer: '/data/relationships/list/data/id' });
  return { attrs, listId, profiles: arr(obj(attrs['profiles'])['data']).map(obj) };
}

function channelsIn(subscriptions: Obj): Channel[] {
  const out: Channel[] = [];
  for (const channel of ['email', 'sms'] as const) {
    if (obj(obj(subscriptions[channel])['marketing'])['consent'] !== undefined) out.push(channel);
  }
  return out;
}

export const bulkSubscribeProfiles: Handler = (ctx) => {
  const { attrs, listId, profiles } = readJob(ctx);
  const source = strOrNull(attrs['custom_source']);
  if (listId !== null) ensureList(ctx.account, listId);
  for (const item of profiles) {
    const pa = obj(item['attributes']);
    const profile = upsertLenient(
      ctx.account,
      { id: strOrNull(item['id']), attributes: { email: pa['email'] ?? undefined, phone_number: pa['phone_number'] ?? undefined } },
      ctx.now,
    );
    const subscriptions = obj(pa['subscriptions']);
    const channels = channelsIn(subscriptions);
    for (const channel of channels) {
      const consentedAt = obj(obj(subscriptions[channel])['marketing'])['consented_at'];
      profile.consent[channel] = {
        status: 'SUBSCRIBED',
        source,
        at: typeof consentedAt === 'string' ? consentedAt : klaviyoTime(ctx.now),
        listId,
      };
      if (listId !== null) {
        profile.listSuppressions = profile.listSuppressions.filter((s) => !(s.listId === listId && s.channel === channel));
      }
    }
    if (listId !== null) addToList(ctx.account, listId, profile);
    for (const channel of channels)
      ctx.notify(ctx.account, { topic: `event:klaviyo.subscribed_to_${channel}_marketing`, profileId: profile.id, properties: { channel, list_id: listId } });
    if (listId !== null)
      ctx.notify(ctx.account, { topic: 'event:klaviyo.subscribed_to_list', profileId: profile.id, properties: { list_id: listId, channels } });
    ctx.account.subscriptionOps.push({
      at: ctx.now,
      kind: 'subscribe',
      listId,
      global: listId === null,
      profileId: profile.id,
      email: profile.email,
      phone_number: profile.phone_number,
      channels,
      source,
    });
  }
  return { status: 202 };
};

function findForUnsubscribe(ctx: HandlerContext, pa: Obj): SimProfile {
  const email = typeof pa['email'] === 'string' ? pa['email'] : null;
  const phone = typeof pa['phone_number'] === 'string' ? pa['phone_number'] : null;
  const existing =
    (email !== null ? findBy(ctx.account, 'email', email) : undefined) ?? (phone !== null ? findBy(ctx.account, 'phone_number', phone) : undefined);
  // Klaviyo suppresses an address it has never seen by creating its profile.
  return existing ?? upsertLenient(ctx.account, { attributes: { email: email ?? undefined, phone_number: phone ?? undefined } }, ctx.now);
}

export const bulkUnsubscribeProfiles: Handler = (ctx) => {
  const { listId, profiles } = readJob(ctx);
  const at = klaviyoTime(ctx.now);
  for (const item of profiles) {
    const pa = obj(item['attributes']);
    const profile = findForUnsubscribe(ctx, pa);
    const channels = channelsIn(obj(pa['subscriptions']));
    const inList = listId !== null && profile.lists.has(listId);
    if (inList) {
      for (const channel of channels) profile.listSuppressions.push({ listId, channel, at });
      removeFromList(ctx.account, listId, profile);
      ctx.notify(ctx.account, { topic: 'event:klaviyo.unsubscribed_from_list', profileId: profile.id, properties: { list_id: listId, channels } });
    } else {
      for (const channel of channels) {
        profile.consent[channel] = { status: 'UNSUBSCRIBED', source: null, at, listId };
        ctx.notify(ctx.account, {
          topic: `event:klaviyo.unsubscribed_from_${channel}_marketing`,
          profileId: profile.id,
          properties: { channel, list_id: listId },
        });
      }
    }
    ctx.account.subscriptionOps.push({
      at: ctx.now,
      kind: 'unsubscribe',
      listId,
      global: !inList,
      profileId: profile.id,
      email: profile.email,
      phone_number: profile.phone_number,
      channels,
      source: null,
    });
  }
  return { status: 202 };
};
