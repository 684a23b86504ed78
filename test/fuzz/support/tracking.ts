/**
 * The tracking API routes (/v1/batch, /v1/track, /v1/identify, /v1/page, /v1/screen, /v1/group,
 * /v1/alias) for the fuzz runner: Segment/RudderStack messages (valid, unusual and wrong), the
 * envelope (Basic / Bearer / body writeKey auth, gzip, gzip bombs, bad gzip, other encodings,
 * content types the route ignores, wrong methods and paths), and the verdict on a body.
 *
 * The body's verdict follows the README's rules: gzip is decoded up to 500 KB (past it, or raw past
 * it: 400), then UTF-8 and JSON (400), then the writeKey in the body when no header gave one (401),
 * then the messages: a request is refused (400) only when it has no message that is taken or
 * deliberately ignored. Which message is taken is the mapping's decision (src/tracking/map.ts,
 * pinned by test/unit/tracking-map.test.ts), so the classifier asks it; what the fuzz adds is that
 * the HTTP layer agrees with it on every body, never answers 5xx, and queues nothing for a refusal.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { MAX_BATCH_BYTES, type MessageType } from '../../../src/model/segment-message.ts';
import { configSourceId } from '../../../src/sources.ts';
import { DEFAULT_TRACKING, mapRequest, type RequestKind } from '../../../src/tracking/map.ts';
import { RELAY_KEY, RELAY_SOURCE } from '../../support/harness.ts';
import { assembleCase, render, TRACKING_KEY, TRACKING_SETTINGS, type Case, type Defect, type Payload, type RouteSpec } from './fuzz.ts';
import {
  anyText,
  arbitraryJson,
  deepNesting,
  email,
  hugeString,
  invalidUtf8,
  jsonishText,
  jsonProps,
  klaviyoId,
  phone,
  printableId,
  randomBytes,
  transportSegment,
  word,
  type BodyCase,
  methodCase,
  chunkedCase,
  noiseCase,
} from './gen.ts';

const DAY = 86_400_000;
const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

// ---------------------------------------------------------------------------------------------
// Messages

const id = fc.oneof(
  { weight: 6, arbitrary: printableId },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: anyText(0, 20) },
  { weight: 1, arbitrary: fc.constantFrom(null, '', 'x'.repeat(300)) },
);
const isoish = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -300 * DAY, max: 30 * DAY }).map((d) => new Date(Date.now() + d).toISOString()) },
  { weight: 1, arbitrary: fc.constantFrom('1980-01-01T00:00:00Z', '2999-01-01T00:00:00Z', 'yesterday', '', '2026-13-45', '1700000000') },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.constant(null), fc.constant({})) },
);
const eventName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('Product Viewed', 'Product Added', 'Checkout Started', 'Order Refunded', 'Signed Up', 'Order Completed') },
  { weight: 2, arbitrary: anyText(1, 40) },
  { weight: 1, arbitrary: fc.constantFrom('', '   ', 'order completed', 'x'.repeat(128), 'E'.repeat(127)) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.constant(null), fc.constant([])) },
);
const traits = fc.record(
  {
    email: fc.oneof(email, fc.constantFrom('not-an-email', '', 'a@b')),
    phone: fc.oneof(phone, fc.constantFrom('555-1234', '+0123', '')),
    firstName: anyText(0, 30),
    last_name: anyText(0, 30),
    title: fc.oneof(anyText(0, 30), fc.constant('t'.repeat(300))),
    company: fc.oneof(fc.record({ name: anyText(0, 30) }), anyText(0, 20)),
    address: fc.record({ street: anyText(0, 30), city: anyText(0, 20), state: word, postalCode: word, country: word }, { requiredKeys: [] }),
    avatar: fc.oneof(fc.webUrl(), fc.constant('not a url')),
    plan: word,
    list_id: fc.oneof(klaviyoId, fc.constant('not/a/list')),
    consent: fc.oneof(fc.constantFrom(['email'], ['sms'], ['email', 'sms'], 'email', [], ['fax'])),
    subscribe: fc.boolean(),
  },
  { requiredKeys: [] },
);
const product = fc.record(
  {
    product_id: fc.oneof(printableId, fc.integer({ min: 1, max: 99_999 })),
    sku: word,
    name: anyText(0, 30),
    price: fc.oneof(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.constant(-1), fc.constant('9.99')),
    quantity: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.constant(0), fc.constant(1.5)),
    url: fc.oneof(fc.webUrl(), fc.constant('nope')),
    category: word,
    brand: word,
  },
  { requiredKeys: [] },
);
const properties = fc.oneof(
  { weight: 4, arbitrary: jsonProps },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        order_id: fc.oneof(printableId, fc.constant('has space')),
        total: fc.oneof(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.constant(-5)),
        revenue: fc.double({ noNaN: true }),
        currency: fc.constantFrom('USD', 'eur', 'X', 'dollars'),
        coupon: word,
        discount: fc.double({ min: 0, max: 100, noNaN: true }),
        products: fc.array(product, { minLength: 0, maxLength: 3 }),
        email: fc.oneof(email, fc.constant('x')),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom(null, [], 'props', 1) },
);

const TYPES: readonly MessageType[] = ['track', 'identify', 'page', 'screen', 'group', 'alias'];
/** One message: fields of every type mixed, so that wrong and missing ones happen for each. */
export const message = fc
  .record(
    {
      type: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...TYPES) }, { weight: 1, arbitrary: fc.oneof(anyText(0, 10), fc.constant(null)) }),
      messageId: id,
      userId: fc.oneof({ weight: 3, arbitrary: id }, { weight: 1, arbitrary: fc.constant(undefined) }),
      anonymousId: id,
      event: eventName,
      name: fc.oneof(anyText(0, 20), fc.constant(null)),
      properties,
      traits: fc.oneof({ weight: 4, arbitrary: traits }, { weight: 1, arbitrary: fc.constantFrom(null, 'x') }),
      context: fc.oneof(
        {
          weight: 4,
          arbitrary: fc.record({ traits, ip: fc.ipV4(), library: fc.constant({ name: 'analytics-node', version: '3.1.0' }) }, { requiredKeys: [] }),
        },
        { weight: 1, arbitrary: fc.constantFrom(null, 'ctx', []) },
      ),
      groupId: fc.oneof(klaviyoId, anyText(0, 20)),
      previousId: id,
      timestamp: isoish,
      originalTimestamp: isoish,
      sentAt: isoish,
      integrations: fc.constant({ All: true }),
      _metadata: fc.constant({ nodeVersion: '20' }),
    },
    { requiredKeys: [] },
  )
  .map((m) => JSON.parse(JSON.stringify(m)) as Record<string, unknown>);

