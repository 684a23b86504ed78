/**
 * zod schemas for the Klaviyo responses we read. Parsed at the boundary (the client), lenient about
 * fields we do not use (`.loose()`), strict about the ones we do.
 */
import { z } from 'zod';

export const ErrorItemSchema = z
  .object({
    id: z.string().optional(),
    status: z.coerce.number().optional(),
    code: z.string().optional(),
    title: z.string().optional(),
    detail: z.string().optional(),
    source: z.object({ pointer: z.string().optional(), parameter: z.string().optional() }).loose().optional(),
    meta: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();

/** Klaviyo's JSON:API error document. */
export const ErrorBodySchema = z.object({ errors: z.array(ErrorItemSchema).min(1) }).loose();

const LinksSchema = z.object({ self: z.string().optional(), next: z.string().nullish(), prev: z.string().nullish() }).loose();

export const ProfileResourceSchema = z
  .object({
    type: z.literal('profile'),
    id: z.string(),
    attributes: z
      .object({
        email: z.string().nullish(),
        phone_number: z.string().nullish(),
        external_id: z.string().nullish(),
        anonymous_id: z.string().nullish(),
      })
      .loose(),
  })
  .loose();

/** profile-import, create profile, update profile. */
export const ProfileResponseSchema = z.object({ data: ProfileResourceSchema }).loose();

/** GET /api/profiles. */
export const ProfilesPageSchema = z.object({ data: z.array(ProfileResourceSchema), links: LinksSchema.optional() }).loose();

export const BulkImportJobSchema = z
  .object({
    data: z
      .object({
        type: z.literal('profile-bulk-import-job'),
        id: z.string(),
        attributes: z
          .object({
            status: z.enum(['queued', 'processing', 'complete', 'cancelled']),
            total_count: z.number().nullish(),
            completed_count: z.number().nullish(),
            failed_count: z.number().nullish(),
          })
          .loose(),
      })
      .loose(),
  })
  .loose();

export const AccountsSchema = z.object({ data: z.array(z.object({ type: z.literal('account'), id: z.string() }).loose()) }).loose();

/** GET /api/profile-bulk-import-jobs/{id}/import-errors */
export const ImportErrorsPageSchema = z
  .object({
    data: z.array(
      z
        .object({
          type: z.literal('import-error'),
          id: z.string(),
          attributes: z
            .object({
              code: z.string(),
              title: z.string().optional(),
              detail: z.string(),
              source: z.object({ pointer: z.string().optional() }).loose().optional(),
              original_payload: z.unknown().optional(),
            })
            .loose(),
          meta: z.record(z.string(), z.unknown()).optional(),
        })
        .loose(),
    ),
    links: z.object({ next: z.string().nullish() }).loose().optional(),
  })
  .loose();

/** A coupon-code bulk create job (OAS get_bulk_create_coupon_codes_job): its status and per-code errors. */
export const CouponCodeJobSchema = z
  .object({
    data: z
      .object({
        type: z.literal('coupon-code-bulk-create-job'),
        id: z.string(),
        attributes: z
          .object({
            status: z.enum(['queued', 'processing', 'complete', 'cancelled']),
            total_count: z.number().nullish(),
            completed_count: z.number().nullish(),
            failed_count: z.number().nullish(),
            errors: z
              .array(
                z
                  .object({
                    code: z.string().nullish(),
                    title: z.string().nullish(),
                    detail: z.string().nullish(),
                    source: z.object({ pointer: z.string().nullish() }).loose().nullish(),
                  })
                  .loose(),
              )
              .nullish(),
          })
          .loose(),
      })
      .loose(),
  })
  .loose();
