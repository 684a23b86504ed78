/**
 * Fuzzing POST /webhooks/klaviyo (Klaviyo's signed system webhooks): a body without a valid
 * signature (missing or garbage headers, a wrong secret, a stale timestamp, a mismatched webhook
 * id) gets 401 and no job; a correctly signed body gets 200 — or 401 when it is not a webhook
 * body, 400 when an item's payload nests deeper than 64 levels — and never a 5xx. See test/fuzz/support/fuzz.ts for the properties checked.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Harness } from '../support/harness.ts';
import {
  assembleCase,
  assertStillServing,
  decodeJson,
  fuzzRoute,
  fuzzSeed,
  jsonDepth,
  KLAVIYO_SECRETS,
  KLAVIYO_WEBHOOK_ID,
  RULE_TOPICS,
  RUNS,
  startFuzzHarness,
  type Case,
  type Defect,
  type RouteSpec,
  type Signing,
} from './support/fuzz.ts';
import {
  anyText,
  arbitraryJson,
  BAD_CONTENT_TYPES,
  deepNesting,
  GOOD_CONTENT_TYPES,
  headerText,
  hugeString,
  invalidUtf8,
  isoTime,
  jsonishText,
  jsonProps,
  randomBytes,
  REMOVE,
  unknownField,
  word,
  wrongField,
  type BodyCase,
  type FieldSpec,
  methodCase,
  chunkedCase,
  noiseCase,
} from './support/gen.ts';

const seed = fuzzSeed('klaviyo-webhooks.test.ts');

let h: Harness;
beforeAll(async () => {
  h = await startFuzzHarness('klaviyo-webhooks');
});
afterAll(async () => {
  await h?.close();
});

const OTHER_TOPICS = ['event:klaviyo.opened_email', 'event:klaviyo.received_sms', 'profile:created'];
const topic = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...RULE_TOPICS) },
  { weight: 2, arbitrary: fc.constantFrom(...OTHER_TOPICS) },
  { weight: 1, arbitrary: anyText(0, 40) },
);
const externalId = fc.oneof(
  { weight: 4, arbitrary: word.map((w) => `ev-${w}`) },
  { weight: 1, arbitrary: anyText(0, 60) },
  { weight: 1, arbitrary: fc.constantFrom('dup-1', 'dup-2', '', '__proto__') },
);
const eventPayload = fc.record({
  data: fc.record({
    type: fc.constant('event'),
    id: word,
    attributes: fc.record({ datetime: isoTime, event_properties: jsonProps }, { requiredKeys: [] }),
    relationships: fc.record({ profile: fc.record({ data: fc.record({ type: fc.constant('profile'), id: word }) }) }),
  }),
});
const item = fc.record({
  topic,
  external_id: externalId,
  payload: fc.oneof({ weight: 3, arbitrary: eventPayload }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) }),
});
const delivery = fc.record({
  data: fc.array(item, { maxLength: 3 }),
  meta: fc.record(
    { klaviyo_account_id: word, klaviyo_webhook_id: fc.constant(KLAVIYO_WEBHOOK_ID), timestamp: isoTime },
    { requiredKeys: ['klaviyo_webhook_id'] },
  ),
});
/** Big deliveries: hundreds to a thousand items, a few of them on a rule's topic. */
const bigDelivery = fc.tuple(fc.integer({ min: 100, max: 1_000 }), fc.nat(10), word).map(([n, matched, w]) => ({
  data: Array.from({ length: n }, (_, i) => ({
    topic: i < matched ? RULE_TOPICS[i % 2] : `event:fuzz.${w}.${i % 7}`,
    external_id: `big-${w}-${i}`,
    payload: { i },
  })),
  meta: { klaviyo_webhook_id: KLAVIYO_WEBHOOK_ID },
}));

// Fields the verifier requires: failing any of them is a 401 (invalid_body or webhook_id_mismatch).
const NOT_STRING = [null, 0, true, [], {}, REMOVE];
const fields: FieldSpec[] = [
  { path: ['data'], bad: [null, 'x', 1, true, {}, { 0: {} }, REMOVE] },
  { path: ['data', 0], bad: [null, 'x', 1, true, [], [{}]] },
  { path: ['data', 0, 'topic'], bad: NOT_STRING },
  { path: ['data', 0, 'external_id'], bad: NOT_STRING },
  { path: ['meta'], bad: [null, 'x', 1, true, [], REMOVE] },
  // None of these is a wrong id a bad signature below sends in the header (both wrong would agree).
  { path: ['meta', 'klaviyo_webhook_id'], bad: [...NOT_STRING, 'WHbody', '', `${KLAVIYO_WEBHOOK_ID}x`, ` ${KLAVIYO_WEBHOOK_ID}`] },
];

