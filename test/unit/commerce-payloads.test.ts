/**
 * Back in stock and coupon codes (issue 15), pure parts: the bodies the relay sends validate
 * against Klaviyo's OpenAPI schemas, job errors map back to the codes they point at, and the
 * request schemas keep Klaviyo's rules.
 */
import { describe, expect, it } from 'vitest';
import { backInStockBody } from '../../src/klaviyo/back-in-stock-payloads.ts';
import { couponCodeIndex, couponCodesBody } from '../../src/klaviyo/coupon-payloads.ts';
import { validateRequestBody } from '../../src/klaviyo/openapi/validate.ts';
import { BackInStockSchema, catalogVariantId, toSubscription } from '../../src/model/back-in-stock.ts';
import { CouponCodesSchema, toCouponCodes } from '../../src/model/coupon-codes.ts';
import { JOB_KINDS, legacyRef, parseQueueName, queueName, queueRef } from '../../src/queue-catalog.ts';

describe('Klaviyo bodies', () => {
  it('a back-in-stock subscription validates against create_back_in_stock_subscription', () => {
    const sub = toSubscription(
      BackInStockSchema.parse({ email: 'Ada@Example.com', phone_number: '+15005550006', variant_id: 'SKU-1', channels: ['sms', 'email'] }),
    );
    const body = backInStockBody(sub) as any;
    expect(validateRequestBody('create_back_in_stock_subscription', body)).toEqual({ ok: true });
    expect(body.data.attributes.channels).toEqual(['EMAIL', 'SMS']);
    expect(body.data.attributes.profile.data.attributes).toEqual({ email: 'ada@example.com', phone_number: '+15005550006' });
    expect(body.data.relationships.variant.data).toEqual({ type: 'catalog-variant', id: '$custom:::$default:::SKU-1' });
  });

  it('coupon codes validate against bulk_create_coupon_codes, with and without an expiry', () => {
    const codes = toCouponCodes('SUMMER10', CouponCodesSchema.parse({ codes: ['A', { code: 'B', expires_at: '2030-01-01T00:00:00Z' }] }));
    expect(validateRequestBody('bulk_create_coupon_codes', couponCodesBody(codes))).toEqual({ ok: true });
    const withDefault = toCouponCodes(
      'SUMMER10',
      CouponCodesSchema.parse({ codes: ['A', { code: 'B', expires_at: '2030-01-01T00:00:00Z' }], expires_at: '2031-01-01T00:00:00+01:00' }),
    );
    expect(withDefault.map((c) => c.expiresAt)).toEqual(['2031-01-01T00:00:00+01:00', '2030-01-01T00:00:00Z']);
    expect(validateRequestBody('bulk_create_coupon_codes', couponCodesBody(withDefault))).toEqual({ ok: true });
  });

  it('a job error names the code at its index', () => {
    expect(couponCodeIndex('/data/attributes/coupon-codes/data/17/attributes/unique_code')).toBe(17);
    expect(couponCodeIndex('/data/attributes/coupon-codes/data/3')).toBe(3);
    expect(couponCodeIndex('/data/attributes/coupon-codes/data')).toBeUndefined();
    expect(couponCodeIndex('/data/attributes/coupon-codes/data/3x')).toBeUndefined();
    expect(couponCodeIndex(null)).toBeUndefined();
  });
});

describe('request schemas', () => {
  const issues = (r: { success: boolean; error?: { issues: { path: PropertyKey[] }[] } }) => (r.success ? [] : r.error!.issues.map((i) => i.path.join('.')));

  it('back in stock: who, and the identifier each channel needs', () => {
    expect(issues(BackInStockSchema.safeParse({ variant_id: 'V', channels: ['push'] }))).toEqual(['email']);
    expect(issues(BackInStockSchema.safeParse({ email: 'a@example.com', variant_id: 'V', channels: ['whatsapp'] }))).toEqual(['phone_number']);
    expect(issues(BackInStockSchema.safeParse({ phone_number: '+15005550006', variant_id: 'V', channels: ['email'] }))).toEqual(['email']);
    expect(issues(BackInStockSchema.safeParse({ email: 'a@example.com', variant_id: 'a:::b', channels: ['email'] }))).toEqual(['variant_id']);
    expect(issues(BackInStockSchema.safeParse({ email: 'a@example.com', variant_id: 'has space', channels: ['email'] }))).toEqual(['variant_id']);
    expect(catalogVariantId('$shopify:::$default:::1')).toBe('$shopify:::$default:::1');
    expect(catalogVariantId('SKU:1')).toBe('$custom:::$default:::SKU:1');
  });

  it('coupon codes: each once, printable, with a zoned expiry', () => {
    expect(issues(CouponCodesSchema.safeParse({ codes: ['A', 'B', 'A'] }))).toEqual(['codes.2']);
    expect(issues(CouponCodesSchema.safeParse({ codes: ['A', { code: 'A' }] }))).toEqual(['codes.1']);
    expect(issues(CouponCodesSchema.safeParse({ codes: ['A'], expires_at: '2030-01-01T00:00:00' }))).toEqual(['expires_at']);
    expect(issues(CouponCodesSchema.safeParse({ codes: [] }))).toEqual(['codes']);
    expect(issues(CouponCodesSchema.safeParse({ codes: ['A'], id: 'a/b' }))).toEqual(['id']);
  });
});

describe('queue names', () => {
  it('every kind’s queue names read back as the same queue (the name pattern lists every kind)', () => {
    for (const kind of JOB_KINDS) {
      for (const ref of [legacyRef(kind, 'default'), queueRef(kind, 'eu-1', 'bulk', 'src-shop')]) expect(parseQueueName(queueName(ref)), kind).toEqual(ref);
    }
    expect(queueName(queueRef('coupon-codes', 'default', 'bulk', 'src-shop'))).toBe('coupon-codes.default');
    expect(parseQueueName('coupon-codes.default.live.src-shop')).toBeUndefined();
  });
});
