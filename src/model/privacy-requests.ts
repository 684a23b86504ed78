/**
 * Erasure and suppression requests as backends send them (issue 16):
 *   POST /v1/privacy/deletions  {"email": …} | {"phone_number": …} | {"profile_id": …}, or {"deletions": [...]}
 *   POST|DELETE /v1/suppressions  {"emails": [...]}
 */
import { z } from 'zod';
import { KLAVIYO_ID } from '../klaviyo/endpoints.ts';
import { EmailSchema, PhoneSchema } from './profile-fields.ts';

/** Your id for a request: a retry with the same id is not queued twice. */
const RequestIdSchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/** Klaviyo's deletion job takes exactly one identifier (OAS request_profile_deletion). */
export const DeletionSchema = z
  .object({
    id: RequestIdSchema.optional(),
    email: EmailSchema.optional(),
    phone_number: PhoneSchema.optional(),
    profile_id: z.string().regex(KLAVIYO_ID, 'must be a Klaviyo profile id (letters, digits, - and _ only)').optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    const n = [d.email, d.phone_number, d.profile_id].filter((v) => v !== undefined).length;
    if (n !== 1) ctx.addIssue({ code: 'custom', path: ['email'], message: 'give exactly one of email, phone_number or profile_id' });
  });

export type DeletionInput = z.infer<typeof DeletionSchema>;

/** Deletions per request: each purges the relay's stores, so a request stays bounded in time. */
export const MAX_DELETIONS_PER_REQUEST = 100;

export const MAX_SUPPRESSIONS_PER_REQUEST = 1000;

export const SuppressionsSchema = z
  .object({
    id: RequestIdSchema.optional(),
    emails: z
      .array(EmailSchema)
      .min(1, 'must name at least one email')
      .max(MAX_SUPPRESSIONS_PER_REQUEST, `must name at most ${MAX_SUPPRESSIONS_PER_REQUEST} emails`),
  })
  .strict();