const body: fc.Arbitrary<BodyCase> = fc.oneof(
  { weight: 14, arbitrary: delivery.map((v): BodyCase => ({ gen: 'valid', payload: { t: 'json', v }, defects: [] })) },
  { weight: 1, arbitrary: bigDelivery.map((v): BodyCase => ({ gen: 'valid-big', payload: { t: 'json', v }, defects: [] })) },
  { weight: 12, arbitrary: wrongField(delivery, fields) },
  // Extra fields are Klaviyo's business: accepted.
  { weight: 4, arbitrary: unknownField(delivery, [[], ['meta'], ['data', 0]]).map((b): BodyCase => ({ ...b, gen: 'extra-field', defects: [] })) },
  { weight: 6, arbitrary: arbitraryJson },
  { weight: 4, arbitrary: jsonishText(delivery) },
  { weight: 3, arbitrary: invalidUtf8(delivery) },
  { weight: 2, arbitrary: randomBytes },
  {
    weight: 3,
    arbitrary: hugeString(delivery, [
      ['data', 0, 'payload', 'blob'],
      ['data', 0, 'external_id'],
      ['data', 0, 'topic'],
      ['meta', 'note'],
    ]),
  },
  {
    weight: 3,
    arbitrary: deepNesting(delivery, [['data', 0, 'payload'], ['data', 0, 'payload', 'data', 'attributes', 'event_properties'], ['meta', 'deep'], ['data']]),
  },
);

interface Sig {
  readonly headers: Record<string, string>;
  readonly sign?: Signing;
  readonly bad: boolean;
}
const secret = fc.constantFrom(...KLAVIYO_SECRETS);
const goodSig: fc.Arbitrary<Sig> = fc
  .record({
    secret,
    ts: fc.constantFrom('http' as const, 'iso' as const, 'unix' as const),
    mangle: fc.constantFrom('none' as const, 'none' as const, 'upper' as const, 'spaces' as const),
  })
  .map(({ secret, ts, mangle }) => ({ headers: {}, sign: { k: 'klaviyo', secret, ts, webhookId: KLAVIYO_WEBHOOK_ID, mangle }, bad: false }));
const hex64 = fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 });
const badSig: fc.Arbitrary<Sig> = fc.oneof(
  // Signed, but wrongly: another secret, a stale or unreadable timestamp, another webhook id, a damaged signature.
  fc
    .record({
      secret: fc.oneof(secret, fc.constantFrom('not-the-secret', 'fuzz-klaviyo-secret', `${KLAVIYO_SECRETS[0]} `)),
      ts: fc.constantFrom<Extract<Signing, { k: 'klaviyo' }>['ts']>('http', 'iso', 'unix', 'stale', 'future', 'garbage'),
      webhookId: fc.constantFrom<string | null>(KLAVIYO_WEBHOOK_ID, null, 'WHheader', KLAVIYO_WEBHOOK_ID.toLowerCase()),
      mangle: fc.constantFrom<Extract<Signing, { k: 'klaviyo' }>['mangle']>('none', 'truncate', 'flip'),
    })
    .map((s): Sig => {
      const allGood =
        (KLAVIYO_SECRETS as readonly string[]).includes(s.secret) &&
        ['http', 'iso', 'unix'].includes(s.ts) &&
        s.webhookId === KLAVIYO_WEBHOOK_ID &&
        s.mangle === 'none';
      return { headers: {}, sign: { k: 'klaviyo', ...s, mangle: allGood ? 'flip' : s.mangle }, bad: true };
    }),
  // Not signed: headers missing, or garbage.
  fc
    .record(
      {
        'klaviyo-signature': fc.oneof(hex64, headerText(0, 80)),
        'klaviyo-timestamp': fc.oneof(fc.constant(new Date().toUTCString()), headerText(0, 40)),
        'klaviyo-webhook-id': fc.oneof(fc.constant(KLAVIYO_WEBHOOK_ID), headerText(0, 20)),
      },
      { requiredKeys: [] },
    )
    .map((headers): Sig => ({ headers, bad: true })),
  fc.constant<Sig>({ headers: { authorization: 'Bearer test-relay-key-1', 'webhook-signature': 'v1,AAAA' }, bad: true }),
);

