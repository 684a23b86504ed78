/**
 * Issue 15: catalog upserts and deletes, and full sync with change detection — through the relay
 * (real Redis, real HTTP) to the simulator's catalog bulk jobs over a real socket.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LINE_BYTES } from '../../src/http/routes/catalog.ts';
import { catalogState, type CatalogState } from '../../src/sim/catalog-store.ts';
import { settleCatalog } from '../../src/sim/handlers/catalog.ts';
import { CONNECTION, RELAY_KEY, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';
import { Metrics } from '../../src/metrics.ts';

const ADMIN = 'test-admin-token-cat';
let h: Harness;
const metrics = new Metrics();

beforeAll(async () => {
  h = await startHarness({
    name: 'catalog',
    metrics,
    env: { RELAY_ADMIN_TOKEN: ADMIN, RELAY_DASHBOARD_PII: 'true', RELAY_CATALOG_MAX_JOBS_IN_PROGRESS: '2' },
    // Jobs take a while at Klaviyo, and the account holds 2 in progress: more would be refused (429).
    sim: { catalogJobMs: 150, catalogMaxJobsInProgress: 2, limits: { gatewayPerSecond: 1000 } },
  });
});
afterAll(async () => {
  await h?.close();
});

const cid = (id: string) => `$custom:::$default:::${id}`;
const catalog = (): CatalogState => settleCatalog(h.sim.account(CONNECTION)!, Date.now());
const item = (id: string, title = `Item ${id}`) => ({ id, title, description: `About ${id}`, url: `https://shop.test/p/${id}`, price: 10 });
const catalogCalls = () =>
  h.sim.requests({ account: CONNECTION }).filter((r) => r.endpoint?.includes('catalog') || /_(variants|categories)_job$/.test(r.endpoint ?? ''));
const posts = (endpoint: string) => h.sim.requests({ account: CONNECTION, endpoint: endpoint as never }).filter((r) => r.status === 202);

const ops = async (path: string, body?: unknown) => {
  const res = await fetch(`${h.service.url}/ops${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await res.json()) as any;
};

async function sync(lines: unknown[], query = '') {
  const res = await fetch(`${h.service.url}/v1/catalog/sync${query}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${RELAY_KEY}`, 'content-type': 'application/x-ndjson' },
    body: lines.map((l) => JSON.stringify(l)).join('\n'),
  });
  return { status: res.status, body: (await res.json()) as any };
}

/** Waits until nothing is queued or running in the catalog queue, and the simulator applied every job. */
async function settled() {
  const q = h.queue('catalog');
  await waitUntil(
    'the catalog queue to drain',
    async () => {
      const c = await q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
      return Object.values(c).every((n) => n === 0) && catalog().open.size === 0;
    },
    { timeoutMs: 30_000 },
  );
}

