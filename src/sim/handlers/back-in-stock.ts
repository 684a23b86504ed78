/**
 * Back-in-stock subscriptions (OAS create_back_in_stock_subscription): 202, no body. The profile
 * is found or created from its identifiers (as profile-import would) and subscribed to the
 * variant for the channels given; subscribing again merges the channels. Klaviyo's guide
 * (how_to_set_up_custom_back_in_stock) asks for an email for EMAIL and a phone number for SMS and
 * WHATSAPP; the variant id is `integrationType:::catalogId:::externalId`. The simulator keeps
 * those rules; whether the variant exists in the catalog is not checked here (UNCONFIRMED what
 * Klaviyo answers for an unknown one).
 */
import { KlaviyoHttpError, klaviyoError } from '../json-api.ts';
import { upsertLenient } from '../profile-store.ts';
import { EMAIL, E164 } from '../semantic-rules.ts';
import { arr, obj, strOrNull, type Handler } from './context.ts';

export type BackInStockChannel = 'EMAIL' | 'PUSH' | 'SMS' | 'WHATSAPP';

/** One profile's subscription to one variant. */
export interface BackInStockSubscription {
  profileId: string;
  email: string | null;
  phone_number: string | null;
  variantId: string;
  channels: BackInStockChannel[];
  createdAt: number;
  updatedAt: number;
}

/** `integrationType:::catalogId:::externalId`, each part non-empty. */
export const CATALOG_VARIANT_ID = /^[^:]+:::[^:]+:::\S.*$/;

const ATTRS = '/data/attributes/profile/data/attributes';

export const createBackInStockSubscription: Handler = (ctx) => {
  const data = obj(obj(ctx.body)['data']);
  const attributes = obj(data['attributes']);
  const channels = arr(attributes['channels']) as BackInStockChannel[];
  const profileData = obj(obj(attributes['profile'])['data']);
  const p = obj(profileData['attributes']);
  const email = strOrNull(p['email']);
  const phone = strOrNull(p['phone_number']);
  const externalId = strOrNull(p['external_id']);
  const variantId = String(obj(obj(obj(data['relationships'])['variant'])['data'])['id'] ?? '');

  const errors = [];
  if (channels.length === 0) errors.push(klaviyoError(400, 'At least one channel is required.', { source: { pointer: '/data/attributes/channels' } }));
  if (!email && !phone && !externalId && !strOrNull(profileData['id']))
    errors.push(klaviyoError(400, 'A profile identifier (email, phone_number, external_id or id) is required.', { source: { pointer: ATTRS } }));
  if (email !== null && !EMAIL.test(email.trim()))
    errors.push(klaviyoError(400, `Invalid email address: ${JSON.stringify(email)}.`, { source: { pointer: `${ATTRS}/email` } }));
  if (phone !== null && !E164.test(phone))
    errors.push(klaviyoError(400, `Invalid phone number ${JSON.stringify(phone)}: must be E.164.`, { source: { pointer: `${ATTRS}/phone_number` } }));
  if (channels.includes('EMAIL') && !email)
    errors.push(klaviyoError(400, 'The EMAIL channel needs the profile’s email.', { source: { pointer: `${ATTRS}/email` } }));
  if ((channels.includes('SMS') || channels.includes('WHATSAPP')) && !phone)
    errors.push(klaviyoError(400, 'The SMS and WHATSAPP channels need the profile’s phone_number.', { source: { pointer: `${ATTRS}/phone_number` } }));
  if (!CATALOG_VARIANT_ID.test(variantId))
    errors.push(
      klaviyoError(400, `Invalid catalog variant id ${JSON.stringify(variantId)}: expected integrationType:::catalogId:::externalId.`, {
        source: { pointer: '/data/relationships/variant/data/id' },
      }),
    );
  if (errors.length > 0) throw new KlaviyoHttpError(400, errors);

  const profile = upsertLenient(
    ctx.account,
    { id: strOrNull(profileData['id']), attributes: { email, phone_number: phone, external_id: externalId } },
    ctx.now,
  );
  const key = `${profile.id}\n${variantId}`;
  const existing = ctx.account.backInStock.get(key);
  if (existing) {
    existing.channels = [...new Set([...existing.channels, ...channels])];
    existing.updatedAt = ctx.now;
  } else {
    ctx.account.backInStock.set(key, {
      profileId: profile.id,
      email: profile.email,
      phone_number: profile.phone_number,
      variantId,
      channels: [...new Set(channels)],
      createdAt: ctx.now,
      updatedAt: ctx.now,
    });
  }
  return { status: 202 };
};
