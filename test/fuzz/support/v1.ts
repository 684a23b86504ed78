/**
 * The /v1 routes: the request envelope (auth, content type, method, path, framing) around a body,
 * and each route's verdict on a body (which the relay must agree with).
 */
import fc from 'fast-check';
import type { z } from 'zod';
import { EventSchema } from '../../../src/model/event.ts';
import { OrderSchema } from '../../../src/model/order.ts';
import { ListMembersSchema, ProfileUpsertSchema } from '../../../src/model/profile-requests.ts';
import { DeletionSchema, MAX_DELETIONS_PER_REQUEST, SuppressionsSchema } from '../../../src/model/privacy-requests.ts';
import { RELAY_KEY } from '../../support/harness.ts';
import { assembleCase, decodeJson, type Case, type Defect, type RouteSpec, type Signing } from './fuzz.ts';
import {
  arbitraryJson,
  BAD_CONTENT_TYPES,
  batches,
  deepNesting,
  GOOD_CONTENT_TYPES,
  headerText,
  hugeString,
  invalidUtf8,
  jsonishText,
  randomBytes,
  unknownField,
  wrongField,
  type BodyCase,
  type FieldSpec,
  type Path,
  methodCase,
  chunkedCase,
  noiseCase,
} from './gen.ts';

interface Auth {
  readonly headers: Record<string, string>;
  readonly sign?: Signing;
  readonly bad: boolean;
}

const goodAuth: fc.Arbitrary<Auth> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .constantFrom(`Bearer ${RELAY_KEY}`, `bearer ${RELAY_KEY}`, `BEARER   ${RELAY_KEY}`, `Bearer\t${RELAY_KEY}`)
      .map((a) => ({ headers: { authorization: a }, bad: false })),
  },
  { weight: 1, arbitrary: fc.constant<Auth>({ headers: {}, sign: { k: 'standard', ts: 'now', tamper: false }, bad: false }) },
);

