/**
 * POST /v1/back-in-stock — one subscription, or {"subscriptions": [...]} with up to 1,000:
 *   {"email": "…", "phone_number": "+1…", "variant_id": "SKU-1-M", "channels": ["email", "sms"]}
 *
 * Checked the way Klaviyo checks a back-in-stock subscription (OAS
 * create_back_in_stock_subscription and its guide): an email or a phone number, at least one
 * channel, an email for the EMAIL channel and a phone number for SMS and WHATSAPP. A variant id
 * without `:::` is the external id of a variant of the custom catalog and is sent as
 * `$custom:::$default:::<id>`; a full catalog variant id (`integrationType:::catalogId:::externalId`)
 * is sent as given.
 */
import { z } from 'zod';
import { EmailSchema, PhoneSchema } from './profile-fields.ts';

export const MAX_BACK_IN_STOCK_PER_REQUEST = 1000;

export const BACK_IN_STOCK_CHANNELS = ['email', 'sms', 'push', 'whatsapp'] as const;
export type BackInStockChannel = (typeof BACK_IN_STOCK_CHANNELS)[number];

/** `integrationType:::catalogId:::externalId`: two ids without colons, then no whitespace. */
const FULL_VARIANT_ID = /^[^:\s]{1,64}:::[^:\s]{1,64}:::\S+$/;
const BARE_VARIANT_ID = /^\S+$/;

/** The catalog variant id Klaviyo expects for what the caller sent. */
export function catalogVariantId(variantId: string): string {
  return variantId.includes(':::') ? variantId : `$custom:::$default:::${variantId}`;
}

const VariantIdSchema = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(400, 'must be at most 400 characters')
  .refine((v) => (v.includes(':::') ? FULL_VARIANT_ID.test(v) : BARE_VARIANT_ID.test(v)), {
    message: 'must be a variant external id (no whitespace) or a catalog variant id integrationType:::catalogId:::externalId',
  });

export const BackInStockSchema = z
  .object({
    /** Your id for this request (shown in dead letters and find); the subscription itself is deduplicated on who, variant and channels. */
    id: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
      .optional(),
    email: EmailSchema.optional(),
    phone_number: PhoneSchema.optional(),
    external_id: z.string().trim().min(1).max(255).optional(),
    variant_id: VariantIdSchema,
    channels: z
      .array(z.enum(BACK_IN_STOCK_CHANNELS, { message: `must be one of ${BACK_IN_STOCK_CHANNELS.join(', ')}` }))
      .min(1, 'must name at least one channel')
      .max(4),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (!s.email && !s.phone_number) ctx.addIssue({ code: 'custom', path: ['email'], message: 'an email or a phone_number is required' });
    if (s.channels.includes('email') && !s.email) ctx.addIssue({ code: 'custom', path: ['email'], message: 'is required for the email channel' });
    for (const ch of ['sms', 'whatsapp'] as const)
      if (s.channels.includes(ch) && !s.phone_number) ctx.addIssue({ code: 'custom', path: ['phone_number'], message: `is required for the ${ch} channel` });
  });

/** A subscription as queued: the caller's fields, the variant id as Klaviyo wants it, channels once each and in order. */
export interface BackInStockSubscription {
  readonly email?: string;
  readonly phone_number?: string;
  readonly external_id?: string;
  readonly variantId: string;
  readonly channels: readonly BackInStockChannel[];
}

export function toSubscription(input: z.infer<typeof BackInStockSchema>): BackInStockSubscription {
  return {
    ...(input.email ? { email: input.email.toLowerCase() } : {}),
    ...(input.phone_number ? { phone_number: input.phone_number } : {}),
    ...(input.external_id ? { external_id: input.external_id } : {}),
    variantId: catalogVariantId(input.variant_id),
    channels: BACK_IN_STOCK_CHANNELS.filter((c) => input.channels.includes(c)),
  };
}
