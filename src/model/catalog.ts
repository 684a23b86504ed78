/**
 * Catalog items, variants and categories as senders give them to the relay (issue 15), and the
 * operations the relay keeps for them. Field names are Klaviyo's (OAS CatalogItemCreateQuery…),
 * with the caller's own ids: `id` is Klaviyo's `external_id`; a variant names its item by
 * `item_id`, an item its categories by `categories`, a category its items by `items`. The fields
 * Klaviyo requires to create one are required here too, since an upsert may turn out a create.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { checkJsonValue } from './json-limits.ts';

export const CATALOG_TYPES = ['item', 'variant', 'category'] as const;
export type CatalogType = (typeof CATALOG_TYPES)[number];

/** Items per PUT or DELETE request. */
export const MAX_CATALOG_PER_REQUEST = 1000;

// Klaviyo's compound id is `$custom:::$default:::<external_id>`: an id with ":::" would read back as another.
const Id = z
  .string()
  .min(1)
  .max(255)
  .refine((s) => !s.includes(':::'), 'must not contain ":::"');
const Text = z.string().max(10_000);
const Url = z.string().min(1).max(2048);
const Images = z.array(Url).max(50);
// Free-form JSON within Klaviyo's limits and our depth bound (a hostile nesting costs a 400, not the stack).
const Metadata = z.record(z.string().min(1).max(1024), z.unknown()).superRefine((value, ctx) => {
  for (const problem of checkJsonValue(value, { maxKeys: 400 })) ctx.addIssue({ code: 'custom', ...problem });
});

export const CatalogItemSchema = z
  .object({
    id: Id,
    title: z.string().min(1).max(1000),
    description: Text,
    url: Url,
    price: z.number().finite().nullable().optional(),
    image_full_url: Url.nullable().optional(),
    image_thumbnail_url: Url.nullable().optional(),
    images: Images.nullable().optional(),
    custom_metadata: Metadata.nullable().optional(),
    published: z.boolean().nullable().optional(),
    categories: z.array(Id).max(100).optional(),
  })
  .strict();

export const CatalogVariantSchema = z
  .object({
    id: Id,
    item_id: Id,
    title: z.string().min(1).max(1000),
    description: Text,
    sku: z.string().min(1).max(255),
    inventory_quantity: z.number().finite(),
    inventory_policy: z
      .union([z.literal(0), z.literal(1), z.literal(2)])
      .nullable()
      .optional(),
    price: z.number().finite(),
    url: Url,
    image_full_url: Url.nullable().optional(),
    image_thumbnail_url: Url.nullable().optional(),
    images: Images.nullable().optional(),
    custom_metadata: Metadata.nullable().optional(),
    published: z.boolean().nullable().optional(),
  })
  .strict();

export const CatalogCategorySchema = z
  .object({
    id: Id,
    name: z.string().min(1).max(1000),
    items: z.array(Id).max(1000).optional(),
  })
  .strict();

export type CatalogItemInput = z.infer<typeof CatalogItemSchema>;
export type CatalogVariantInput = z.infer<typeof CatalogVariantSchema>;
export type CatalogCategoryInput = z.infer<typeof CatalogCategorySchema>;
export type CatalogInput = CatalogItemInput | CatalogVariantInput | CatalogCategoryInput;

export const SCHEMA_OF: Readonly<Record<CatalogType, z.ZodType<CatalogInput>>> = {
  item: CatalogItemSchema,
  variant: CatalogVariantSchema,
  category: CatalogCategorySchema,
};

/** The route segment (and the plural a body lists them under) of each type. */
export const PLURAL: Readonly<Record<CatalogType, 'items' | 'variants' | 'categories'>> = { item: 'items', variant: 'variants', category: 'categories' };

/** A DELETE body: one id, or up to 1,000. */
export const CatalogDeleteSchema = z.union([
  z
    .object({ ids: z.array(Id).min(1, 'must contain at least one id').max(MAX_CATALOG_PER_REQUEST, `must contain at most ${MAX_CATALOG_PER_REQUEST} ids`) })
    .strict(),
  z.object({ id: Id }).strict(),
]);

/** A line of a sync feed: the type, then the fields of that type. */
export const SyncLineSchema = z.discriminatedUnion('type', [
  CatalogItemSchema.extend({ type: z.literal('item') }),
  CatalogVariantSchema.extend({ type: z.literal('variant') }),
  CatalogCategorySchema.extend({ type: z.literal('category') }),
]);

/** One operation on one catalog resource: an upsert with its content, or a delete. */
export type CatalogOp =
  | { readonly type: CatalogType; readonly action: 'upsert'; readonly id: string; readonly data: CatalogInput; readonly hash: string }
  | { readonly type: CatalogType; readonly action: 'delete'; readonly id: string };

/** Keys sorted at every level, so the same content always hashes the same. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) out[k] = canonical((v as Record<string, unknown>)[k]);
  return out;
}

/**
 * What a sync compares: a digest of the resource's content as the relay would send it (128 bits
 * of SHA-256, base64url — 22 characters, so 100,000 items cost a few MB in Redis).
 */
export function contentHash(data: CatalogInput): string {
  return createHash('sha256')
    .update(JSON.stringify(canonical(data)))
    .digest('base64url')
    .slice(0, 22);
}

export function upsertOp(type: CatalogType, data: CatalogInput): CatalogOp {
  return { type, action: 'upsert', id: data.id, data, hash: contentHash(data) };
}
