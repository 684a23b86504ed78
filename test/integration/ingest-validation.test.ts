/**
 * Bad input gets a clear 4xx with a JSON body naming the field, and never a job. Table-driven over
 * real HTTP; after the table, the queue must be empty.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELAY_KEY, startHarness, type Harness } from '../support/harness.ts';

let h: Harness;
const MAX_BODY = 256 * 1024;
beforeAll(async () => {
  h = await startHarness({ name: 'validation', workers: false, env: { RELAY_MAX_BODY_BYTES: String(MAX_BODY) } });
});
afterAll(async () => {
  await h?.close();
});

const ok = { id: 'v-1', event: 'Placed Order', profile: { email: 'ada@example.com' } };
const auth = { authorization: `Bearer ${RELAY_KEY}` };
const json = { 'content-type': 'application/json' };

interface Case {
  name: string;
  body: string | Uint8Array;
  headers?: Record<string, string>;
  method?: string;
  status: number;
  error: string;
  /** A field the JSON error must name (in `issues[].field`). */
  field?: string;
  index?: number;
}

const s = (v: unknown) => JSON.stringify(v);
/** 1,000 events, ~150 KB: parsed in pieces from its bytes. */
const large = s({ events: Array.from({ length: 1000 }, (_, i) => ({ ...ok, id: `v-${i}`, properties: { Items: [{ sku: 'a' }, { sku: `b-${i}` }] } })) });
const cases: Case[] = [
  { name: 'bad JSON', body: '{"event": "Placed Order",', status: 400, error: 'invalid_json', field: '(body)' },
  { name: 'JSON array body', body: s([ok]), status: 400, error: 'validation_failed', field: '(body)' },
  { name: 'null body', body: 'null', status: 400, error: 'validation_failed', field: '(body)' },
  { name: 'text/plain', body: s(ok), headers: { 'content-type': 'text/plain' }, status: 415, error: 'unsupported_media_type' },
  { name: 'form encoded', body: 'event=x', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415, error: 'unsupported_media_type' },
  { name: 'no content type', body: s(ok), headers: { 'content-type': '' }, status: 415, error: 'unsupported_media_type' },
  { name: 'no Authorization', body: s(ok), headers: { authorization: '' }, status: 401, error: 'unauthorized' },
  { name: 'wrong key', body: s(ok), headers: { authorization: 'Bearer not-a-relay-key' }, status: 401, error: 'unauthorized' },
  { name: 'Basic auth', body: s(ok), headers: { authorization: 'Basic dXNlcjpwYXNz' }, status: 401, error: 'unauthorized' },
  { name: 'oversize body', body: s({ ...ok, properties: { blob: 'x'.repeat(MAX_BODY) } }), status: 413, error: 'payload_too_large' },
  { name: 'invalid UTF-8', body: new Uint8Array([0x7b, 0x22, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), status: 400, error: 'invalid_encoding' },
  { name: 'missing event', body: s({ ...ok, event: undefined }), status: 400, error: 'validation_failed', field: 'event' },
  { name: 'event is a number', body: s({ ...ok, event: 42 }), status: 400, error: 'validation_failed', field: 'event' },
  { name: 'metric name of 128 characters', body: s({ ...ok, event: 'x'.repeat(128) }), status: 400, error: 'validation_failed', field: 'event' },
  { name: 'missing profile', body: s({ ...ok, profile: undefined }), status: 400, error: 'validation_failed', field: 'profile' },
  { name: 'profile without an identifier', body: s({ ...ok, profile: { first_name: 'Ada' } }), status: 400, error: 'validation_failed', field: 'profile' },
  { name: 'bad email', body: s({ ...ok, profile: { email: 'not-an-email' } }), status: 400, error: 'validation_failed', field: 'profile.email' },
  {
    name: 'phone not E.164',
    body: s({ ...ok, profile: { phone_number: '555-1234' } }),
    status: 400,
    error: 'validation_failed',
    field: 'profile.phone_number',
  },
  { name: 'value as a string', body: s({ ...ok, value: '29.99' }), status: 400, error: 'validation_failed', field: 'value' },
  { name: 'lowercase currency', body: s({ ...ok, value: 1, value_currency: 'usd' }), status: 400, error: 'validation_failed', field: 'value_currency' },
  { name: 'time not ISO-8601', body: s({ ...ok, time: 'yesterday' }), status: 400, error: 'validation_failed', field: 'time' },
  { name: 'time before 1990', body: s({ ...ok, time: '1985-01-01T00:00:00Z' }), status: 400, error: 'validation_failed', field: 'time' },
  {
    name: 'time two years ahead',
    body: s({ ...ok, time: new Date(Date.now() + 2 * 365 * 86400e3).toISOString() }),
    status: 400,
    error: 'validation_failed',
    field: 'time',
  },
  { name: 'unknown field', body: s({ ...ok, colour: 'red' }), status: 400, error: 'validation_failed', field: 'colour' },
  { name: 'properties as an array', body: s({ ...ok, properties: [1, 2] }), status: 400, error: 'validation_failed', field: 'properties' },
  {
    name: '401 properties',
    body: s({ ...ok, properties: Object.fromEntries(Array.from({ length: 401 }, (_, i) => [`p${i}`, i])) }),
    status: 400,
    error: 'validation_failed',
    field: 'properties',
  },
  {
    name: 'a string over 100 KB',
    body: s({ ...ok, properties: { big: 'é'.repeat(60 * 1024) } }),
    status: 400,
    error: 'validation_failed',
    field: 'properties.big',
  },
  {
    name: 'properties nested 100 deep',
    body: s({ ...ok, properties: JSON.parse(`${'{"a":'.repeat(100)}1${'}'.repeat(100)}`) }),
    status: 400,
    error: 'validation_failed',
    field: 'properties',
  },
  { name: 'empty id', body: s({ ...ok, id: '' }), status: 400, error: 'validation_failed', field: 'id' },
  { name: 'empty batch', body: s({ events: [] }), status: 400, error: 'validation_failed', field: 'events' },
  {
    name: 'batch of 1,001',
    body: s({ events: Array.from({ length: 1001 }, (_, i) => ({ ...ok, id: `b${i}` })) }),
    status: 400,
    error: 'validation_failed',
    field: 'events',
  },
  {
    name: 'batch with one bad item',
    body: s({ events: [ok, { ...ok, id: 'v-2', profile: { email: 'bad' } }, { ...ok, id: 'v-3' }] }),
    status: 400,
    error: 'validation_failed',
    field: 'events[1].profile.email',
    index: 1,
  },
  { name: 'batch with a non-object', body: s({ events: [ok, 'nope'] }), status: 400, error: 'validation_failed', field: 'events[1]', index: 1 },
  // Large batches (over 120 KB: parsed from the bytes in pieces, src/http/parse-large-batch.ts): the same answers.
  { name: 'large batch, bad JSON at the end', body: `${large.slice(0, -3)}]}`, status: 400, error: 'invalid_json', field: '(body)' },
  {
    name: 'large batch with one bad item',
    body: large.replace('"v-700"', '"v-700","value":"1"'),
    status: 400,
    error: 'validation_failed',
    field: 'events[700].value',
    index: 700,
  },
  { name: 'large batch with a key after the array', body: `${large.slice(0, -1)},"more":[{"a":1}]}`, status: 400, error: 'validation_failed', field: 'more' },
];

describe('POST /v1/events rejects bad input', () => {
  it.each(cases)('$name → $status $error', async (c) => {
    const headers: Record<string, string> = { ...auth, ...json, ...c.headers };
    for (const [k, v] of Object.entries(headers)) if (v === '') delete headers[k];
    const res = await fetch(`${h.service.url}/v1/events`, { method: c.method ?? 'POST', headers, body: c.body });
    expect(res.status).toBe(c.status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as { error: string; message: string; issues?: { field: string; index?: number; message: string }[] };
    expect(body.error).toBe(c.error);
    expect(body.message).toEqual(expect.any(String));
    if (c.field) {
      const fields = (body.issues ?? []).map((i) => i.field);
      expect(fields.some((f) => f === c.field || f.startsWith(`${c.field}.`) || f.startsWith(`${c.field}[`))).toBe(true);
    }
    if (c.index !== undefined) expect(body.issues!.every((i) => i.index === c.index)).toBe(true);
  });

  it('a large batch: a JSON error worded as JSON.parse words it for the whole text; a BOM is dropped as for any body', async () => {
    const at = large.indexOf('{"id":"v-600"');
    const bad = `${large.slice(0, at)}{${large.slice(at)}`;
    let expected = '';
    try {
      JSON.parse(bad);
    } catch (err) {
      expected = (err as Error).message;
    }
    const res = await fetch(`${h.service.url}/v1/events`, { method: 'POST', headers: { ...auth, ...json }, body: bad });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_json', message: `The body is not valid JSON: ${expected}` });
    const bom = await fetch(`${h.service.url}/v1/events`, {
      method: 'POST',
      headers: { ...auth, ...json },
      body: `\ufeff${large.replace('"v-3"', '"v-3","value":"x"')}`,
    });
    expect(bom.status).toBe(400);
    expect(await bom.json()).toMatchObject({ error: 'validation_failed', issues: [{ field: 'events[3].value', index: 3 }] });
  });

  it('GET on the ingest route is not found, with a JSON error', async () => {
    const res = await fetch(`${h.service.url}/v1/events`, { headers: auth });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'not_found' });
  });

  it('none of them created a job, and the service still accepts good input', async () => {
    const q = h.queue('events');
    const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized');
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
    const good = await h.post('/v1/events', ok);
    expect(good.status).toBe(202);
    expect(await q.getJobCounts('waiting')).toEqual({ waiting: 1 });
  });
});
