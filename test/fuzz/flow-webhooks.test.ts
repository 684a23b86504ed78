/**
 * Fuzzing POST /webhooks/klaviyo/flows/{name} (Klaviyo flow webhook actions, authenticated by a
 * shared-secret header): without the flow's secret → 401 and no job; an unknown or path-steering
 * name → 404; with the secret, any JSON (at most 64 levels deep) → 200 and anything else a 4xx,
 * never a 5xx. See
 * test/fuzz/support/fuzz.ts for the properties checked.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Harness } from '../support/harness.ts';
import {
  assertStillServing,
  decodeJson,
  FLOWS,
  jsonDepth,
  fuzzRoute,
  fuzzSeed,
  RUNS,
  startFuzzHarness,
  type Case,
  type Defect,
  type RouteSpec,
} from './support/fuzz.ts';
import {
  anyText,
  arbitraryJson,
  BAD_CONTENT_TYPES,
  deepNesting,
  email,
  evilSegment,
  GOOD_CONTENT_TYPES,
  headerText,
  hugeString,
  invalidUtf8,
  jsonishText,
  jsonProps,
  phone,
  printableId,
  randomBytes,
  transportSegment,
  word,
  type BodyCase,
  methodCase,
  chunkedCase,
  noiseCase,
} from './support/gen.ts';

const seed = fuzzSeed('flow-webhooks.test.ts');

let h: Harness;
beforeAll(async () => {
  h = await startFuzzHarness('flow-webhooks');
});
afterAll(async () => {
  await h?.close();
});

type FlowName = keyof typeof FLOWS;
const NAMES = Object.keys(FLOWS) as FlowName[];

// What Klaviyo's flow action sends (the README's template), and variations.
const template = fc.record(
  {
    id: fc.oneof(printableId, anyText(0, 40), fc.integer(), fc.constant(null)),
    profile: fc.record({ email, phone_number: phone, external_id: anyText(1, 30) }, { requiredKeys: [] }),
    email,
    phone_number: phone,
    profile_id: word,
    properties: fc.oneof(jsonProps, fc.record({ tier: fc.constantFrom('gold', 'platinum', 'silver', '', 'GOLD') })),
  },
  { requiredKeys: [] },
);

// Every JSON body nested at most 64 levels is acceptable here (rules decide later); anything else is a 400.
const body: fc.Arbitrary<BodyCase> = fc.oneof(
  { weight: 14, arbitrary: template.map((v): BodyCase => ({ gen: 'template', payload: { t: 'json', v }, defects: [] })) },
  { weight: 10, arbitrary: arbitraryJson },
  { weight: 6, arbitrary: jsonishText(template) },
  { weight: 4, arbitrary: invalidUtf8(template) },
  { weight: 2, arbitrary: randomBytes },
  { weight: 3, arbitrary: hugeString(template, [['properties', 'blob'], ['id'], ['profile', 'email']]) },
  { weight: 4, arbitrary: deepNesting(template, [['properties'], ['profile'], ['properties', 'tier'], ['id']]) },
);

const secretHeader = fc.constantFrom<FlowName>(...NAMES).chain((flow) =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .constantFrom(FLOWS[flow].header, FLOWS[flow].header.toLowerCase(), FLOWS[flow].header.toUpperCase())
        .map((hname) => ({ flow, headers: { [hname]: FLOWS[flow].secret }, bad: false })),
    },
    {
      weight: 4,
      arbitrary: fc
        .oneof(
          fc.constant({}),
          fc.constant({ [FLOWS[flow].header]: '' }),
          fc.constant({ [FLOWS[flow].header]: `${FLOWS[flow].secret}x` }),
          fc.constant({ [FLOWS[flow].header]: FLOWS[flow].secret.slice(0, -1) }),
          fc.constant({ [FLOWS[flow].header]: FLOWS[flow].secret.toUpperCase() }),
          fc.constant({ [FLOWS[flow].header]: FLOWS[flow === 'vip' ? 'quiet' : 'vip'].secret }),
          fc.constant({ [FLOWS[flow === 'vip' ? 'quiet' : 'vip'].header]: FLOWS[flow].secret }),
          fc.constant({ authorization: `Bearer ${FLOWS[flow].secret}` }),
          headerText(0, 60)
            .filter((s) => s.trim() !== FLOWS[flow].secret)
            .map((s) => ({ [FLOWS[flow].header]: s })),
        )
        .map((headers) => ({ flow, headers: headers as Record<string, string>, bad: true })),
    },
  ),
);

const UNKNOWN_NAMES = ['VIP', 'Vip', 'vip%20', 'vip%09', 'vipx', 'quiet2', '__proto__', 'constructor', 'hasOwnProperty', 'toString', 'valueOf', 'default'];
interface NameCase {
  readonly seg?: string;
  readonly defects: Defect[];
  readonly transport?: boolean;
}
const name: fc.Arbitrary<NameCase> = fc.oneof(
  { weight: 30, arbitrary: fc.constant<NameCase>({ defects: [] }) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.constantFrom(...UNKNOWN_NAMES),
        word.filter((w) => !Object.hasOwn(FLOWS, w)),
      )
      .map((seg) => ({ seg, defects: ['path' as Defect] })),
  },
  { weight: 3, arbitrary: evilSegment.map((seg) => ({ seg, defects: ['path' as Defect] })) },
  { weight: 1, arbitrary: transportSegment.map((seg) => ({ seg, defects: [] as Defect[], transport: true })) },
);

const cases: fc.Arbitrary<Case> = fc
  .record({
    body,
    secret: secretHeader,
    name,
    method: methodCase(['POST']),
    ctype: fc.constantFrom<string | null>(...GOOD_CONTENT_TYPES, ...BAD_CONTENT_TYPES),
    chunked: chunkedCase,
    noise: noiseCase(),
  })
  .map(({ body, secret, name, method, ctype, chunked, noise }): Case => {
    const noBody = method.m === 'GET' || method.m === 'HEAD';
    const defects: Defect[] = [...name.defects];
    if (secret.bad) defects.push('secret');
    if (method.bad) defects.push('method');
    if (!noBody) defects.push(...body.defects);
    const headers: Record<string, string> = { ...noise, ...secret.headers };
    if (ctype !== null) headers['content-type'] = ctype;
    return {
      gen: [body.gen, secret.bad && 'bad-secret', method.bad && `method-${method.m}`, name.defects.length > 0 && 'bad-name', name.transport && 'transport']
        .filter(Boolean)
        .join('+'),
      method: method.m,
      path: `/webhooks/klaviyo/flows/${name.seg ?? secret.flow}`,
      headers,
      payload: noBody ? undefined : body.payload,
      chunked: !noBody && chunked,
      defects,
      verdict: body.verdict,
      transport: name.transport,
    };
  });

const route: RouteSpec = {
  name: 'POST /webhooks/klaviyo/flows/{name}',
  ok: 200,
  statusFor: { oversize: [413], utf8: [400], json: [400], deep: [400], secret: [401], method: [404, 405], path: [404] },
  classifiedStatuses: [400],
  mustSee: [200, 400, 401, 404, 413],
  // Any JSON, nested at most 64 levels (what a job can store).
  classify(_c, raw) {
    const d = decodeJson(raw);
    if (!d.ok) return [d.defect];
    return jsonDepth(d.value) > 64 ? ['deep'] : [];
  },
  // The README: the body's `id` when it is a string, else a hash of the body.
  accepted(_c, raw) {
    const d = decodeJson(raw);
    if (!d.ok) return [];
    const id = d.value !== null && typeof d.value === 'object' ? (d.value as { id?: unknown }).id : undefined;
    return [typeof id === 'string' ? id : `sha256:${createHash('sha256').update(d.text).digest('hex').slice(0, 32)}`];
  },
};

describe(`fuzz POST /webhooks/klaviyo/flows/{name} (FUZZ_SEED=${seed})`, () => {
  it(`${RUNS} random calls: no secret → 401, unknown name → 404, with the secret 200 or 4xx, never 5xx; errors are JSON; a rejected call creates no job`, async () => {
    await fuzzRoute(h, route, cases, seed);
  }, 180_000);

  it('is still healthy afterwards and delivers a valid event', async () => {
    await assertStillServing(h);
  });
});