const wrongPaths = [
  '/webhooks/klaviyo/',
  '/webhooks/Klaviyo',
  '/webhooks/klaviyo/x',
  '/webhooks/klaviyo/flows',
  '/webhooks//klaviyo',
  '/webhooks/klaviyo%2F',
  '/webhooks/klaviyo/..',
  '/webhook/klaviyo',
];
const cases: fc.Arbitrary<Case> = fc
  .record({
    body,
    sig: fc.oneof({ weight: 6, arbitrary: goodSig }, { weight: 4, arbitrary: badSig }),
    path: fc.oneof(
      { weight: 40, arbitrary: fc.constant({ path: '/webhooks/klaviyo', defects: [] as Defect[], transport: false }) },
      {
        weight: 1,
        arbitrary: fc.constantFrom('/webhooks/klaviyo?x=1', '/webhooks/klaviyo?').map((p) => ({ path: p, defects: [] as Defect[], transport: false })),
      },
      { weight: 2, arbitrary: fc.constantFrom(...wrongPaths).map((p) => ({ path: p, defects: ['path'] as Defect[], transport: false })) },
      {
        weight: 1,
        arbitrary: fc.constantFrom('/webhooks/klaviyo\\', '/webhooks/klavi\u00ffo').map((p) => ({ path: p, defects: [] as Defect[], transport: true })),
      },
    ),
    method: methodCase(['POST']),
    // Klaviyo's content type is not checked (the signature is the check): any will do.
    ctype: fc.constantFrom<string | null>(...GOOD_CONTENT_TYPES, ...BAD_CONTENT_TYPES),
    chunked: chunkedCase,
    noise: noiseCase(),
  })
  .map(({ body, sig, path, method, ctype, chunked, noise }): Case => {
    const noBody = method.m === 'GET' || method.m === 'HEAD';
    const defects: Defect[] = [...path.defects];
    if (sig.bad) defects.push('sig');
    if (method.bad) defects.push('method');
    if (!noBody) defects.push(...body.defects);
    const headers: Record<string, string> = { ...noise, ...sig.headers };
    if (ctype !== null) headers['content-type'] = ctype;
    return assembleCase({
      labels: [body.gen, sig.bad && 'bad-sig', method.bad && `method-${method.m}`, path.defects.length > 0 && 'bad-path', path.transport && 'transport'],
      noBody,
      method: method.m,
      path: path.path,
      headers,
      payload: body.payload,
      chunked,
      defects,
      verdict: body.verdict,
      sign: sig.sign,
      transport: path.transport,
    });
  });

/** The README's verification, on the decoded body: a data array of {topic, external_id} strings, and meta's webhook id equal to the header. */
function isDelivery(v: unknown, webhookId: string | null | undefined): boolean {
  if (v === null || typeof v !== 'object') return false;
  const { data, meta } = v as { data?: unknown; meta?: unknown };
  if (!Array.isArray(data)) return false;
  for (const d of data) {
    if (d === null || typeof d !== 'object') return false;
    const { topic, external_id } = d as Record<string, unknown>;
    if (typeof topic !== 'string' || typeof external_id !== 'string') return false;
  }
  if (meta === null || typeof meta !== 'object') return false;
  const id = (meta as Record<string, unknown>).klaviyo_webhook_id;
  return typeof id === 'string' && id === webhookId;
}

const route: RouteSpec = {
  name: 'POST /webhooks/klaviyo',
  ok: 200,
  statusFor: { oversize: [413], utf8: [400], json: [401], invalid: [401], deep: [400], sig: [401], method: [404, 405], path: [404] },
  classifiedStatuses: [400, 401],
  mustSee: [200, 400, 401, 404, 413],
  // Verified deliveries are accepted unless an item's payload (what a job stores) nests deeper than 64 levels.
  classify(c, raw) {
    const d = decodeJson(raw);
    if (!d.ok) return [d.defect];
    const webhookId = c.sign?.k === 'klaviyo' ? c.sign.webhookId : c.headers['klaviyo-webhook-id'];
    if (!isDelivery(d.value, webhookId)) return ['invalid'];
    return (d.value as { data: { payload?: unknown }[] }).data.some((item) => jsonDepth(item.payload) > 64) ? ['deep'] : [];
  },
  accepted(_c, raw) {
    const d = decodeJson(raw);
    if (!d.ok) return [];
    const data = (d.value as { data?: { external_id?: unknown }[] }).data ?? [];
    return data.map((x) => x.external_id).filter((x): x is string => typeof x === 'string');
  },
};

describe(`fuzz POST /webhooks/klaviyo (FUZZ_SEED=${seed})`, () => {
  it(`${RUNS} random deliveries: unsigned → 401; signed → 200 or 4xx, never 5xx; errors are JSON; a rejected delivery creates no job`, async () => {
    await fuzzRoute(h, route, cases, seed);
  }, 180_000);

  it('is still healthy afterwards and delivers a valid event', async () => {
    await assertStillServing(h);
  });
});