describe('catalog upserts and deletes', () => {
  it('upserts an item Klaviyo already has (created elsewhere) and a new one in one request: update and create', async () => {
    // OLD exists at Klaviyo but the relay never saw it: its create comes back a duplicate, and it is updated.
    h.sim.setWebhookAccess(CONNECTION, true); // makes the account
    catalogState(h.sim.account(CONNECTION)!).items.set(cid('OLD'), { id: cid('OLD'), attributes: { title: 'Old title' }, related: [], created: 0, updated: 0 });
    const r = await h.post('/v1/catalog/items', { items: [item('OLD', 'New title'), item('NEW')] }, { method: 'PUT' });
    expect(r.status).toBe(202);
    expect(r.body).toEqual({ accepted: 2 });
    await settled();
    expect(catalog().items.get(cid('OLD'))?.attributes['title']).toBe('New title');
    expect(catalog().items.get(cid('NEW'))?.attributes['title']).toBe('Item NEW');
    const updates = posts('bulk_update_catalog_items');
    expect(updates.length).toBe(1);
    expect((updates[0]!.body as any).data.attributes.items.data.map((d: any) => d.id)).toEqual([cid('OLD')]);

    // Now both are known to exist: the next upsert of both is one update job, no create.
    const creates = posts('bulk_create_catalog_items').length;
    await h.post('/v1/catalog/items', { items: [item('OLD', 'Newer'), item('NEW', 'Newer')] }, { method: 'PUT' });
    await settled();
    expect(posts('bulk_create_catalog_items').length).toBe(creates);
    expect(posts('bulk_update_catalog_items').length).toBe(2);
    expect(catalog().items.get(cid('NEW'))?.attributes['title']).toBe('Newer');
    expect((await ops('/dead-letters?kind=catalog')).total).toBe(0);
  });

  it('maps a per-item error of a Klaviyo job to a dead letter naming the item; the other items apply', async () => {
    await h.post('/v1/catalog/items', item('PARENT'), { method: 'PUT' });
    const variant = (id: string, itemId: string) => ({
      id,
      item_id: itemId,
      title: id,
      description: 'v',
      sku: `SKU-${id}`,
      inventory_quantity: 5,
      price: 12.5,
      url: 'https://shop.test/v',
    });
    const r = await h.post('/v1/catalog/variants', { variants: [variant('V-OK', 'PARENT'), variant('V-ORPHAN', 'NO-SUCH-ITEM')] }, { method: 'PUT' });
    expect(r.status).toBe(202);
    await waitUntil('a catalog dead letter', async () => (await ops('/dead-letters?kind=catalog')).total === 1, { timeoutMs: 20_000 });
    expect(catalog().variants.has(cid('V-OK'))).toBe(true);
    expect(catalog().variants.has(cid('V-ORPHAN'))).toBe(false);
    const dl = (await ops('/dead-letters?kind=catalog')).deadLetters[0];
    expect(dl.kind).toBe('catalog');
    expect(dl.items).toBe(1);
    expect(dl.errors[0]).toMatchObject({ status: 400, code: 'not_found', detail: expect.stringContaining('catalog variant V-ORPHAN') });
    const shown = await ops(`/dead-letters/${dl.ref}`);
    expect(shown.data.dead).toHaveLength(1);
    expect(shown.data.dead[0].item.id).toBe('V-ORPHAN');
    expect(shown.data.dead[0].error.pointer).toBe('/data/attributes/variants/data/1');
  });

  it('shows the catalog kind in status and metrics, and replays its dead letter once the cause is fixed', async () => {
    const status = await ops('/status');
    const q = status.queues.find((x: any) => x.kind === 'catalog');
    expect(q).toMatchObject({ queue: 'catalog.default', lane: 'default', class: 'live', failed: 1 });
    expect(q.completed).toBeGreaterThan(0);
    const text = await (await fetch(`${h.service.url}/metrics`)).text();
    expect(text).toMatch(/relay_items_total\{[^}]*kind="catalog"[^}]*outcome="delivered"[^}]*\} [1-9]/);
    expect(text).toMatch(/relay_items_total\{[^}]*kind="catalog"[^}]*outcome="rejected"[^}]*\} 1/);
    expect(text).toMatch(/relay_klaviyo_requests_total\{[^}]*endpoint="bulk_create_catalog_variants"/);

    // The missing item now exists: the replayed variant applies.
    await h.post('/v1/catalog/items', item('NO-SUCH-ITEM'), { method: 'PUT' });
    await settled();
    const replayed = await ops('/dead-letters/replay', { kind: 'catalog' });
    expect(replayed).toMatchObject({ dryRun: false, jobs: 1, items: 1 });
    await waitUntil('the replayed variant applied', () => catalog().variants.has(cid('V-ORPHAN')), { timeoutMs: 20_000 });
    expect((await ops('/dead-letters?kind=catalog')).total).toBe(0);
  });

  it('keeps per-item order: an upsert then a delete stays deleted, a delete then an upsert exists', async () => {
    await h.post('/v1/catalog/items', item('GONE'), { method: 'PUT' });
    await h.post('/v1/catalog/items', { id: 'GONE' }, { method: 'DELETE' });
    await h.post('/v1/catalog/items', item('BACK', 'v1'), { method: 'PUT' });
    await h.post('/v1/catalog/items', { ids: ['BACK'] }, { method: 'DELETE' });
    await h.post('/v1/catalog/items', item('BACK', 'v2'), { method: 'PUT' });
    await settled();
    expect(catalog().items.has(cid('GONE'))).toBe(false);
    expect(catalog().items.get(cid('BACK'))?.attributes['title']).toBe('v2');

    // Across requests already applied: a later delete removes it, and a delete of what is gone is done, not an error.
    await h.post('/v1/catalog/items', { ids: ['BACK', 'NEVER-EXISTED'] }, { method: 'DELETE' });
    await settled();
    expect(catalog().items.has(cid('BACK'))).toBe(false);
    expect((await ops('/dead-letters?kind=catalog')).total).toBe(0);
  });

  it('respects the cap on jobs in progress: 1,000 items in 10 jobs, never more than 2 at Klaviyo at once', async () => {
    const before = catalog().refusedAtCap;
    const items = Array.from({ length: 1000 }, (_, i) => item(`CAP-${i}`));
    expect((await h.post('/v1/catalog/items', { items }, { method: 'PUT' })).status).toBe(202);
    await settled();
    expect(items.every((it) => catalog().items.has(cid(it.id)))).toBe(true);
    // Sent all at once, the ten jobs would have met the simulator's cap of 2 and been refused (429).
    expect(catalog().refusedAtCap).toBe(before);
    expect(catalog().peakInProgress).toBeLessThanOrEqual(2);
    expect(
      posts('bulk_create_catalog_items').filter((r) => (r.body as any).data.attributes.items.data[0].attributes.external_id.startsWith('CAP-')),
    ).toHaveLength(10);
  });

  it('refuses a bad request whole, naming each bad field', async () => {
    const r = await h.post('/v1/catalog/items', { items: [item('FINE'), { id: 'X', title: '' }] }, { method: 'PUT' });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('validation_failed');
    expect(r.body.issues.map((i: any) => i.field)).toEqual(expect.arrayContaining(['items[1].title', 'items[1].description', 'items[1].url']));
    const d = await h.post('/v1/catalog/categories', { ids: [] }, { method: 'DELETE' });
    expect(d.status).toBe(400);
  });
});