/** A body for `kind`: a batch, or one message (its `type` is the route's and may be left out). */
function validBody(kind: RequestKind): fc.Arbitrary<Record<string, unknown>> {
  if (kind !== 'batch') return message.map((m) => (Math.abs(JSON.stringify(m).length) % 3 === 0 ? { ...m, type: undefined } : { ...m, type: kind }));
  return fc
    .record(
      {
        batch: fc.array(message, { minLength: 1, maxLength: 12 }),
        sentAt: isoish,
        timestamp: isoish,
        context: fc.record({ traits }, { requiredKeys: [] }),
      },
      { requiredKeys: ['batch'] },
    )
    .map((b) => JSON.parse(JSON.stringify(b)) as Record<string, unknown>);
}

/** Bodies: messages and batches, the envelope broken, arbitrary JSON and bytes, huge and deep values. */
function bodies(kind: RequestKind): fc.Arbitrary<BodyCase> {
  const valid = validBody(kind);
  const json = (gen: string, v: unknown): BodyCase => ({ gen, payload: { t: 'json', v }, defects: [] });
  const envelope =
    kind === 'batch'
      ? fc.constantFrom({ batch: [] }, { batch: {} }, { batch: 'x' }, {}, { messages: [] }, { batch: null }).map((v) => json('envelope', v))
      : fc.constantFrom(null, [], 'track', 1).map((v) => json('envelope', v));
  const bigBatch = fc
    .tuple(message, fc.integer({ min: 1_000, max: 40_000 }), fc.integer({ min: 1, max: 25 }))
    .map(([m, pad, n]) =>
      json(
        'big',
        kind === 'batch'
          ? { batch: Array.from({ length: n }, () => ({ ...m, properties: { pad: 'p'.repeat(pad) } })) }
          : { ...m, properties: { pad: 'p'.repeat(pad * 2) } },
      ),
    );
  return fc.oneof(
    { weight: 20, arbitrary: valid.map((v) => json('valid', v)) },
    { weight: 3, arbitrary: envelope },
    { weight: 4, arbitrary: bigBatch },
    { weight: 4, arbitrary: arbitraryJson },
    { weight: 3, arbitrary: jsonishText(valid) },
    { weight: 3, arbitrary: invalidUtf8(valid) },
    { weight: 2, arbitrary: randomBytes },
    {
      weight: 2,
      arbitrary: hugeString(
        valid,
        kind === 'batch'
          ? [
              ['batch', 0, 'properties', 'blob'],
              ['batch', 0, 'event'],
            ]
          : [['properties', 'blob'], ['event']],
      ),
    },
    { weight: 2, arbitrary: deepNesting(valid, kind === 'batch' ? [['batch', 0, 'properties', 'nested'], ['batch']] : [['properties', 'nested'], ['traits']]) },
  );
}

