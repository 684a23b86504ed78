/** Issue 15: every catalog bulk job body the relay builds validates against Klaviyo's OpenAPI subset. */
import { describe, expect, it } from 'vitest';
import { catalogDeleteResource, catalogEndpoints, catalogIndex, catalogJobBody, catalogResource } from '../../src/klaviyo/catalog-payloads.ts';
import { validateRequestBody, type BodyOperationId } from '../../src/klaviyo/openapi/validate.ts';
import { ENDPOINTS } from '../../src/klaviyo/endpoints.ts';
import { CatalogCategorySchema, CatalogItemSchema, CatalogVariantSchema, type CatalogInput, type CatalogType } from '../../src/model/catalog.ts';

const full: Record<CatalogType, CatalogInput> = {
  item: CatalogItemSchema.parse({
    id: 'SKU-1',
    title: 'Shirt',
    description: 'Blue',
    url: 'https://shop.test/1',
    price: 42,
    image_full_url: 'https://cdn.test/1.jpg',
    image_thumbnail_url: 'https://cdn.test/1-t.jpg',
    images: ['https://cdn.test/1b.jpg'],
    custom_metadata: { fabric: 'cotton', sizes: ['S', 'M'] },
    published: true,
    categories: ['shirts'],
  }),
  variant: CatalogVariantSchema.parse({
    id: 'SKU-1-M',
    item_id: 'SKU-1',
    title: 'Shirt M',
    description: 'Blue, M',
    sku: 'SKU-1-M',
    inventory_quantity: 3,
    inventory_policy: 1,
    price: 42,
    url: 'https://shop.test/1?size=M',
    custom_metadata: { size: 'M' },
    published: false,
  }),
  category: CatalogCategorySchema.parse({ id: 'shirts', name: 'Shirts', items: ['SKU-1'] }),
};
const minimal: Record<CatalogType, CatalogInput> = {
  item: CatalogItemSchema.parse({ id: 'A', title: 'A', description: '', url: 'https://shop.test/a' }),
  variant: CatalogVariantSchema.parse({
    id: 'V',
    item_id: 'A',
    title: 'V',
    description: '',
    sku: 'V',
    inventory_quantity: 0,
    price: 0,
    url: 'https://shop.test/v',
  }),
  category: CatalogCategorySchema.parse({ id: 'C', name: 'C' }),
};

describe('catalog bulk job bodies', () => {
  for (const type of ['item', 'variant', 'category'] as const) {
    for (const action of ['create', 'update'] as const) {
      it(`${type} ${action}: full and minimal resources validate against ${catalogEndpoints(type, action).post}`, () => {
        const { post, get } = catalogEndpoints(type, action);
        expect(ENDPOINTS[post]).toMatchObject({ method: 'POST', maxItems: 100 });
        expect(ENDPOINTS[get].method).toBe('GET');
        const body = catalogJobBody(type, action, [catalogResource(type, action, full[type]), catalogResource(type, action, minimal[type])]);
        const r = validateRequestBody(post as BodyOperationId, body);
        expect(r.ok ? [] : r.errors).toEqual([]);
      });
    }
    it(`${type} delete validates, and ids are compound`, () => {
      const { post } = catalogEndpoints(type, 'delete');
      const body = catalogJobBody(type, 'delete', [catalogDeleteResource(type, 'X-1')]);
      const r = validateRequestBody(post as BodyOperationId, body);
      expect(r.ok ? [] : r.errors).toEqual([]);
      expect(JSON.stringify(body)).toContain('"$custom:::$default:::X-1"');
    });
  }

  it('an update never carries the fields only a create may (external_id, integration_type, catalog_type)', () => {
    const r = catalogResource('item', 'update', full.item) as { attributes: Record<string, unknown> };
    expect(Object.keys(r.attributes)).not.toContain('external_id');
    expect(Object.keys(r.attributes)).not.toContain('catalog_type');
  });

  it('finds the resource an error points at', () => {
    expect(catalogIndex('/data/attributes/variants/data/7/attributes/price')).toBe(7);
    expect(catalogIndex('/data/attributes/items/data/0')).toBe(0);
    expect(catalogIndex('/data/attributes')).toBeUndefined();
    expect(catalogIndex(undefined)).toBeUndefined();
  });
});
