/**
 * Profile upserts, list memberships and consent as backends send them (`POST /v1/profiles`,
 * `POST|DELETE /v1/lists/{listId}/members`).
 *
 * Upsert semantics are Klaviyo's profile-import: a field set to null clears it, a field left out
 * is left alone.
 */
import { z } from 'zod';
import { KLAVIYO_ID } from '../klaviyo/endpoints.ts';
import { AttributeFields, IdentifierFields, requireLookupIdentifier } from './profile-fields.ts';

const { anonymous_id: _anonymous, ...LookupIdentifierFields } = IdentifierFields;

export const ListIdSchema = z.string().regex(KLAVIYO_ID, 'must be a Klaviyo list id (letters, digits, - and _ only)');

/** Your id for a request: a retry with the same id is not applied twice. */
const RequestIdSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

export const ProfileUpsertSchema = z
  .object({
    id: RequestIdSchema.optional(),
    ...LookupIdentifierFields,
    ...AttributeFields,
    /** Lists to add the profile to, after the upsert. */
    lists: z.array(ListIdSchema).max(20, 'at most 20 lists per profile').optional(),
  })
  .strict()
  .superRefine(requireLookupIdentifier);

export type ProfileUpsertInput = z.infer<typeof ProfileUpsertSchema>;

export const MAX_PROFILES_PER_REQUEST = 1000;

/** Who a list operation is about: identifiers only. */
export const MemberSchema = z
  .object({ ...LookupIdentifierFields })
  .strict()
  .superRefine(requireLookupIdentifier);

export const ConsentSchema = z
  .object({ email: z.boolean().optional(), sms: z.boolean().optional() })
  .strict()
  .refine((c) => c.email === true || c.sms === true, 'must set at least one channel to true: email or sms');

export const ListMembersSchema = z
  .object({
    /** Your id for this request: a retry with the same id is not applied twice. */
    id: RequestIdSchema.optional(),
    profiles: z
      .array(MemberSchema)
      .min(1, 'must name at least one profile')
      .max(MAX_PROFILES_PER_REQUEST, `must name at most ${MAX_PROFILES_PER_REQUEST} profiles`),
    /** With consent: subscribe (POST) or unsubscribe (DELETE) on these channels; without: membership only. */
    consent: ConsentSchema.optional(),
    /** Klaviyo's `custom_source` for consent changes, e.g. "Checkout". */
    source: z.string().min(1).max(255).optional(),
    /**
     * DELETE with consent only: unsubscribe account-wide instead of from this list. Must be asked
     * for explicitly; an unsubscribe otherwise always names the list.
     */
    global: z.boolean().optional(),
  })
  .strict();
