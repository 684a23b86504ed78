/**
 * Fuzzing /ops/webhooks (issue 17): create, rotate, and the routes by id (get, test, delete) with
 * random envelopes (admin token or not, Basic from another site, content types, methods, framing),
 * bodies and path segments. As for every route (test/fuzz/support/fuzz.ts): never a 5xx nor a
 * dropped connection, errors are JSON with `error` and `message`, each status one the defects
 * explain — and no job, ever. Then: what the relay holds and what Klaviyo has agree (every webhook
 * it made has its secret here, every secret here a webhook there, nothing left pending), no secret
 * appears in an answer unless asked for, and the audit log has one entry per change.
 *
 * Klaviyo's limits (1/s, 15/min) are raised for this run, in the relay's config file and the
 * simulator alike: pacing has its own test (test/cli/webhooks.test.ts).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JSON_TYPE } from '../../src/http/middleware/json-body.ts';
import { WEBHOOK_ENDPOINTS } from '../../src/klaviyo/endpoints.ts';
import { webhookPendingKey } from '../../src/redis-keys.ts';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { CONNECTION, startHarness, type Harness } from '../support/harness.ts';
import { testRedis } from '../support/redis.ts';
import { assembleCase, decodeJson, fuzzSeed, MAX_BODY, render, RUNS, runFuzz, type Case, type Defect, type RouteSpec } from './support/fuzz.ts';
import {
  anyText,
  arbitraryJson,
  BAD_CONTENT_TYPES,
  deepNesting,
  evilSegment,
  GOOD_CONTENT_TYPES,
  headerText,
  hugeString,
  invalidUtf8,
  jsonishText,
  klaviyoId,
  noiseHeaders,
  randomBytes,
  unknownField,
  wrongField,
  type BodyCase,
  methodCase,
  chunkedCase,
  noiseCase,
} from './support/gen.ts';

const seed = fuzzSeed('ops-webhooks.test.ts');
const ADMIN = 'fuzz-ops-admin-token';
const TOPICS = ['event:klaviyo.unsubscribed_from_email_marketing', 'event:klaviyo.clicked_email', 'event:klaviyo.opened_email'];
const HIGH = { burst: 100_000, steady: 10_000_000 };
const limits = Object.fromEntries(WEBHOOK_ENDPOINTS.map((e) => [e, HIGH]));
/** The by-id routes get fewer cases than the two that take bodies (they read none, or `{lane}`). */
const BY_ID_RUNS = Math.max(3000, Math.floor(RUNS / 3));

let h: Harness;
let url: string;
/** Webhooks made before the run: rotate and get take these ids. */
const pool: string[] = [];
const secretsSeen = new Set<string>();