// ---------------------------------------------------------------------------------------------
// Encodings: gzip, gzip bombs, bad gzip

/** Built once: zeros and JSON whitespace that inflate far past 500 KB from a few KB of gzip. */
const BOMBS: readonly Buffer[] = [
  gzipSync(Buffer.alloc(50 * 1024 * 1024), { level: 9 }),
  gzipSync(Buffer.concat([Buffer.from('{"batch":['), Buffer.alloc(8 * 1024 * 1024, 0x20), Buffer.from(']}')]), { level: 9 }),
  gzipSync(Buffer.alloc(MAX_BATCH_BYTES + 1, 0x20), { level: 9 }),
];

type Encoding =
  | { how: 'plain' }
  | { how: 'gzip'; header: string }
  | { how: 'bad-gzip'; cut: number }
  | { how: 'bomb'; which: number }
  | { how: 'other'; header: string };
const encoding: fc.Arbitrary<Encoding> = fc.oneof(
  { weight: 14, arbitrary: fc.constant<Encoding>({ how: 'plain' }) },
  { weight: 6, arbitrary: fc.constantFrom('gzip', 'GZIP', ' gzip ', 'x-gzip').map((header): Encoding => ({ how: 'gzip', header })) },
  { weight: 2, arbitrary: fc.nat(1_000).map((cut): Encoding => ({ how: 'bad-gzip', cut })) },
  { weight: 2, arbitrary: fc.nat(BOMBS.length - 1).map((which): Encoding => ({ how: 'bomb', which })) },
  { weight: 1, arbitrary: fc.constantFrom('br', 'deflate', 'gzip, br', 'compress', 'zstd').map((header): Encoding => ({ how: 'other', header })) },
);

// ---------------------------------------------------------------------------------------------
// Auth

type Auth = { header?: string; bodyKey?: string; bad: boolean };
const auth: fc.Arbitrary<Auth> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.constantFrom<Auth>(
      { header: basic(RELAY_KEY), bad: false },
      { header: `basic   ${Buffer.from(`${RELAY_KEY}:`).toString('base64')}`, bad: false },
      { header: `Basic ${Buffer.from(`:${RELAY_KEY}`).toString('base64')}`, bad: false },
      { header: `Basic ${Buffer.from(RELAY_KEY).toString('base64')}`, bad: false },
      { header: `Bearer ${RELAY_KEY}`, bad: false },
      { header: basic(TRACKING_KEY), bad: false },
      { bodyKey: RELAY_KEY, bad: false },
      { bodyKey: TRACKING_KEY, bad: false },
    ),
  },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.constantFrom<Auth>(
        { bad: true },
        { header: basic('not-a-relay-key'), bad: true },
        { header: basic(`${RELAY_KEY}x`), bad: true },
        { header: 'Basic !!!', bad: true },
        { header: 'Basic ', bad: true },
        { header: `Bearer ${RELAY_KEY.toUpperCase()}`, bad: true },
        { header: `Token ${RELAY_KEY}`, bad: true },
        { header: RELAY_KEY, bad: true },
        { bodyKey: 'not-a-relay-key', bad: true },
        { bodyKey: '', bad: true },
        { header: basic('nope'), bodyKey: RELAY_KEY, bad: true },
      ),
      word.map((w): Auth => ({ header: basic(w), bad: true })),
    ),
  },
);

