/**
 * An order as backends post it to `POST /v1/orders`. It becomes Klaviyo's e-commerce metrics
 * (developers.klaviyo.com, "Guide to integrating a platform without a pre-built Klaviyo
 * integration"): one "Placed Order" with the items summarised, one "Ordered Product" per line,
 * and "Fulfilled Order" / "Cancelled Order" / "Refunded Order" when the status says so.
 */
import { z } from 'zod';
import { EventIdSchema, EventTimeSchema } from './event.ts';
import { EventProfileSchema } from './profile-fields.ts';

const money = z.number().finite().min(0, 'must not be negative');

export const OrderItemSchema = z
  .object({
    product_id: z.string().min(1).max(255),
    sku: z.string().max(255).optional(),
    name: z.string().min(1).max(1024),
    quantity: z.number().int('must be a whole number').positive('must be at least 1'),
    price: money,
    url: z.url().max(2048).optional(),
    image_url: z.url().max(2048).optional(),
    categories: z.array(z.string().max(255)).max(50).optional(),
    brand: z.string().max(255).optional(),
  })
  .strict();

/** Lines an order may have: its "Ordered Product" events are keyed by line index (src/item-keys.ts). */
export const MAX_ORDER_ITEMS = 500;

export const ORDER_STATUSES = ['placed', 'fulfilled', 'cancelled', 'refunded'] as const;

export const OrderSchema = z
  .object({
    id: EventIdSchema,
    profile: EventProfileSchema,
    value: money,
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD'),
    items: z.array(OrderItemSchema).min(1, 'must contain at least one item').max(MAX_ORDER_ITEMS, `must contain at most ${MAX_ORDER_ITEMS} items`),
    discount_codes: z.array(z.string().min(1).max(255)).max(20).optional(),
    discount_value: money.optional(),
    /** When the order was placed. */
    time: EventTimeSchema.optional(),
    status: z.enum(ORDER_STATUSES).default('placed'),
    /** When the status changed (fulfilled, cancelled, refunded); defaults to the time of the request. */
    status_time: EventTimeSchema.optional(),
    /** A historical order (an import): its events are recorded without triggering flows, and queued as bulk. */
    backfill: z.boolean().optional(),
  })
  .strict();

export type OrderInput = z.infer<typeof OrderSchema>;
