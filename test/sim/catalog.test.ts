import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../src/sim/index.ts';
import { catalogState } from '../../src/sim/catalog-store.ts';
import { settleCatalog } from '../../src/sim/handlers/catalog.ts';
import { fakeClock, gateway } from './helpers.ts';

let srv: RunningSimulator | undefined;
afterEach(async () => {
  await srv?.close();
  srv = undefined;
});

async function start(opts: SimulatorOptions) {
  srv = await startSimulator({ port: 0, ...opts });
  return srv;
}

const item = (ext: string, title = `Item ${ext}`) => ({
  type: 'catalog-item',
  attributes: { external_id: ext, title, description: 'd', url: `https://shop.test/${ext}` },
});
const createItems = (items: unknown[]) => ({ data: { type: 'catalog-item-bulk-create-job', attributes: { items: { data: items } } } });
const variantCreate = (ext: string, itemExt: string) => ({
  data: {
    type: 'catalog-variant-bulk-create-job',
    attributes: {
      variants: {
        data: [
          {
            type: 'catalog-variant',
            attributes: { external_id: ext, title: ext, description: 'd', sku: ext, inventory_quantity: 3, price: 9.5, url: 'https://shop.test/v' },
            relationships: { item: { data: { type: 'catalog-item', id: `$custom:::$default:::${itemExt}` } } },
          },
        ],
      },
    },
  },
});

describe('simulator: catalog bulk jobs', () => {
  it('goes queued → processing → complete, applies the operations at the end, and reports per-item errors with pointers', async () => {
    const clock = fakeClock(1_000);
    const s = await start({ now: clock.now, catalogJobMs: 1_000 });
    const call = gateway(s.url, { connection: 'shop' });
    const first = await call('/api/catalog-item-bulk-create-jobs', { body: createItems([item('A'), item('B')]) });
    expect(first.status).toBe(202);
    expect(first.json.data.type).toBe('catalog-item-bulk-create-job');
    expect(first.json.data.attributes.status).toBe('queued');
    const id = first.json.data.id as string;
    const get = () => call(`/api/catalog-item-bulk-create-jobs/${id}`);
    expect((await get()).json.data.attributes.status).toBe('queued');
    clock.advance(500);
    expect((await get()).json.data.attributes.status).toBe('processing');
    expect(catalogState(s.sim.account('shop')!).items.size).toBe(0);
    clock.advance(500);
    const done = await get();
    expect(done.json.data.attributes).toMatchObject({ status: 'complete', total_count: 2, completed_count: 2, failed_count: 0 });
    expect([...catalogState(s.sim.account('shop')!).items.keys()]).toEqual(['$custom:::$default:::A', '$custom:::$default:::B']);

    // A second create of A fails for A alone; C is created.
    const again = await call('/api/catalog-item-bulk-create-jobs', { body: createItems([item('C'), item('A')]) });
    clock.advance(1_000);
    const r = await call(`/api/catalog-item-bulk-create-jobs/${again.json.data.id}`);
    expect(r.json.data.attributes).toMatchObject({ status: 'complete', completed_count: 1, failed_count: 1 });
    expect(r.json.data.attributes.errors).toEqual([
      expect.objectContaining({ code: 'duplicate', source: { pointer: '/data/attributes/items/data/1' }, detail: expect.stringContaining(':::A') }),
    ]);

    // A variant of an unknown item is an error of the job, not of the request.
    const v = await call('/api/catalog-variant-bulk-create-jobs', { body: variantCreate('V1', 'NOPE') });
    expect(v.status, v.text).toBe(202);
    clock.advance(1_000);
    const vr = await call(`/api/catalog-variant-bulk-create-jobs/${v.json.data.id}`);
    expect(vr.json.data.attributes.errors[0]).toMatchObject({ code: 'not_found', source: { pointer: '/data/attributes/variants/data/0' } });
  });

  it('validates the body against the OpenAPI subset (one error per item) and refuses more than 100 per request', async () => {
    const s = await start({});
    const call = gateway(s.url, { connection: 'shop' });
    const bad = await call('/api/catalog-item-bulk-create-jobs', {
      body: createItems([item('A'), { type: 'catalog-item', attributes: { external_id: 'B' } }]),
    });
    expect(bad.status).toBe(400);
    expect(bad.json.errors).toHaveLength(1);
    expect(bad.json.errors[0].source.pointer).toMatch(/^\/data\/attributes\/items\/data\/1/);
    const many = await call('/api/catalog-item-bulk-create-jobs', { body: createItems(Array.from({ length: 101 }, (_, i) => item(`I${i}`))) });
    expect(many.status).toBe(400);
    expect(many.json.errors[0].detail).toContain('At most 100');
    const del = await call('/api/catalog-item-bulk-delete-jobs', {
      body: { data: { type: 'catalog-item-bulk-delete-job', attributes: { items: { data: [{ type: 'catalog-item' }] } } } },
    });
    expect(del.status).toBe(400);
  });

  it('holds at most catalogMaxJobsInProgress jobs in progress: the next POST is 429 until one completes', async () => {
    const clock = fakeClock(1_000);
    const s = await start({ now: clock.now, catalogJobMs: 1_000, catalogMaxJobsInProgress: 2 });
    const call = gateway(s.url, { connection: 'shop' });
    expect((await call('/api/catalog-item-bulk-create-jobs', { body: createItems([item('A')]) })).status).toBe(202);
    expect((await call('/api/catalog-item-bulk-create-jobs', { body: createItems([item('B')]) })).status).toBe(202);
    const refused = await call('/api/catalog-item-bulk-create-jobs', { body: createItems([item('C')]) });
    expect(refused.status).toBe(429);
    clock.advance(1_000);
    expect((await call('/api/catalog-item-bulk-create-jobs', { body: createItems([item('C')]) })).status).toBe(202);
    const state = settleCatalog(s.sim.account('shop')!, clock.now());
    expect(state.peakInProgress).toBe(2);
    expect(state.refusedAtCap).toBe(1);
  });

  it('limits job creation to 75/s per account (x-klaviyo-ratelimit)', async () => {
    const clock = fakeClock(1_000);
    const s = await start({ now: clock.now, limits: { gatewayPerSecond: 1_000 } });
    const call = gateway(s.url, { connection: 'shop' });
    const statuses: number[] = [];
    for (let i = 0; i < 76; i++)
      statuses.push(
        (await call('/api/catalog-item-bulk-delete-jobs', { body: { data: { type: 'catalog-item-bulk-delete-job', attributes: { items: { data: [] } } } } }))
          .status,
      );
    expect(statuses.filter((x) => x === 202)).toHaveLength(75);
    expect(statuses[75]).toBe(429);
  });
});
