/**
 * The simulator's back-in-stock subscriptions and coupon-code bulk create jobs (issue 15): the
 * bodies the relay builds pass Klaviyo's OpenAPI schema, Klaviyo's rules are kept, jobs go
 * queued → processing → complete with per-code errors, the queued-job cap and the rate limits hold.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../../src/sim/index.ts';
import { backInStockBody } from '../../src/klaviyo/back-in-stock-payloads.ts';
import { couponCodesBody } from '../../src/klaviyo/coupon-payloads.ts';
import { waitUntil } from '../support/wait.ts';
import { gateway } from './helpers.ts';

const ACCOUNT = 'conn-commerce';
let srv: RunningSimulator;
let call: ReturnType<typeof gateway>;

beforeAll(async () => {
  srv = await startSimulator({ port: 0, couponJobDelayMs: 1000, maxQueuedCouponJobs: 2 });
  call = gateway(srv.url, { connection: ACCOUNT });
});
afterAll(() => srv.close());
beforeEach(() => srv.sim.reset());

const variant = '$custom:::$default:::SKU-1-M';
const codes = (...c: string[]) => c.map((code) => ({ couponId: 'SUMMER10', code }));

describe('back-in-stock subscriptions', () => {
  it('subscribes a profile to a variant (202, no body) and merges channels on a second call', async () => {
    const first = await call('/api/back-in-stock-subscriptions', {
      body: backInStockBody({ email: 'a@example.com', variantId: variant, channels: ['email'] }),
    });
    expect(first.status).toBe(202);
    expect(first.text).toBe('');
    const second = await call('/api/back-in-stock-subscriptions', {
      body: backInStockBody({ email: 'a@example.com', phone_number: '+15005550006', variantId: variant, channels: ['sms'] }),
    });
    expect(second.status).toBe(202);
    const subs = [...srv.sim.account(ACCOUNT)!.backInStock.values()];
    expect(subs).toHaveLength(1);
    expect(subs[0]).toMatchObject({ email: 'a@example.com', variantId: variant, channels: ['EMAIL', 'SMS'] });
  });

  it('refuses what Klaviyo refuses, pointing at it', async () => {
    const noPhone = await call('/api/back-in-stock-subscriptions', {
      body: backInStockBody({ email: 'a@example.com', variantId: variant, channels: ['sms'] }),
    });
    expect(noPhone.status).toBe(400);
    expect(noPhone.json.errors[0].source.pointer).toBe('/data/attributes/profile/data/attributes/phone_number');
    const badVariant = await call('/api/back-in-stock-subscriptions', {
      body: backInStockBody({ email: 'a@example.com', variantId: 'SKU-1', channels: ['email'] }),
    });
    expect(badVariant.status).toBe(400);
    expect(badVariant.json.errors[0].source.pointer).toBe('/data/relationships/variant/data/id');
    const badChannel = await call('/api/back-in-stock-subscriptions', {
      body: {
        data: {
          type: 'back-in-stock-subscription',
          attributes: { channels: ['FAX'] },
          relationships: { variant: { data: { type: 'catalog-variant', id: variant } } },
        },
      },
    });
    expect(badChannel.status).toBe(400);
    expect(badChannel.json.errors[0].source.pointer).toBe('/data/attributes/channels/0');
    expect(srv.sim.account(ACCOUNT)?.backInStock.size ?? 0).toBe(0);
  });

  it('has Klaviyo’s limits: 350/s, 3,500/min', () => {
    expect(srv.sim.options.endpointLimits.create_back_in_stock_subscription).toEqual({ burst: 350, steady: 3500 });
    expect(srv.sim.options.endpointLimits.bulk_create_coupon_codes).toEqual({ burst: 75, steady: 750 });
  });
});

describe('coupon-code bulk create jobs', () => {
  it('goes queued → processing → complete; a code the coupon has, or an expiry in the past, fails alone', async () => {
    const seed = await call('/api/coupon-code-bulk-create-jobs', { body: couponCodesBody(codes('TAKEN')) });
    expect(seed.status).toBe(202);
    await waitUntil('the seed code created', () => srv.sim.account(ACCOUNT)!.coupons.codes.get('SUMMER10')?.has('TAKEN'));

    const body = couponCodesBody([
      { couponId: 'SUMMER10', code: 'NEW-1' },
      { couponId: 'SUMMER10', code: 'TAKEN' },
      { couponId: 'SUMMER10', code: 'OLD', expiresAt: '2020-01-01T00:00:00Z' },
      { couponId: 'SUMMER10', code: 'NEW-2', expiresAt: '2099-01-01T00:00:00Z' },
    ]);
    const res = await call('/api/coupon-code-bulk-create-jobs', { body });
    expect(res.status).toBe(202);
    expect(res.json.data.attributes).toMatchObject({ status: 'queued', total_count: 4 });
    const id = res.json.data.id as string;
    const seen = new Set<string>();
    let job: any;
    await waitUntil('the job complete', async () => {
      job = (await call(`/api/coupon-code-bulk-create-jobs/${id}`)).json.data;
      seen.add(job.attributes.status);
      return job.attributes.status === 'complete';
    });
    expect(seen.has('processing')).toBe(true);
    expect(job.attributes).toMatchObject({ completed_count: 2, failed_count: 2 });
    expect(job.attributes.errors.map((e: any) => e.source.pointer)).toEqual([
      '/data/attributes/coupon-codes/data/1/attributes/unique_code',
      '/data/attributes/coupon-codes/data/2/attributes/expires_at',
    ]);
    expect([...srv.sim.account(ACCOUNT)!.coupons.codes.get('SUMMER10')!.keys()].sort()).toEqual(['NEW-1', 'NEW-2', 'TAKEN']);
  });

  it('refuses more than 1,000 codes in a job', async () => {
    const many = codes(...Array.from({ length: 1001 }, (_, i) => `C${i}`));
    const res = await call('/api/coupon-code-bulk-create-jobs', { body: couponCodesBody(many) });
    expect(res.status).toBe(400);
    expect(res.json.errors[0].source.pointer).toBe('/data/attributes/coupon-codes/data');
  });

  it('refuses a job while the queued-job cap is held (429), and takes one again once a job completes', async () => {
    expect((await call('/api/coupon-code-bulk-create-jobs', { body: couponCodesBody(codes('A')) })).status).toBe(202);
    expect((await call('/api/coupon-code-bulk-create-jobs', { body: couponCodesBody(codes('B')) })).status).toBe(202);
    const third = await call('/api/coupon-code-bulk-create-jobs', { body: couponCodesBody(codes('C')) });
    expect(third.status).toBe(429);
    expect(srv.sim.account(ACCOUNT)!.coupons.refusedOverCap).toBe(1);
    await waitUntil('a slot free again', async () => (await call('/api/coupon-code-bulk-create-jobs', { body: couponCodesBody(codes('C')) })).status === 202);
    expect(srv.sim.account(ACCOUNT)!.coupons.peakQueued).toBe(2);
  });

  it('404s an unknown job', async () => {
    const res = await call('/api/coupon-code-bulk-create-jobs/01NOPE');
    expect(res.status).toBe(404);
  });
});