beforeAll(async () => {
  h = await startHarness({
    name: 'fuzz-opswh',
    workers: false,
    env: { RELAY_ADMIN_TOKEN: ADMIN, RELAY_MAX_BODY_BYTES: String(MAX_BODY) },
    file: parseRelayConfig({ limits: { gatewayPerSecond: 100_000, endpoints: limits }, accounts: { eu: { connection: 'conn-eu' } } }, {}),
    // Every request is kept, so that what reached Klaviyo can be counted.
    sim: { limits: { gatewayPerSecond: 100_000, endpoints: limits }, maxWebhooks: 1_000_000, maxRecordedRequests: 1_000_000, retainEventBodies: false },
  });
  url = h.service.url!;
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${url}/ops/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${url}/webhooks/klaviyo`, topics: [TOPICS[i]] }),
    });
    expect(res.status).toBe(201);
    pool.push(((await res.json()) as { webhook: { id: string } }).webhook.id);
  }
});
afterAll(async () => {
  await h?.close();
});

// ---------------------------------------------------------------------------------------------
// The envelope: admin auth, content type, method, framing

interface Auth {
  readonly headers: Record<string, string>;
  readonly bad: boolean;
}
const basic = (user: string, token: string) => `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
const goodAuth: fc.Arbitrary<Auth> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(`Bearer ${ADMIN}`, `bearer ${ADMIN}`, `Bearer   ${ADMIN}`).map((a) => ({ headers: { authorization: a }, bad: false })),
  },
  // Basic from our own page (the dashboard's login).
  { weight: 1, arbitrary: fc.constant<Auth>({ headers: { authorization: basic('oncall', ADMIN), 'sec-fetch-site': 'same-origin' }, bad: false }) },
);
const badAuth: fc.Arbitrary<Auth> = fc.oneof(
  fc.constantFrom<Auth>(
    { headers: {}, bad: true },
    { headers: { authorization: `Bearer ${ADMIN}x` }, bad: true },
    { headers: { authorization: `Bearer ${ADMIN.toUpperCase()}` }, bad: true },
    { headers: { authorization: basic('x', 'wrong') }, bad: true },
    // The right token as Basic, but from another site, or with no origin at all: a forged write.
    { headers: { authorization: basic('oncall', ADMIN), 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' }, bad: true },
    { headers: { authorization: basic('oncall', ADMIN) }, bad: true },
  ),
  headerText(0, 60)
    .filter((s) => !s.includes(ADMIN))
    .map((s): Auth => ({ headers: { authorization: s }, bad: true })),
);

const isBasic = (auth: Auth) => /^Basic /.test(auth.headers.authorization ?? '');

/** A write's auth is bad as declared; a read with Basic needs no origin (it cannot change anything). */
function authDefect(auth: Auth, method: string): boolean {
  if (!auth.bad) return false;
  const write = !['GET', 'HEAD', 'OPTIONS'].includes(method);
  const basicRightToken = auth.headers.authorization === basic('oncall', ADMIN);
  return write || !basicRightToken;
}

interface PathCase {
  readonly path: string;
  readonly defects: readonly Defect[];
}

function cases(opts: {
  methods: readonly string[];
  wrongMethods: readonly string[];
  path: fc.Arbitrary<PathCase>;
  body: fc.Arbitrary<BodyCase>;
}): fc.Arbitrary<Case> {
  return fc
    .record({
      body: opts.body,
      path: opts.path,
      auth: fc.oneof({ weight: 7, arbitrary: goodAuth }, { weight: 1, arbitrary: badAuth }),
      ctype: fc.oneof(
        { weight: 10, arbitrary: fc.constantFrom(...GOOD_CONTENT_TYPES).map((t) => ({ t: t as string | null, bad: false })) },
        { weight: 1, arbitrary: fc.constantFrom(...BAD_CONTENT_TYPES).map((t) => ({ t, bad: true })) },
      ),
      method: methodCase(opts.methods, opts.wrongMethods),
      chunked: chunkedCase,
      noise: noiseCase(noiseHeaders.filter((n) => !('origin' in n))),
    })
    .map(({ body, path, auth, ctype, method, chunked, noise }): Case => {
      const noBody = ['GET', 'HEAD', 'OPTIONS'].includes(method.m);
      const defects: Defect[] = [...path.defects];
      if (authDefect(auth, method.m)) defects.push('auth');
      if (method.bad) defects.push('method');
      const empty = render(body.payload)?.length === 0;
      if (!noBody && empty) {
        // No body: fine with Bearer whatever the content type; a browser (Basic) must send JSON.
        if (isBasic(auth)) defects.push(ctype.bad ? 'ctype' : 'invalid');
        else defects.push(...body.defects);
      } else if (!noBody) {
        defects.push(...body.defects);
        if (ctype.bad) defects.push('ctype');
      }
      const headers: Record<string, string> = { ...noise, ...auth.headers };
      if (ctype.t !== null) headers['content-type'] = ctype.t;
      return assembleCase({
        labels: [body.gen, auth.bad && 'bad-auth', ctype.bad && 'bad-ctype', method.bad && `method-${method.m}`, path.defects.length > 0 && 'bad-path'],
        noBody,
        method: method.m,
        path: path.path,
        headers,
        payload: body.payload,
        chunked,
        defects,
        verdict: body.verdict,
      });
    });
}

/** Statuses on /ops: auth (401, or 403 for a forged Basic write) → content type → UTF-8, JSON → validation → route. */
const OPS_STATUS: RouteSpec['statusFor'] = {
  auth: [401, 403],
  ctype: [415],
  utf8: [400],
  json: [400],
  invalid: [400],
  // /ops reads what the admin sends; too much of it is refused by validation, not by size.
  oversize: [400],
  method: [404],
  path: [400, 404],
};

/** What the body bytes make wrong: not UTF-8, not JSON, or not what `schema` accepts (no body: `{}`). */
function verdict(body: Buffer, ok: (v: unknown) => boolean): Defect[] {
  if (body.length === 0) return ok({}) ? [] : ['invalid'];
  const d = decodeJson(body);
  if (!d.ok) return [d.defect];
  return ok(d.value) ? [] : ['invalid'];
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;
const TOPIC = /^[a-z][a-z0-9_-]*:[A-Za-z0-9_.-]+$/;
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const onlyKeys = (v: Record<string, unknown>, keys: string[]) => Object.keys(v).every((k) => keys.includes(k));
const LANE = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** The README's rules for a create (routes/ops-webhooks.ts), and Klaviyo's for a topic it knows. */
/** Zod's string lengths count code points, not UTF-16 units (an emoji is one): seed 1712017735's
 * description of 990 emoji (1,980 units) is within its 1,000. */
const chars = (s: string) => [...s].length;

function validCreate(v: unknown): boolean {
  if (!isObj(v) || !onlyKeys(v, ['url', 'topics', 'name', 'description', 'lane', 'reveal'])) return false;
  const u = v.url;
  if (typeof u !== 'string' || chars(u) > 2048 || !URL.canParse(u)) return false;
  const p = new URL(u);
  if (!(p.protocol === 'https:' || (p.protocol === 'http:' && LOOPBACK.test(p.hostname))) || p.username !== '' || p.password !== '') return false;
  if (!Array.isArray(v.topics) || v.topics.length < 1 || v.topics.length > 100) return false;
  if (!v.topics.every((t) => typeof t === 'string' && t.length >= 3 && t.length <= 200 && TOPIC.test(t))) return false;
  if (v.name !== undefined && (typeof v.name !== 'string' || v.name.trim().length < 1 || chars(v.name.trim()) > 100)) return false;
  if (v.description !== undefined && (typeof v.description !== 'string' || chars(v.description) > 1000)) return false;
  if (v.lane !== undefined && (typeof v.lane !== 'string' || !LANE.test(v.lane))) return false;
  if (v.reveal !== undefined && typeof v.reveal !== 'boolean') return false;
  return true;
}

function validRotate(v: unknown): boolean {
  if (!isObj(v) || !onlyKeys(v, ['grace', 'lane', 'reveal'])) return false;
  if (v.grace !== undefined && !(typeof v.grace === 'number' && Number.isInteger(v.grace) && v.grace >= 0 && v.grace <= 7 * 86_400)) return false;
  if (v.lane !== undefined && (typeof v.lane !== 'string' || !LANE.test(v.lane))) return false;
  if (v.reveal !== undefined && typeof v.reveal !== 'boolean') return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Bodies

const createBody = fc.record(
  {
    url: fc.constantFrom(
      'http://127.0.0.1:9/webhooks/klaviyo',
      'https://relay.example.com/webhooks/klaviyo',
      'https://r.example.com:8443/k?x=1',
      'http://localhost/x',
    ),
    topics: fc.uniqueArray(fc.constantFrom(...TOPICS), { minLength: 1, maxLength: 3 }),
    name: anyText(1, 40).filter((s) => s.trim().length > 0 && s.trim().length <= 100),
    description: anyText(0, 80),
    lane: fc.constantFrom('default', 'eu'),
    reveal: fc.boolean(),
  },
  { requiredKeys: ['url', 'topics'] },
);
const long = (n: number) => 'x'.repeat(n);
const NOT_STRING = [null, 1, true, [], {}];
const createFields = [
  {
    path: ['url'],
    bad: [
      '',
      'relay.example.com',
      'ftp://relay.example.com/x',
      'http://relay.example.com/webhooks/klaviyo',
      'https://user:pw@relay.example.com/x',
      `https://x.example/${long(2048)}`,
      'javascript:alert(1)',
      ...NOT_STRING,
    ],
  },
  {
    path: ['topics'],
    bad: [[], 'event:klaviyo.clicked_email', [''], ['clicked_email'], ['event:klaviyo/x'], [1], Array.from({ length: 101 }, () => TOPICS[0]), ...NOT_STRING],
  },
  { path: ['name'], bad: ['', '   ', long(101), 1, true, [], {}] },
  { path: ['description'], bad: [long(1001), 1, [], {}] },
  { path: ['lane'], bad: ['', 'EU', 'a b', 'x'.repeat(33), '../x', 1] },
  { path: ['reveal'], bad: ['true', 1, null, []] },
];

function bodies(
  valid: fc.Arbitrary<unknown>,
  fields: { path: (string | number)[]; bad: unknown[] }[],
  at: (string | number)[][],
  empty: boolean,
): fc.Arbitrary<BodyCase> {
  return fc.oneof(
    { weight: 14, arbitrary: valid.map((v): BodyCase => ({ gen: 'valid', payload: { t: 'json', v }, defects: [] })) },
    { weight: empty ? 2 : 0, arbitrary: fc.constant<BodyCase>({ gen: 'empty', payload: { t: 'text', s: '' }, defects: [] }) },
    { weight: 16, arbitrary: wrongField(valid, fields) },
    { weight: 5, arbitrary: unknownField(valid, [[]]) },
    { weight: 6, arbitrary: arbitraryJson },
    { weight: 4, arbitrary: jsonishText(valid) },
    { weight: 3, arbitrary: invalidUtf8(valid) },
    { weight: 2, arbitrary: randomBytes },
    { weight: 2, arbitrary: hugeString(valid, at) },
    { weight: 2, arbitrary: deepNesting(valid, [['extra']], ['invalid']) },
  );
}

const rotateBody = fc.record({ grace: fc.integer({ min: 0, max: 7 * 86_400 }), lane: fc.constant('default'), reveal: fc.boolean() }, { requiredKeys: [] });
const rotateFields = [
  { path: ['grace'], bad: [-1, 1.5, 7 * 86_400 + 1, '60', null, [], {}] },
  { path: ['lane'], bad: ['', 'EU', '../x', 1] },
  { path: ['reveal'], bad: ['yes', 0, null] },
];

/** An id segment: one of the pool, a Klaviyo-looking id nobody has, or a segment that is no id. */
const idSegment = (known: () => readonly string[]) =>
  fc.oneof(
    { weight: 12, arbitrary: fc.integer({ min: 0, max: 2 }).map((i) => ({ seg: known()[i]!, defects: [] as Defect[] })) },
    // Valid-looking, unknown to Klaviyo: Klaviyo's 404 (or 'local'/'topics', which are routes of their own).
    { weight: 2, arbitrary: klaviyoId.filter((s) => !['local', 'topics'].includes(s)).map((seg) => ({ seg, defects: ['path'] as Defect[] })) },
    { weight: 3, arbitrary: evilSegment.map((seg) => ({ seg, defects: ['path'] as Defect[] })) },
  );

// ---------------------------------------------------------------------------------------------
// Routes

const created: string[] = [];
const remember = (reply: any) => {
  if (reply?.secret?.value) secretsSeen.add(reply.secret.value);
  return [];
};

const createRoute: RouteSpec = {
  name: 'POST /ops/webhooks',
  ok: 201,
  statusFor: OPS_STATUS,
  classifiedStatuses: [400],
  mustSee: [201, 400, 401, 403, 404, 415],
  classify: (_c, body) => verdict(body, validCreate),
  accepted: (_c, _b, reply: any) => {
    if (reply?.webhook?.id) created.push(reply.webhook.id);
    return remember(reply);
  },
};

const rotateRoute: RouteSpec = {
  name: 'POST /ops/webhooks/{id}/rotate',
  ok: 200,
  statusFor: OPS_STATUS,
  classifiedStatuses: [400],
  mustSee: [200, 400, 401, 403, 404, 415],
  classify: (_c, body) => verdict(body, validRotate),
  accepted: (_c, _b, reply) => remember(reply),
};

/** GET /{id} (200 for the pool), POST /{id}/test (200: a self-test answer, ok or not), DELETE /{id} with `{lane}` (never a pool id: unknown ones are 404). */
const byIdRoute: RouteSpec = {
  name: 'GET /ops/webhooks/{id}, POST …/{id}/test, DELETE …/{id}',
  ok: 200,
  statusFor: OPS_STATUS,
  classifiedStatuses: [400],
  mustSee: [200, 400, 401, 403, 404],
  classify: (c, body) =>
    verdict(body, (v) =>
      c.method === 'DELETE'
        ? isObj(v) && onlyKeys(v, ['lane']) && (v.lane === undefined || (typeof v.lane === 'string' && LANE.test(v.lane)))
        : isObj(v) && onlyKeys(v, []),
    ),
  accepted: () => [],
};

describe(`fuzz /ops/webhooks (FUZZ_SEED=${seed})`, () => {
  it(`${RUNS} random creates: never 5xx; errors are JSON; only valid, authorised ones reach Klaviyo`, async () => {
    const arb = cases({
      methods: ['POST'],
      wrongMethods: ['PUT', 'PATCH'],
      path: fc.oneof(
        { weight: 20, arbitrary: fc.constant<PathCase>({ path: '/ops/webhooks', defects: [] }) },
        { weight: 1, arbitrary: fc.constantFrom('/ops/webhooks/', '/ops/webhook', '/ops/webhooks/x/y').map((p): PathCase => ({ path: p, defects: ['path'] })) },
      ),
      body: bodies(createBody, createFields, [['name'], ['description'], ['url']], true),
    });
    const report = await runFuzz(h, createRoute, RUNS, (i, size) => fc.sample(arb, { seed: (seed + i) | 0, numRuns: size }));
    console.log(`[fuzz] ${createRoute.name}: ${report.cases} cases; statuses ${JSON.stringify(report.byStatus)}\n${report.histogram}`);
    expect(report.failures, `FUZZ_SEED=${seed}\n${report.failures.join('\n')}`).toEqual([]);
    for (const s of createRoute.mustSee) expect(report.byStatus[s] ?? 0, `answers ${s}`).toBeGreaterThan(0);
    // Klaviyo was asked exactly once per webhook made.
    expect(h.sim.requests({ endpoint: 'create_webhook', status: 201 }).length).toBe(created.length + pool.length);
    expect(report.jobsCreated).toBe(0);
  }, 300_000);

  it(`${RUNS} random rotations: never 5xx; a refused request changes no secret`, async () => {
    const arb = cases({
      methods: ['POST'],
      wrongMethods: ['PUT', 'PATCH', 'DELETE'],
      path: idSegment(() => pool).map(({ seg, defects }): PathCase => ({ path: `/ops/webhooks/${seg}/rotate`, defects })),
      body: bodies(rotateBody, rotateFields, [['lane']], true),
    });
    const report = await runFuzz(h, rotateRoute, RUNS, (i, size) => fc.sample(arb, { seed: (seed + 7919 + i) | 0, numRuns: size }));
    console.log(`[fuzz] ${rotateRoute.name}: ${report.cases} cases; statuses ${JSON.stringify(report.byStatus)}\n${report.histogram}`);
    expect(report.failures, `FUZZ_SEED=${seed}\n${report.failures.join('\n')}`).toEqual([]);
    for (const s of rotateRoute.mustSee) expect(report.byStatus[s] ?? 0, `answers ${s}`).toBeGreaterThan(0);
    expect(h.sim.requests({ endpoint: 'update_webhook', status: 200 }).length).toBe(report.byStatus[200]);
  }, 300_000);

  it(`${BY_ID_RUNS} random gets, tests and deletes by id: never 5xx; only the pool's ids are found`, async () => {
    const arb = fc
      .record({
        method: fc.constantFrom('GET', 'POST', 'DELETE'),
        auth: fc.oneof({ weight: 7, arbitrary: goodAuth }, { weight: 1, arbitrary: badAuth }),
        ctype: fc.oneof({ weight: 10, arbitrary: fc.constantFrom(...GOOD_CONTENT_TYPES) }, { weight: 1, arbitrary: fc.constantFrom(...BAD_CONTENT_TYPES) }),
        id: idSegment(() => pool),
        body: fc.oneof(
          { weight: 4, arbitrary: fc.constant<unknown>({}) },
          { weight: 1, arbitrary: fc.constantFrom<unknown>({ lane: 'default' }, { lane: 'NOPE' }, { extra: 1 }, [], 'x') },
        ),
      })
      .map(({ method, auth, ctype, id, body }): Case => {
        // DELETE never takes a pool id (the other two need them): it gets unknown ones.
        const deletesPool = method === 'DELETE' && pool.includes(id.seg);
        const seg = deletesPool ? `gone${id.seg.slice(4)}` : id.seg;
        const defects: Defect[] = deletesPool ? ['path'] : [...id.defects];
        if (authDefect(auth, method)) defects.push('auth');
        const write = method !== 'GET';
        const headers: Record<string, string> = { ...auth.headers };
        if (write) {
          if (ctype !== null) headers['content-type'] = ctype;
          if (ctype === null || !JSON_TYPE.test(ctype)) defects.push('ctype');
          const ok =
            method === 'DELETE'
              ? isObj(body) && onlyKeys(body, ['lane']) && (body.lane === undefined || (typeof body.lane === 'string' && LANE.test(body.lane)))
              : isObj(body) && onlyKeys(body, []);
          if (!ok) defects.push('invalid');
        }
        return {
          gen: `${method}${defects.length ? `+${defects.join('+')}` : ''}`,
          method,
          path: `/ops/webhooks/${seg}${method === 'POST' ? '/test' : ''}`,
          headers,
          payload: write ? { t: 'json', v: body } : undefined,
          defects,
          // The generator knows what its body is.
          verdict: [],
        };
      });
    const report = await runFuzz(h, byIdRoute, BY_ID_RUNS, (i, size) => fc.sample(arb, { seed: (seed + 104_729 + i) | 0, numRuns: size }));
    console.log(`[fuzz] ${byIdRoute.name}: ${report.cases} cases; statuses ${JSON.stringify(report.byStatus)}\n${report.histogram}`);
    expect(report.failures, `FUZZ_SEED=${seed}\n${report.failures.join('\n')}`).toEqual([]);
    for (const s of byIdRoute.mustSee) expect(report.byStatus[s] ?? 0, `answers ${s}`).toBeGreaterThan(0);
    expect(h.sim.requests({ endpoint: 'delete_webhook', status: 204 })).toEqual([]);
  }, 300_000);

  it('afterwards: the relay and Klaviyo agree, nothing is pending, secrets appear only where asked for, every change is audited', async () => {
    const auth = { authorization: `Bearer ${ADMIN}` };
    const local = ((await (await fetch(`${url}/ops/webhooks/local`, { headers: auth })).json()) as { webhooks: { id: string; secrets: unknown[] }[] }).webhooks;
    const atKlaviyo = [...h.sim.webhooks(CONNECTION), ...h.sim.webhooks('conn-eu')].map((w) => w.id).sort();
    expect(local.map((w) => w.id).sort()).toEqual(atKlaviyo);
    for (const w of local) expect(w.secrets.length).toBeGreaterThan(0);
    const redis = testRedis();
    try {
      expect(await redis.hlen(webhookPendingKey(h.prefix))).toBe(0);
    } finally {
      redis.disconnect();
    }
    // The pool's URL is this relay: a delivery signed with the secret Klaviyo has (rotated thousands of times) verifies.
    for (const id of pool) {
      const hook = h.sim.webhooks(CONNECTION).find((w) => w.id === id)!;
      const delivered = await h.sim.deliver(id, [{ topic: hook.topics[0]! }], { email: 'fuzz-after@example.com' });
      expect(delivered?.status, id).toBe(200);
      const test = await fetch(`${url}/ops/webhooks/${id}/test`, { method: 'POST', headers: auth });
      expect(((await test.json()) as any).test.ok, id).toBe(true);
    }
    const listed = await (await fetch(`${url}/ops/webhooks`, { headers: auth })).text();
    for (const s of secretsSeen) expect(listed).not.toContain(s);
    expect(secretsSeen.size).toBeGreaterThan(0);
    const audit = ((await (await fetch(`${url}/ops/audit?limit=1000`, { headers: auth })).json()) as { entries: { action: string }[] }).entries;
    const rotations = h.sim.requests({ endpoint: 'update_webhook', status: 200 }).length;
    expect(audit.filter((e) => e.action === 'webhook.rotate').length).toBe(Math.min(rotations, 1000));
  }, 120_000);
});