describe('catalog sync with change detection', () => {
  const feed = (n: number, version: (i: number) => string = () => 'a') => [
    { type: 'category', id: 'SYNC-CAT', name: 'Synced' },
    ...Array.from({ length: n }, (_, i) => ({ type: 'item', ...item(`S-${i}`, `Synced ${i} ${version(i)}`), categories: ['SYNC-CAT'] })),
  ];

  it('sends only what changed: a second unchanged sync makes no Klaviyo call; 1% changed sends exactly those', async () => {
    const first = await sync(feed(1000));
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ complete: true, received: 1001, unchanged: 0, upserts: 1001, deletes: 0, invalid: 0 });
    await settled();
    expect(catalog().items.get(cid('S-999'))?.related).toEqual([cid('SYNC-CAT')]);

    const calls = catalogCalls().length;
    const again = await sync(feed(1000));
    expect(again.body).toMatchObject({ received: 1001, unchanged: 1001, upserts: 0 });
    await settled();
    // Nothing was queued, so nothing can still be on its way: the count is final.
    expect(await h.queue('catalog').getJobCounts('wait', 'active', 'delayed')).toEqual({ wait: 0, active: 0, delayed: 0 });
    expect(catalogCalls().length).toBe(calls);

    const changed = new Set([3, 150, 151, 299, 400, 512, 640, 777, 901, 999]);
    const third = await sync(feed(1000, (i) => (changed.has(i) ? 'b' : 'a')));
    expect(third.body).toMatchObject({ unchanged: 991, upserts: 10 });
    await settled();
    const newCalls = catalogCalls().slice(calls);
    // One update job with exactly the changed ten (they exist), and its poll: the changes of the feed's two batches went as one.
    const sent = newCalls.filter((r) => r.method === 'POST');
    expect(sent.map((r) => r.endpoint)).toEqual(['bulk_update_catalog_items']);
    expect((sent[0]!.body as any).data.attributes.items.data.map((d: any) => d.id).sort()).toEqual([...changed].map((i) => cid(`S-${i}`)).sort());
    expect(catalog().items.get(cid('S-512'))?.attributes['title']).toBe('Synced 512 b');
  });

  it('deletes what disappeared when asked, in chunks with a sync id; an invalid line deletes nothing', async () => {
    const all = feed(20);
    await sync(all);
    await settled();
    // Two chunks that leave out S-5 and S-6; deletes at the final chunk.
    const kept = all.filter((l) => l.id !== 'S-5' && l.id !== 'S-6');
    const c1 = await sync(kept.slice(0, 10), '?sync_id=nightly-1&deletes=true');
    expect(c1.body).toMatchObject({ sync_id: 'nightly-1', complete: false, deletes: 0 });
    const c2 = await sync(kept.slice(10), '?sync_id=nightly-1&final=true&deletes=true');
    expect(c2.status).toBe(202);
    // S-5 and S-6, and everything earlier tests made that this sync does not name (S-20…S-999, CAP-…).
    expect(c2.body).toMatchObject({ complete: true });
    expect(c2.body.deletes).toBeGreaterThanOrEqual(2 + 980 + 1000);
    await settled();
    expect(catalog().items.has(cid('S-5'))).toBe(false);
    expect(catalog().items.has(cid('S-4'))).toBe(true);

    // A line that is not valid: 422 naming it, the valid lines taken, and no deletes.
    const bad = await sync([...feed(3), { type: 'item', id: 'S-BAD', title: 'no url' }], '?deletes=true');
    expect(bad.status).toBe(422);
    expect(bad.body).toMatchObject({ error: 'invalid_lines', invalid: 1, deletes: 0, problems: [{ line: 5, field: 'description' }] });
    expect(bad.body.deletes_skipped).toMatch(/nothing is deleted/);
    await settled();
    expect(catalog().items.has(cid('S-10'))).toBe(true);
  });
});

