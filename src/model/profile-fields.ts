/**
 * Profile identifiers and attributes as backends send them to us, validated the way Klaviyo
 * validates them (OpenAPI profile attributes; E.164 phone numbers; 100 KB strings) so that a
 * request we accept is one Klaviyo will accept.
 */
import { z } from 'zod';
import { checkJsonValue } from './json-limits.ts';

/** E.164: a plus, a non-zero country digit, at most 15 digits in all. Klaviyo rejects anything else. */
export const PHONE_E164 = /^\+[1-9]\d{1,14}$/;

const identifier = z.string().trim().min(1, 'must not be empty').max(255, 'must be at most 255 characters');

export const EmailSchema = z
  .string()
  .trim()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email({ message: 'must be an email address' }));

export const PhoneSchema = z.string().trim().regex(PHONE_E164, 'must be an E.164 phone number such as +15005550006');

/** A text attribute: a string (null clears it in a profile upsert). */
const text = (max = 255) => z.string().max(max, `must be at most ${max} characters`).nullable().optional();

export const LocationSchema = z
  .object({
    address1: text(),
    address2: text(),
    city: text(),
    country: text(),
    region: text(),
    zip: text(),
    timezone: text(),
    ip: text(64),
    latitude: z
      .union([z.number().min(-90).max(90), z.string().max(32)])
      .nullable()
      .optional(),
    longitude: z
      .union([z.number().min(-180).max(180), z.string().max(32)])
      .nullable()
      .optional(),
  })
  .strict();

/** Custom properties: any JSON object within Klaviyo's limits. */
export const PropertiesSchema = z.record(z.string().min(1).max(1024), z.unknown()).superRefine((value, ctx) => {
  for (const problem of checkJsonValue(value, { maxKeys: 400 })) ctx.addIssue({ code: 'custom', ...problem });
});

/** Identifiers: at least one is required wherever a profile is named. */
export const IdentifierFields = {
  email: EmailSchema.optional(),
  phone_number: PhoneSchema.optional(),
  external_id: identifier.optional(),
  anonymous_id: identifier.optional(),
};

export const PROFILE_IDENTIFIERS = ['email', 'phone_number', 'external_id', 'anonymous_id'] as const;
export type ProfileIdentifier = (typeof PROFILE_IDENTIFIERS)[number];

/** Attributes Klaviyo keeps on a profile besides the identifiers (OpenAPI ProfileUpsertQuery). */
export const AttributeFields = {
  first_name: text(),
  last_name: text(),
  organization: text(),
  title: text(),
  locale: text(35),
  image: z.url({ message: 'must be a URL' }).max(2048).nullable().optional(),
  location: LocationSchema.nullable().optional(),
  properties: PropertiesSchema.nullable().optional(),
};

export function requireIdentifier(p: Partial<Record<ProfileIdentifier, unknown>>, ctx: z.RefinementCtx): void {
  requireOneOf(PROFILE_IDENTIFIERS, p, ctx);
}

/**
 * Identifiers Klaviyo's profile-import and profile filters accept. `anonymous_id` is not among
 * them (OpenAPI ProfileUpsertQuery), so routes that upsert or look up profiles require one of these.
 */
export const LOOKUP_IDENTIFIERS = ['email', 'phone_number', 'external_id'] as const;

export function requireLookupIdentifier(p: Partial<Record<ProfileIdentifier, unknown>>, ctx: z.RefinementCtx): void {
  requireOneOf(LOOKUP_IDENTIFIERS, p, ctx);
}

function requireOneOf(fields: readonly ProfileIdentifier[], p: Partial<Record<ProfileIdentifier, unknown>>, ctx: z.RefinementCtx): void {
  if (!fields.some((k) => typeof p[k] === 'string')) {
    ctx.addIssue({ code: 'custom', message: `needs at least one identifier: ${fields.join(', ')}`, path: [] });
  }
}

/** The profile an event is about. */
export const EventProfileSchema = z
  .object({ ...IdentifierFields, ...AttributeFields })
  .strict()
  .superRefine(requireIdentifier);

export type EventProfile = z.infer<typeof EventProfileSchema>;
