/**
 * add_profiles_to_list / remove_profiles_from_list (POST / DELETE
 * /api/lists/{id}/relationships/profiles): body `{"data":[{"type":"profile","id"}]}`, profile ids
 * only, 204 (OAS; docs/klaviyo-and-maton.md §2). Consent is unchanged. The simulator creates a list on
 * first use when its id looks like a Klaviyo list id (6+ base62 characters), else 404. An
 * unknown profile id rejects the whole request with one error per unknown id.
 */
import { klaviyoError, KlaviyoHttpError } from '../json-api.ts';
import { addToList, ensureList, removeFromList } from '../profile-store.ts';
import type { SimProfile } from '../state.ts';
import { arr, obj, type Handler, type HandlerContext } from './context.ts';

export const LIST_ID = /^[A-Za-z0-9]{6,}$/;

export function checkListId(listId: string, source: { pointer?: string; parameter?: string }): void {
  if (!LIST_ID.test(listId)) throw KlaviyoHttpError.of(404, `A list with id ${listId} does not exist.`, { source });
}

function resolveMembers(ctx: HandlerContext): SimProfile[] {
  const profiles: SimProfile[] = [];
  const errors: ReturnType<typeof klaviyoError>[] = [];
  arr(obj(ctx.body)['data']).forEach((ref, i) => {
    const id = String(obj(ref)['id']);
    const profile = ctx.account.profiles.get(id);
    if (profile) profiles.push(profile);
    else errors.push(klaviyoError(400, `A profile with id ${id} does not exist.`, { source: { pointer: `/data/${i}/id` } }));
  });
  if (errors.length > 0) throw new KlaviyoHttpError(400, errors);
  return profiles;
}

export const addProfilesToList: Handler = (ctx) => {
  const listId = ctx.params['id'] ?? '';
  checkListId(listId, { parameter: 'id' });
  const profiles = resolveMembers(ctx);
  ensureList(ctx.account, listId);
  for (const profile of profiles) addToList(ctx.account, listId, profile);
  return { status: 204 };
};

export const removeProfilesFromList: Handler = (ctx) => {
  const listId = ctx.params['id'] ?? '';
  checkListId(listId, { parameter: 'id' });
  const profiles = resolveMembers(ctx);
  ensureList(ctx.account, listId);
  for (const profile of profiles) removeFromList(ctx.account, listId, profile);
  return { status: 204 };
};
