/**
 * Klaviyo's catalog bulk job bodies (OAS bulk_{create,update,delete}_catalog_{items,variants,
 * categories}, revision 2026-07-15): `{"data": {"type": "catalog-<type>-bulk-<action>-job",
 * "attributes": {"<items|variants|categories>": {"data": [<resource objects>]}}}}`, at most 100
 * resource objects and 5 MB per request. Ids are compound, `$custom:::$default:::<external_id>`
 * (the only integration and catalog Klaviyo supports). An update carries no `external_id`,
 * `integration_type` or `catalog_type`; a variant's update cannot move it to another item.
 */
import type { EndpointName } from './endpoints.ts';
import { PLURAL, type CatalogCategoryInput, type CatalogInput, type CatalogItemInput, type CatalogType, type CatalogVariantInput } from '../model/catalog.ts';

export type CatalogAction = 'create' | 'update' | 'delete';

export const compoundId = (externalId: string): string => `$custom:::$default:::${externalId}`;

const ref = (type: CatalogType, id: string) => ({ type: `catalog-${type}`, id: compoundId(id) });

/** The bulk job operation of a type and action, and the operation that reads one of its jobs. */
export function catalogEndpoints(type: CatalogType, action: CatalogAction): { readonly post: EndpointName; readonly get: EndpointName } {
  const plural = PLURAL[type];
  const getPlural = type === 'item' ? 'catalog_items' : plural;
  return { post: `bulk_${action}_catalog_${plural}` as EndpointName, get: `get_bulk_${action}_${getPlural}_job` as EndpointName };
}

/** The defined fields of `attrs`: absent fields are left as Klaviyo has them. */
function defined(attrs: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(attrs).filter(([, v]) => v !== undefined));
}

function itemAttributes(d: CatalogItemInput) {
  return {
    title: d.title,
    description: d.description,
    url: d.url,
    price: d.price,
    image_full_url: d.image_full_url,
    image_thumbnail_url: d.image_thumbnail_url,
    images: d.images,
    custom_metadata: d.custom_metadata,
    published: d.published,
  };
}

function variantAttributes(d: CatalogVariantInput) {
  return {
    title: d.title,
    description: d.description,
    sku: d.sku,
    inventory_policy: d.inventory_policy,
    inventory_quantity: d.inventory_quantity,
    price: d.price,
    url: d.url,
    image_full_url: d.image_full_url,
    image_thumbnail_url: d.image_thumbnail_url,
    images: d.images,
    custom_metadata: d.custom_metadata,
    published: d.published,
  };
}

const NEW = { integration_type: '$custom', catalog_type: '$default' } as const;

/** One resource object of a create or update job. */
export function catalogResource(type: CatalogType, action: 'create' | 'update', data: CatalogInput): Record<string, unknown> {
  const base = action === 'create' ? { type: `catalog-${type}` } : { type: `catalog-${type}`, id: compoundId(data.id) };
  const created = (attrs: Record<string, unknown>) => (action === 'create' ? { external_id: data.id, ...NEW, ...attrs } : attrs);
  switch (type) {
    case 'item': {
      const d = data as CatalogItemInput;
      const categories = d.categories ? { relationships: { categories: { data: d.categories.map((c) => ref('category', c)) } } } : {};
      return { ...base, attributes: defined(created(itemAttributes(d))), ...categories };
    }
    case 'variant': {
      const d = data as CatalogVariantInput;
      const item = action === 'create' ? { relationships: { item: { data: ref('item', d.item_id) } } } : {};
      return { ...base, attributes: defined(created(variantAttributes(d))), ...item };
    }
    case 'category': {
      const d = data as CatalogCategoryInput;
      const items = d.items ? { relationships: { items: { data: d.items.map((i) => ref('item', i)) } } } : {};
      return { ...base, attributes: defined(created({ name: d.name })), ...items };
    }
  }
}

export function catalogDeleteResource(type: CatalogType, id: string): Record<string, unknown> {
  return ref(type, id);
}

/** The body of one bulk job; `resources` are catalogResource's or catalogDeleteResource's. */
export function catalogJobBody(type: CatalogType, action: CatalogAction, resources: readonly unknown[]): unknown {
  return { data: { type: `catalog-${type}-bulk-${action}-job`, attributes: { [PLURAL[type]]: { data: resources } } } };
}

/** The index of the resource object an error's pointer names (`/data/attributes/<plural>/data/<i>…`). */
export function catalogIndex(pointer: string | undefined): number | undefined {
  const m = pointer ? /^\/data\/attributes\/(?:items|variants|categories)\/data\/(\d+)(?:\/|$)/.exec(pointer) : null;
  return m ? Number(m[1]) : undefined;
}