// ---------------------------------------------------------------------------------------------
// Cases

type PathCase = { readonly path: string; readonly defects: readonly Defect[]; readonly transport?: boolean };
function paths(kind: RequestKind): fc.Arbitrary<PathCase> {
  const p = `/v1/${kind}`;
  return fc.oneof(
    { weight: 30, arbitrary: fc.constant({ path: p, defects: [] }) },
    { weight: 2, arbitrary: fc.constantFrom(`${p}?x=1`, `${p}?priority=bulk`, `${p}?priority=LIVE`, `${p}?writeKey=x`).map((path) => ({ path, defects: [] })) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(`${p}?priority=urgent`, `${p}?priority=live&priority=bulk`).map((path): PathCase => ({ path, defects: ['path'] })),
    },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(`${p}/`, `${p}x`, `/v1/${kind.toUpperCase()}`, `${p}/1`, `${p}/..`, `${p}%2F`, '/v1/batches', '/v1/identity', '/v2/batch', '/batch')
        .map((path): PathCase => ({ path, defects: ['path'] })),
    },
    { weight: 1, arbitrary: transportSegment.map((s): PathCase => ({ path: `${p}${s}`, defects: [], transport: true })) },
  );
}

function withKey(v: unknown, key: string): unknown {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? { ...v, writeKey: key } : v;
}

function encode(payload: Payload, enc: Encoding): { payload: Payload; header?: string; defects: Defect[] } {
  switch (enc.how) {
    case 'plain':
      return { payload, defects: [] };
    case 'gzip':
      return { payload: { t: 'bytes', b: gzipSync(render(payload) ?? Buffer.alloc(0)) }, header: enc.header, defects: [] };
    case 'bad-gzip': {
      const gz = gzipSync(render(payload) ?? Buffer.alloc(0));
      // Cut short (never whole), or not gzip at all.
      const b = enc.cut % 3 === 0 ? render(payload)! : gz.subarray(0, enc.cut % gz.length);
      return { payload: { t: 'bytes', b }, header: 'gzip', defects: ['gzip'] };
    }
    case 'bomb':
      return { payload: { t: 'bytes', b: BOMBS[enc.which]! }, header: 'gzip', defects: ['oversize'] };
    case 'other':
      return { payload, header: enc.header, defects: ['encoding'] };
  }
}