/**
 * Posts an NDJSON body in separate writes, `gapMs` apart, so the relay reads it in (at least)
 * those chunks. Answers the status and body, and whether the request was written whole before the
 * answer came (a refusal mid-body answers without reading the rest).
 */
function syncInChunks(
  chunks: (string | Buffer)[],
  query = '?sync_id=reading-1',
  gapMs = 150,
): Promise<{ status: number; body: any; connection: string | undefined }> {
  const url = new URL(`${h.service.url}/v1/catalog/sync${query}`);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(
      url,
      { method: 'POST', headers: { authorization: `Bearer ${RELAY_KEY}`, 'content-type': 'application/x-ndjson', 'transfer-encoding': 'chunked' } },
      (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(parts).toString()), connection: res.headers.connection }));
        res.on('error', reject);
      },
    );
    // Writing after the relay answered (and closed) may fail: only an error before the answer counts.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    void (async () => {
      for (const [i, chunk] of chunks.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
        if (answered) return;
        req.write(chunk);
      }
      req.end();
    })();
  });
}

describe('catalog sync: reading NDJSON', () => {
  const line = (id: string) => JSON.stringify({ type: 'item', ...item(id) });

  it('takes CRLF line ends, a leading BOM, a character split across chunks, blank lines and a last line without newline', async () => {
    const body = Buffer.from(`\uFEFF${line('RD-1')}\r\n${JSON.stringify({ type: 'item', ...item('RD-2', 'Café') })}\r\n\r\n\n${line('RD-3')}`);
    // The title's é (two bytes) arrives in two chunks.
    const cut = body.indexOf(Buffer.from('é')) + 1;
    const r = await syncInChunks([body.subarray(0, cut), body.subarray(cut)]);
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ received: 3, invalid: 0 });
    await settled();
    expect(catalog().items.get(cid('RD-2'))?.attributes['title']).toBe('Café');
  });

  it('refuses a line longer than MAX_LINE_BYTES and takes the lines after it', async () => {
    // Checked on the part of a line that arrived without its end (socket reads are ≤ 64 KB): twice the limit is surely caught.
    const long = `{"type":"item","id":"RD-LONG","title":"${'x'.repeat(2 * MAX_LINE_BYTES)}"}`;
    const r = await syncInChunks([`${line('RD-4')}\n`, `${long}\n${line('RD-5')}\n`, 'y'.repeat(2 * MAX_LINE_BYTES)]);
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({
      error: 'invalid_lines',
      received: 4,
      invalid: 2,
      problems: [
        { line: 2, field: '', message: `is longer than ${MAX_LINE_BYTES} bytes` },
        { line: 4, field: '', message: `is longer than ${MAX_LINE_BYTES} bytes` },
      ],
    });
    await settled();
  });

  it('stops at a body that is not UTF-8 (400), naming the lines taken before; also at a truncated character at the end', async () => {
    const r = await syncInChunks([`${line('RD-6')}\n${line('RD-7')}\n`, Buffer.from([0x7b, 0xff, 0xfe, 0x0a]), `${line('RD-8')}\n`]);
    // The rest of the body is not read: the connection closes after the answer.
    expect(r).toEqual({
      status: 400,
      body: { error: 'invalid_body', message: 'The body is not UTF-8; the 2 line(s) before it were taken' },
      connection: 'close',
    });
    const truncated = await syncInChunks([`${line('RD-9')}\n`, Buffer.from([0x7b, 0xc3])]);
    expect(truncated).toMatchObject({
      status: 400,
      body: { error: 'invalid_body', message: 'The body is not UTF-8; the 1 line(s) before it were taken' },
    });
    await settled();
    expect(catalog().items.has(cid('RD-7'))).toBe(true);
    expect(catalog().items.has(cid('RD-8'))).toBe(false);
  });
});
