/**
 * Profile writes:
 * - create_or_update_profile (POST /api/profile-import): 201 created / 200 updated with the
 *   profile resource; 409 duplicate_profile when the identifiers belong to two profiles.
 * - create_profile (POST /api/profiles): 201, or 409 duplicate_profile with
 *   `meta.duplicate_profile_id` (as recorded live; docs/klaviyo-and-maton.md §2).
 * - update_profile (PATCH /api/profiles/{id}): 200, 404 when unknown.
 */
import { KlaviyoHttpError } from '../json-api.ts';
import { createStrict, profileResource, updateStrict, upsertStrict } from '../profile-store.ts';
import { obj, strOrNull, type Handler, type HandlerContext } from './context.ts';

function wantsSubscriptions(ctx: HandlerContext): boolean {
  return (ctx.query.get('additional-fields[profile]') ?? '').split(',').includes('subscriptions');
}

function reply(ctx: HandlerContext, status: number, profile: Parameters<typeof profileResource>[0]): { status: number; body: unknown } {
  const resource = profileResource(profile, ctx.linkOrigin, wantsSubscriptions(ctx));
  return { status, body: { data: resource, links: { self: (resource['links'] as { self: string }).self } } };
}

export const createOrUpdateProfile: Handler = (ctx) => {
  const data = obj(obj(ctx.body)['data']);
  const { profile, created } = upsertStrict(
    ctx.account,
    { id: strOrNull(data['id']), attributes: obj(data['attributes']), meta: data['meta'] ? obj(data['meta']) : null },
    ctx.now,
  );
  return reply(ctx, created ? 201 : 200, profile);
};

export const createProfile: Handler = (ctx) => {
  const data = obj(obj(ctx.body)['data']);
  const profile = createStrict(ctx.account, { attributes: obj(data['attributes']) }, ctx.now);
  return reply(ctx, 201, profile);
};

export const updateProfile: Handler = (ctx) => {
  const id = ctx.params['id'] ?? '';
  const data = obj(obj(ctx.body)['data']);
  const profile = ctx.account.profiles.get(id);
  if (!profile) throw KlaviyoHttpError.of(404, `A profile with id ${id} does not exist.`, { source: { parameter: 'id' } });
  if (data['id'] !== id) {
    // JSON:API §7.2.2: the resource id in the body must match the URL.
    throw KlaviyoHttpError.of(409, `The id in the body (${String(data['id'])}) does not match the id in the URL (${id}).`, {
      source: { pointer: '/data/id' },
    });
  }
  updateStrict(ctx.account, profile, { attributes: obj(data['attributes']), meta: data['meta'] ? obj(data['meta']) : null }, ctx.now);
  return reply(ctx, 200, profile);
};