export function trackingCases(kind: RequestKind): fc.Arbitrary<Case> {
  return fc
    .record({
      body: bodies(kind),
      path: paths(kind),
      auth,
      enc: encoding,
      ctype: fc.oneof(
        { weight: 8, arbitrary: fc.constant<string | null>('application/json') },
        { weight: 1, arbitrary: fc.constantFrom(null, 'text/plain', 'application/octet-stream') },
      ),
      method: methodCase(['POST']),
      chunked: chunkedCase,
      noise: noiseCase(),
    })
    .map(({ body, path, auth: a, enc, ctype, method, chunked, noise }): Case => {
      const noBody = method.m === 'GET' || method.m === 'HEAD' || method.m === 'OPTIONS';
      let payload = body.payload;
      if (a.bodyKey !== undefined && payload.t === 'json') payload = { t: 'json', v: withKey(payload.v, a.bodyKey) };
      const encoded = noBody ? { payload, defects: [] as Defect[] } : encode(payload, enc);
      const headers: Record<string, string> = { ...noise };
      if (a.header !== undefined) headers.authorization = a.header;
      if (ctype !== null) headers['content-type'] = ctype;
      if (!noBody && encoded.header !== undefined) headers['content-encoding'] = encoded.header;
      const defects: Defect[] = [...path.defects];
      if (a.bad || (a.header === undefined && a.bodyKey === undefined)) defects.push('auth');
      if (method.bad) defects.push('method');
      if (!noBody) defects.push(...body.defects, ...encoded.defects);
      return assembleCase({
        labels: [
          body.gen,
          enc.how !== 'plain' && enc.how,
          a.bad && 'bad-auth',
          a.bodyKey !== undefined && 'body-key',
          method.bad && `method-${method.m}`,
          path.defects.length > 0 && 'bad-path',
          path.transport && 'transport',
        ],
        noBody,
        method: method.m,
        path: path.path,
        headers,
        payload: encoded.payload,
        chunked,
        defects,
        // A body the generator broke on purpose says so; the rest is for the classifier.
        verdict: encoded.defects.length > 0 ? encoded.defects : undefined,
        transport: path.transport,
      });
    });
}

// ---------------------------------------------------------------------------------------------
// The route's verdict

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The key a request authenticates with, as the relay reads it: the header first, else the body. */
function keyOf(c: Case, body: unknown): string | undefined {
  const h = c.headers.authorization;
  if (h !== undefined && h.trim() !== '') {
    const b = /^Basic\s+([A-Za-z0-9+/_=-]+)\s*$/i.exec(h);
    if (b) {
      const d = Buffer.from(b[1]!, 'base64').toString('utf8');
      const i = d.indexOf(':');
      return i < 0 ? d : d.slice(0, i) || d.slice(i + 1);
    }
    return /^Bearer\s+(\S+)\s*$/i.exec(h)?.[1];
  }
  const k = body !== null && typeof body === 'object' ? (body as { writeKey?: unknown }).writeKey : undefined;
  return typeof k === 'string' ? k : undefined;
}

export function trackingRoute(kind: RequestKind): RouteSpec {
  return {
    name: `POST /v1/${kind}`,
    ok: 200,
    maxBody: MAX_BATCH_BYTES,
    makesNoJobs: kind === 'alias',
    statusFor: {
      auth: [401],
      oversize: [400],
      utf8: [400],
      json: [400],
      invalid: [400],
      gzip: [400],
      encoding: [415],
      // Not a tracking route: the /v1 middleware (bearer keys) answers it.
      method: [400, 401, 404, 405, 413, 415],
      path: [400, 401, 404, 413, 415],
    },
    classifiedStatuses: [400, 401],
    mustSee: [200, 400, 401, 404, 415],
    classify(c, raw) {
      let bytes: Buffer = raw;
      if (/gzip/i.test(c.headers['content-encoding'] ?? '')) {
        try {
          bytes = gunzipSync(raw, { maxOutputLength: MAX_BATCH_BYTES });
        } catch (err) {
          return [(err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? 'oversize' : 'gzip'];
        }
      }
      let value: unknown;
      try {
        value = JSON.parse(utf8.decode(bytes));
      } catch (err) {
        return [err instanceof SyntaxError ? 'json' : 'utf8'];
      }
      const key = keyOf(c, value);
      if (key !== RELAY_KEY && key !== TRACKING_KEY) return ['auth'];
      const shop = key === TRACKING_KEY;
      const mapped = mapRequest(
        kind,
        value,
        {
          sourceId: shop ? configSourceId('shop') : RELAY_SOURCE,
          settings: shop ? TRACKING_SETTINGS : DEFAULT_TRACKING,
          receivedAt: Date.now(),
          newId: () => 'x',
        },
        bytes.length,
      );
      if (!mapped.ok || mapped.messages.every((m) => m.outcome === 'rejected')) return ['invalid'];
      return [];
    },
    accepted: (_c, _b, reply: { ids: string[] }) => reply.ids,
  };
}