const badAuth: fc.Arbitrary<Auth> = fc.oneof(
  fc.constantFrom<Auth>(
    { headers: {}, bad: true },
    { headers: { authorization: '' }, bad: true },
    { headers: { authorization: 'Basic dXNlcjpwYXNz' }, bad: true },
    { headers: { authorization: 'Bearer' }, bad: true },
    { headers: { authorization: `Bearer ${RELAY_KEY}x` }, bad: true },
    { headers: { authorization: `Bearer ${RELAY_KEY.slice(0, -1)}` }, bad: true },
    { headers: { authorization: `Bearer ${RELAY_KEY.toUpperCase()}` }, bad: true },
    { headers: { authorization: `Bearer ${RELAY_KEY} extra` }, bad: true },
    { headers: { authorization: `Token ${RELAY_KEY}` }, bad: true },
    { headers: { authorization: RELAY_KEY }, bad: true },
    { headers: { authorization: `Bearer ${RELAY_KEY},Bearer ${RELAY_KEY}` }, bad: true },
    { headers: {}, sign: { k: 'standard', ts: 'stale', tamper: false }, bad: true },
    { headers: {}, sign: { k: 'standard', ts: 'now', tamper: true }, bad: true },
    { headers: {}, sign: { k: 'standard', ts: 'garbage', tamper: false }, bad: true },
    { headers: { 'webhook-signature': 'v1,AAAA', 'webhook-id': 'x' }, bad: true },
  ),
  headerText(0, 60)
    .filter((s) => !s.trim().toLowerCase().startsWith('bearer') || !s.includes(RELAY_KEY))
    .map((s): Auth => ({ headers: { authorization: s }, bad: true })),
  headerText(1, 60)
    .filter((s) => s.trim() !== RELAY_KEY)
    .map((s): Auth => ({ headers: { authorization: `Bearer ${s}` }, bad: true })),
  headerText(0, 80).map(
    (s): Auth => ({ headers: { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': s }, bad: true }),
  ),
);

export interface PathCase {
  readonly path: string;
  readonly defects: readonly Defect[];
  readonly transport?: boolean;
}

/**
 * A /v1 request around `body`: mostly well-formed, with bad auth, a wrong content type, a wrong
 * method, a wrong path or chunked framing mixed in (each on its own and together).
 */
export function v1Cases(opts: { methods: readonly string[]; path: fc.Arbitrary<PathCase>; body: fc.Arbitrary<BodyCase> }): fc.Arbitrary<Case> {
  return fc
    .record({
      body: opts.body,
      path: opts.path,
      auth: fc.oneof({ weight: 7, arbitrary: goodAuth }, { weight: 1, arbitrary: badAuth }),
      ctype: fc.oneof(
        { weight: 10, arbitrary: fc.constantFrom(...GOOD_CONTENT_TYPES).map((t) => ({ t: t as string | null, bad: false })) },
        { weight: 1, arbitrary: fc.constantFrom(...BAD_CONTENT_TYPES).map((t) => ({ t, bad: true })) },
      ),
      method: methodCase(opts.methods),
      chunked: chunkedCase,
      noise: noiseCase(),
    })
    .map(({ body, path, auth, ctype, method, chunked, noise }): Case => {
      // The relay reads no body on GET, HEAD and OPTIONS (so none is sent: a signature would cover it).
      const noBody = method.m === 'GET' || method.m === 'HEAD' || method.m === 'OPTIONS';
      const defects: Defect[] = [...path.defects];
      if (auth.bad) defects.push('auth');
      if (method.bad) defects.push('method');
      if (!noBody) {
        defects.push(...body.defects);
        if (ctype.bad) defects.push('ctype');
      }
      const headers: Record<string, string> = { ...noise, ...auth.headers };
      if (ctype.t !== null) headers['content-type'] = ctype.t;
      return assembleCase({
        labels: [
          body.gen,
          auth.bad && 'bad-auth',
          ctype.bad && 'bad-ctype',
          method.bad && `method-${method.m}`,
          path.defects.length > 0 && 'bad-path',
          path.transport && 'transport',
        ],
        noBody,
        method: method.m,
        path: path.path,
        headers,
        payload: body.payload,
        chunked,
        defects,
        verdict: body.verdict,
        sign: auth.sign,
        transport: path.transport,
      });
    });
}

/** Statuses on /v1: auth (key, or a signature's headers) → content type → size → UTF-8 → signature → JSON → route → validation. */
export const V1_STATUS: RouteSpec['statusFor'] = {
  ctype: [415],
  oversize: [413],
  utf8: [400],
  auth: [401],
  json: [400],
  method: [404, 405],
  path: [400, 404],
  invalid: [400],
};

/** One item, or `{plural: [1..max items]}` (and nothing else), each valid. */
export function validSingleOrBatch(v: unknown, plural: string, max: number, ok: (item: unknown) => boolean): boolean {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, plural)) {
    const items = (v as Record<string, unknown>)[plural];
    return Object.keys(v).length === 1 && Array.isArray(items) && items.length >= 1 && items.length <= max && items.every(ok);
  }
  return ok(v);
}

function bodyVerdict(body: Buffer, valid: (v: unknown) => boolean): Defect[] {
  const d = decodeJson(body);
  if (!d.ok) return [d.defect];
  return valid(d.value) ? [] : ['invalid'];
}

export const schemaOk = (schema: z.ZodType) => (item: unknown) => schema.safeParse(item).success;

/**
 * A /v1 route's spec: the common statuses, a body `valid` decides once it is JSON, and the item ids
 * its 2xx answer names (`ids` for routes that take batches of items, `id` for one request id).
 */
export function v1Route(name: string, valid: (v: unknown, c: Case) => boolean, answer: 'ids' | 'id'): RouteSpec {
  return {
    name,
    ok: 202,
    statusFor: V1_STATUS,
    classifiedStatuses: [400],
    mustSee: [202, 400, 401, 404, 413, 415],
    classify: (c, body) => bodyVerdict(body, (v) => valid(v, c)),
    accepted: answer === 'ids' ? (_c, _b, reply: { ids: string[] }) => reply.ids : (_c, _b, reply: { id: string }) => [reply.id],
  };
}

export const eventsRoute = v1Route('POST /v1/events', (v) => validSingleOrBatch(v, 'events', 1000, schemaOk(EventSchema)), 'ids');

export const profilesRoute = v1Route('POST /v1/profiles', (v) => validSingleOrBatch(v, 'profiles', 1000, schemaOk(ProfileUpsertSchema)), 'ids');

export const ordersRoute = v1Route('POST /v1/orders', (v) => validSingleOrBatch(v, 'orders', 100, schemaOk(OrderSchema)), 'ids');

export const listsRoute = v1Route(
  'POST|DELETE /v1/lists/{listId}/members',
  (v, c) => {
    const p = ListMembersSchema.safeParse(v);
    if (!p.success) return false;
    const { consent, global, profiles } = p.data;
    const remove = c.method === 'DELETE';
    // The README's rules: `global` only on an unsubscribe; email consent needs an email, SMS a phone.
    if (global && !(remove && consent)) return false;
    if (consent?.email === true && profiles.some((m) => !m.email)) return false;
    if (consent?.sms === true && profiles.some((m) => !m.phone_number)) return false;
    return true;
  },
  'id',
);

export const deletionsRoute = v1Route(
  'POST /v1/privacy/deletions',
  (v) => validSingleOrBatch(v, 'deletions', MAX_DELETIONS_PER_REQUEST, schemaOk(DeletionSchema)),
  'ids',
);

export const suppressionsRoute = v1Route('POST|DELETE /v1/suppressions', schemaOk(SuppressionsSchema), 'id');

/**
 * The mix of bodies for a /v1 route: valid-but-unusual ones, batches (when the route takes them),
 * a known field of the wrong type or format, unknown fields, arbitrary JSON, JSON-ish garbage,
 * invalid UTF-8, random bytes, huge strings and deep nesting.
 */
export function v1Bodies<T>(opts: {
  valid: fc.Arbitrary<T>;
  fields: readonly FieldSpec[];
  batch?: { plural: string; max: number };
  unknownAt: readonly Path[];
  hugeAt: readonly Path[];
  deepAt: readonly Path[];
}): fc.Arbitrary<BodyCase> {
  const { valid, fields } = opts;
  const wrong = wrongField(valid, fields);
  return fc.oneof(
    { weight: 14, arbitrary: valid.map((v): BodyCase => ({ gen: 'valid', payload: { t: 'json', v }, defects: [] })) },
    { weight: opts.batch ? 6 : 0, arbitrary: opts.batch ? batches(opts.batch.plural, opts.batch.max, valid, wrong) : wrong },
    { weight: 16, arbitrary: wrong },
    { weight: 5, arbitrary: unknownField(valid, opts.unknownAt) },
    { weight: 8, arbitrary: arbitraryJson },
    { weight: 5, arbitrary: jsonishText(valid) },
    { weight: 4, arbitrary: invalidUtf8(valid) },
    { weight: 2, arbitrary: randomBytes },
    { weight: 3, arbitrary: hugeString(valid, opts.hugeAt) },
    // Past 40 levels every /v1 body is invalid: properties are limited to 32, nothing else nests.
    { weight: 3, arbitrary: deepNesting(valid, opts.deepAt, ['invalid']) },
  );
}
