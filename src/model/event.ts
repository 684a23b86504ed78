/**
 * An application event as backends post it to `POST /v1/events`.
 *
 * Mirrors Klaviyo's create_event rules (OpenAPI EventCreateQueryV2): metric name under 128
 * characters, properties within limits, time after 1990 and at most a year ahead, an ISO 4217
 * currency. Klaviyo should never see a request from us that it will reject.
 */
import { z } from 'zod';
import { KLAVIYO_LIMITS } from '../klaviyo/endpoints.ts';
import { EventProfileSchema, PropertiesSchema } from './profile-fields.ts';

const EARLIEST_EVENT_TIME = Date.UTC(1990, 0, 1);
const YEAR_MS = 365 * 24 * 3600 * 1000;

export const EventTimeSchema = z
  .string()
  .pipe(z.iso.datetime({ offset: true, message: 'must be an ISO-8601 date-time with a timezone, e.g. 2026-11-27T10:00:00Z' }))
  .refine((s) => Date.parse(s) > EARLIEST_EVENT_TIME, 'must be after 1990 (Klaviyo rejects older events)')
  .refine((s) => Date.parse(s) <= Date.now() + YEAR_MS, 'must be at most one year in the future');

export const EventIdSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

export const EventSchema = z
  .object({
    id: EventIdSchema.optional(),
    event: z
      .string()
      .trim()
      .min(1, 'must name the metric, e.g. "Placed Order"')
      .max(KLAVIYO_LIMITS.maxMetricNameLength, `must be at most ${KLAVIYO_LIMITS.maxMetricNameLength} characters`),
    profile: EventProfileSchema,
    properties: PropertiesSchema.optional(),
    value: z.number().finite().optional(),
    value_currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD')
      .optional(),
    time: EventTimeSchema.optional(),
    /** Recorded but does not trigger flows (Klaviyo's `backfill`), for historical imports. */
    backfill: z.boolean().optional(),
  })
  .strict();

export type EventInput = z.infer<typeof EventSchema>;

export const MAX_EVENTS_PER_REQUEST = 1000;
