/**
 * fast-check arbitraries shared by the route fuzzers: valid-but-unusual values, values of the wrong
 * type for each kind of field, format-invalid strings, huge strings and deep nesting (spliced into
 * the JSON text, so nothing here recurses), invalid UTF-8, JSON-ish garbage, auth and content-type
 * variants, and path segments that try to steer a path.
 */
import fc from 'fast-check';
import type { Defect, Payload, Splice } from './fuzz.ts';

// ---------------------------------------------------------------------------------------------
// Building blocks

/** Placeholder string inside a JSON value, replaced in the JSON text by a Splice (src: render()). */
export const HOLE = '\u0000fuzz-hole\u0000';

export type Path = readonly (string | number)[];

/** As a value for setAt: delete the key (a required field left out). */
export const REMOVE = Symbol('remove');

/** A copy of `base` with `value` at `path` (missing or non-object parents become objects). */
export function setAt(base: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  const obj = (base !== null && typeof base === 'object' ? (Array.isArray(base) ? [...base] : { ...base }) : {}) as Record<string | number, unknown>;
  if (rest.length === 0 && value === REMOVE) {
    delete obj[head!];
    return obj;
  }
  const next = setAt(obj[head!], rest, value);
  // defineProperty, so that keys such as `__proto__` become own (serialised) properties.
  Object.defineProperty(obj, head!, { value: next, enumerable: true, writable: true, configurable: true });
  return obj;
}

const PRINTABLE = Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i));
const ID_CHARS = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-'];

export const word = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'), minLength: 1, maxLength: 10 });
/** Printable ASCII without spaces: a valid caller id. A small pool too, so duplicates happen. */
export const printableId = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom(...PRINTABLE), minLength: 1, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom('dup-1', 'dup-2', 'dup-3', '#', 'a#b', '..', '../x', '%2F', '{}', '"') },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...PRINTABLE), minLength: 200, maxLength: 255 }) },
);
/** A Klaviyo-looking id (list ids): letters, digits, `-`, `_`, 1–64. */
export const klaviyoId = fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 64 });

/** Any text: ASCII, graphemes (emoji, combining marks), and arbitrary code points (lone surrogates too). */
export const anyText = (minLength = 0, maxLength = 40) =>
  fc.oneof(fc.string({ minLength, maxLength }), fc.string({ unit: 'grapheme', minLength, maxLength }), fc.string({ unit: 'binary', minLength, maxLength }));

export const email = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(word, word).map(([a, b]) => `${a}@${b}.example.com`) },
  { weight: 1, arbitrary: fc.tuple(word, word).map(([a, b]) => `  ${a.toUpperCase()}+tag@${b}.Example.COM `) },
  { weight: 1, arbitrary: fc.emailAddress() },
);
export const phone = fc.stringMatching(/^\+[1-9][0-9]{1,14}$/);
export const currency = fc.stringMatching(/^[A-Z]{3}$/);
const DAY = 86_400_000;
export const isoTime = fc
  .tuple(
    fc.date({ min: new Date(Date.UTC(1990, 0, 2)), max: new Date(Date.now() + 300 * DAY), noInvalidDate: true }),
    fc.constantFrom('Z', 'ms', '+05:30', '-08:00'),
  )
  .map(([d, form]) => {
    const iso = d.toISOString();
    if (form === 'ms') return iso;
    if (form === 'Z') return iso.replace(/\.\d{3}Z$/, 'Z');
    // The same instant with an offset would need arithmetic; any instant is fine here.
    return iso.replace(/Z$/, form);
  });
const nullable = <T>(a: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: a }, { weight: 1, arbitrary: fc.constant(null) });

export const jsonProps = fc.dictionary(
  fc.oneof(
    { weight: 6, arbitrary: word },
    { weight: 3, arbitrary: anyText(1, 20) },
    { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '$id', 'a.b', ' ', '') },
  ),
  fc.oneof(
    { weight: 3, arbitrary: fc.oneof(fc.string({ maxLength: 20 }), fc.double(), fc.integer(), fc.boolean(), fc.constant(null)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  ),
  { maxKeys: 4 },
);

export const location = fc.record(
  {
    address1: nullable(anyText(0, 60)),
    city: nullable(anyText(0, 30)),
    country: nullable(anyText(0, 30)),
    region: nullable(anyText(0, 30)),
    zip: nullable(word),
    timezone: nullable(fc.constantFrom('Europe/London', 'America/New_York', 'UTC')),
    ip: nullable(fc.ipV4()),
    latitude: fc.oneof(fc.double({ min: -90, max: 90, noNaN: true }), fc.constant(null), fc.constant('51.5')),
    longitude: fc.oneof(fc.double({ min: -180, max: 180, noNaN: true }), fc.constant(null), fc.constant('-0.12')),
  },
  { requiredKeys: [] },
);

export const attributes = fc.record(
  {
    first_name: nullable(anyText(0, 50)),
    last_name: nullable(anyText(0, 50)),
    organization: nullable(anyText(0, 50)),
    title: nullable(anyText(0, 50)),
    locale: nullable(fc.constantFrom('en-GB', 'fr-FR', 'zh-Hans-CN', '')),
    image: nullable(fc.webUrl()),
    location: nullable(location),
    properties: nullable(jsonProps),
  },
  { requiredKeys: [] },
);

const identifiers = (withAnonymous: boolean) =>
  fc
    .record({ email, phone_number: phone, external_id: anyText(1, 60), anonymous_id: anyText(1, 60) }, { requiredKeys: [] })
    .map((r) => {
      if (withAnonymous) return r;
      const { anonymous_id: _, ...rest } = r;
      return rest;
    })
    .filter((r) => Object.keys(r).length > 0);

export const eventProfile = fc.tuple(identifiers(true), attributes).map(([ids, attrs]) => ({ ...attrs, ...ids }));
/** Identifiers Klaviyo's profile import takes (no anonymous_id): list members, profile upserts. */
export const member = identifiers(false);

// ---------------------------------------------------------------------------------------------
// Wrong values, by the kind of field

const NOT_STRING: unknown[] = [null, 0, -1.5, 1e21, true, false, [], ['x'], {}, { a: 1 }];
const NOT_NULLABLE_STRING = NOT_STRING.filter((v) => v !== null);
const NOT_NUMBER: unknown[] = [null, '1', '29.99', '', true, false, [], [1], {}];
const NOT_BOOL: unknown[] = [null, 'true', 'false', 1, 0, [], {}];
const NOT_OBJECT: unknown[] = [null, 'x', '', 1, 0, true, [], [{}], [1, 2]];
const NOT_NULLABLE_OBJECT = NOT_OBJECT.filter((v) => v !== null);
const NOT_ARRAY: unknown[] = [null, 'x', 1, true, {}, { 0: 'a' }];
/** Splices for number fields: JSON.parse reads these as ±Infinity. */
export const NON_FINITE: Splice[] = [
  { k: 'raw', s: '1e999' },
  { k: 'raw', s: '-1e999' },
];

const long = (n: number) => 'x'.repeat(n);
export const BAD = {
  id: ['', 'has space', 'tab\there', long(256), 'é', 'nul\u0000', 'new\nline', ...NOT_STRING] as unknown[],
  metric: ['', '   ', '\n\t', long(128), ...NOT_STRING] as unknown[],
  profile: [...NOT_OBJECT, {}, { first_name: 'Ada' }, { properties: { a: 1 } }] as unknown[],
  email: ['', 'not-an-email', 'a@', '@example.com', 'a b@example.com', 'ada@@example.com', `${long(250)}@e.co`, ...NOT_STRING] as unknown[],
  phone: ['', '555-1234', '+0123456', '15005550006', '+1 500 555 0006', '+1234567890123456', '+', '+1-500', ...NOT_STRING] as unknown[],
  externalId: ['', '   ', long(256), ...NOT_STRING] as unknown[],
  text255: [long(256), ...NOT_NULLABLE_STRING] as unknown[],
  locale: [long(36), ...NOT_NULLABLE_STRING] as unknown[],
  url: ['not a url', '', 'http//example.com', '://x', `https://example.com/${long(2048)}`, ...NOT_NULLABLE_STRING] as unknown[],
  ip: [long(65), ...NOT_NULLABLE_STRING] as unknown[],
  lat: [91, -90.5, 1e9, true, [], {}, long(33)] as unknown[],
  lng: [181, -180.5, true, [], {}, long(33)] as unknown[],
  nullableObject: NOT_NULLABLE_OBJECT,
  object: NOT_OBJECT,
  number: NOT_NUMBER,
  money: [-1, -0.01, -1e300, ...NOT_NUMBER] as unknown[],
  quantity: [0, -1, 1.5, 1e-9, ...NOT_NUMBER] as unknown[],
  currency: ['usd', 'US', 'USDD', '12A', '', 'U$D', ' USD', ...NOT_STRING] as unknown[],
  time: [
    'yesterday',
    '2026-11-27',
    '2026-11-27T10:00:00',
    '1985-01-01T00:00:00Z',
    '1990-01-01T00:00:00Z',
    '2999-01-01T00:00:00Z',
    '2026-13-01T00:00:00Z',
    '',
    '1700000000',
    ...NOT_STRING,
  ] as unknown[],
  bool: NOT_BOOL,
  array: NOT_ARRAY,
  stringList: [...NOT_ARRAY, [1], [null], [''], [long(256)]] as unknown[],
  listIds: [...NOT_ARRAY, [''], ['a/b'], ['../x'], [long(65)], ['ü'], ['a b'], Array.from({ length: 21 }, (_, i) => `L${i}`)] as unknown[],
  status: ['shipped', 'PLACED', '', 'placed ', 1, null, true, []] as unknown[],
  consent: [
    {},
    { email: false },
    { email: false, sms: false },
    { email: 'yes' },
    { push: true },
    { email: true, push: true },
    'x',
    1,
    true,
    [],
    null,
  ] as unknown[],
  string255: ['', long(256), ...NOT_STRING] as unknown[],
};

export interface FieldSpec {
  readonly path: Path;
  readonly bad: readonly unknown[];
  /** Splices that are also wrong here (±Infinity for numbers). */
  readonly raw?: readonly Splice[];
}

/** Fields shared by every profile shape, under `at`. */
export function profileFieldSpecs(at: Path, opts: { anonymous: boolean }): FieldSpec[] {
  const p = (...k: (string | number)[]) => [...at, ...k];
  const specs: FieldSpec[] = [
    { path: p('email'), bad: BAD.email },
    { path: p('phone_number'), bad: BAD.phone },
    { path: p('external_id'), bad: BAD.externalId },
    { path: p('first_name'), bad: BAD.text255 },
    { path: p('last_name'), bad: BAD.text255 },
    { path: p('organization'), bad: BAD.text255 },
    { path: p('title'), bad: BAD.text255 },
    { path: p('locale'), bad: BAD.locale },
    { path: p('image'), bad: BAD.url },
    { path: p('location'), bad: BAD.nullableObject },
    { path: p('location', 'city'), bad: BAD.text255 },
    { path: p('location', 'ip'), bad: BAD.ip },
    { path: p('location', 'latitude'), bad: BAD.lat },
    { path: p('location', 'longitude'), bad: BAD.lng },
    { path: p('properties'), bad: BAD.nullableObject },
    { path: p('properties'), bad: [Object.fromEntries(Array.from({ length: 401 }, (_, i) => [`p${i}`, i])), { '': 1 }, { [long(1025)]: 1 }] },
  ];
  if (opts.anonymous) specs.push({ path: p('anonymous_id'), bad: BAD.externalId });
  return specs;
}

/** Keys no strict object here knows. */
export const UNKNOWN_KEYS = [
  'colour',
  'Event',
  'EMAIL',
  'e-mail',
  'profile_id',
  'unique_id',
  'metric',
  '__proto__',
  'constructor',
  'toString',
  ' event',
  'event ',
];

// ---------------------------------------------------------------------------------------------
// Bodies

export interface BodyCase {
  readonly gen: string;
  readonly payload: Payload;
  readonly defects: readonly Defect[];
  /** What the body makes wrong, when the generator knows (the route's classifier is then skipped). */
  readonly verdict?: readonly Defect[];
}

const json = (gen: string, v: unknown, defects: readonly Defect[] = []): BodyCase => ({ gen, payload: { t: 'json', v }, defects });

/** The value with one known field set to a value of the wrong type or format: must be rejected. */
export function wrongField(base: fc.Arbitrary<unknown>, specs: readonly FieldSpec[], defect: Defect = 'invalid'): fc.Arbitrary<BodyCase> {
  // One (spec, bad value) arbitrary per field, built once (fc.chain would build them per value).
  const choices = specs.flatMap((spec) => {
    const out: fc.Arbitrary<[FieldSpec, { v: unknown } | { raw: Splice }]>[] = [];
    if (spec.bad.length > 0) out.push(fc.constantFrom(...spec.bad).map((v) => [spec, { v }]));
    if (spec.raw?.length) out.push(fc.constantFrom(...spec.raw).map((raw) => [spec, { raw }]));
    return out;
  });
  return fc.tuple(base, fc.oneof(...choices)).map(([v, [spec, bad]]): BodyCase => {
    const gen = `wrong:${spec.path.join('.')}`;
    return 'raw' in bad
      ? { gen, payload: { t: 'splice', v: setAt(v, spec.path, HOLE), raw: bad.raw }, defects: [defect] }
      : json(gen, setAt(v, spec.path, bad.v), [defect]);
  });
}

/** The value with a key its (strict) object does not know, at one of `at`. */
export function unknownField(base: fc.Arbitrary<unknown>, at: readonly Path[], defect: Defect = 'invalid'): fc.Arbitrary<BodyCase> {
  return fc
    .tuple(
      base,
      fc.constantFrom(...at),
      fc.oneof(
        fc.constantFrom(...UNKNOWN_KEYS),
        word.map((w) => `x_${w}`),
      ),
      fc.jsonValue({ maxDepth: 1 }),
    )
    .map(([v, path, key, value]) => json(`unknown-field`, setAt(v, [...path, unknownTo(v, path, key)], value), [defect]));
}

/** `key`, or `x_key` when the object at `path` already has it: a key the base carries is known to the route
 * (the privacy route takes `profile_id`, one of UNKNOWN_KEYS), and overwriting it may give a valid body. */
export function unknownTo(base: unknown, path: Path, key: string): string {
  let at: unknown = base;
  for (const step of path) at = at !== null && typeof at === 'object' ? (at as Record<string | number, unknown>)[step] : undefined;
  return at !== null && typeof at === 'object' && Object.hasOwn(at, key) ? `x_${key}` : key;
}

const HUGE_CHARS = ['x', 'é', '€', '😀', '"', '\\', '\u0001'];
/** A huge string spliced at one of `at` (string fields or property values); its size decides the verdict. */
export function hugeString(base: fc.Arbitrary<unknown>, at: readonly Path[]): fc.Arbitrary<BodyCase> {
  // Under Klaviyo's 100 KB string limit, over it (but under the body limit), and over the body limit.
  const size = fc.oneof(
    { weight: 2, arbitrary: fc.integer({ min: 1_000, max: 100_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 100_001, max: 240_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 240_000, max: 320_000 }) },
  );
  return fc.tuple(base, fc.constantFrom(...at), size, fc.constantFrom(...HUGE_CHARS)).map(([v, path, n, ch]) => ({
    gen: `huge:${path.join('.')}`,
    payload: {
      t: 'splice',
      v: setAt(v, path, HOLE),
      raw: { k: 'huge', n: Math.max(1, Math.floor(n / Buffer.byteLength(JSON.stringify(ch).slice(1, -1)))), ch },
    },
    defects: [],
  }));
}

const NESTS: [string, string, string][] = [
  ['[', ']', '1'],
  ['{"a":', '}', '1'],
  ['[{"":', '}]', 'null'],
  ['{"properties":', '}', '{}'],
];
/**
 * Deep nesting built as text, spliced at one of `at` (or as the whole body): around the depth limit
 * (32), hundreds of levels, thousands (up to 10,000), and past the body limit. Past 40 levels the
 * verdict can be given (`deepVerdict`), which spares the runner parsing it a second time.
 */
export function deepNesting(base: fc.Arbitrary<unknown>, at: readonly Path[], deepVerdict?: readonly Defect[]): fc.Arbitrary<BodyCase> {
  return fc
    .tuple(base, fc.constantFrom<Path | null>(null, ...at), fc.constantFrom(...NESTS), fc.nat(3), fc.nat(1_000_000))
    .map(([v, path, [open, close, leaf], bucket, r]) => {
      const perLevel = open.length + close.length;
      const n = [30 + (r % 11), 41 + (r % 960), 1_000 + (r % 9_000), Math.ceil(262_144 / perLevel) + (r % 5_000)][bucket]!;
      return {
        gen: `deep:${path === null ? '(body)' : path.join('.')}`,
        payload: { t: 'splice', v: path === null ? HOLE : setAt(v, path, HOLE), raw: { k: 'deep', n, open, close, leaf } },
        defects: [],
        verdict: n > 40 ? deepVerdict : undefined,
      };
    });
}

const INVALID_UTF8: number[][] = [
  [0xff],
  [0xfe],
  [0xc0, 0x80],
  [0xc1, 0xbf],
  [0x80],
  [0xbf],
  [0xe2, 0x82],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xe0, 0x80, 0xaf],
  [0xf0, 0x9f, 0x98],
];
/** The JSON of a value with an invalid UTF-8 sequence put between two ASCII bytes (so it cannot complete a character). */
export function invalidUtf8(base: fc.Arbitrary<unknown>): fc.Arbitrary<BodyCase> {
  return fc.tuple(base, fc.constantFrom(...INVALID_UTF8), fc.nat(), fc.boolean()).map(([v, seq, pos, atEnd]) => {
    const bytes = Buffer.from(JSON.stringify(v) ?? '', 'utf8');
    const spots: number[] = [];
    for (let i = 0; i <= bytes.length; i++) if ((i === 0 || bytes[i - 1]! < 0x80) && (i === bytes.length || bytes[i]! < 0x80)) spots.push(i);
    const at = atEnd ? bytes.length : spots[pos % spots.length]!;
    return { gen: 'invalid-utf8', payload: { t: 'bytes', b: Buffer.concat([bytes.subarray(0, at), Buffer.from(seq), bytes.subarray(at)]) }, defects: ['utf8'] };
  });
}

/** Random bytes: mostly not UTF-8, sometimes by chance it is (the route's classifier decides). */
export const randomBytes = fc
  .uint8Array({ minLength: 0, maxLength: 300 })
  .map((b): BodyCase => ({ gen: 'random-bytes', payload: { t: 'bytes', b }, defects: [] }));

const JSONISH = [...'{}[]":,0123456789.eE+-tfnrulsa \n\t\\/u'];
/** Text that looks like JSON: mostly malformed (the classifier decides). */
export function jsonishText(base: fc.Arbitrary<unknown>): fc.Arbitrary<BodyCase> {
  const mangled = fc
    .tuple(base, fc.nat(), fc.constantFrom('truncate', 'trailing', 'comma', 'quotes', 'nan', 'comment', 'bom', 'dupkey', 'ctrl'))
    .map(([v, n, how]) => {
      const s = JSON.stringify(v) ?? 'null';
      switch (how) {
        case 'truncate':
          return s.slice(0, n % Math.max(1, s.length));
        case 'trailing':
          return `${s} x`;
        case 'comma':
          return s.replace(/([}\]])$/, ',$1');
        case 'quotes':
          return s.replaceAll('"', "'");
        case 'nan':
          return `{"value": NaN, "a": ${s}}`;
        case 'comment':
          return `/* c */ ${s}`;
        case 'bom':
          return `\ufeff${s}`;
        case 'dupkey':
          return s.startsWith('{') && s.length > 2 ? `{"event":1,${s.slice(1)}` : s;
        case 'ctrl':
          return s.replace('"', '"\u0001');
        default:
          return s;
      }
    });
  return fc
    .oneof(
      fc.string({ unit: fc.constantFrom(...JSONISH), maxLength: 80 }),
      mangled,
      fc.constantFrom('', ' ', '\n', 'null', 'true', '0', '-0', '1e999', '""', '[]', '{}', '[{}]', '{"":{}}', '"\\ud800"', '{"a":"\\u0000"}'),
    )
    .map((s): BodyCase => ({ gen: 'json-ish', payload: { t: 'text', s }, defects: [] }));
}

/** Arbitrary JSON values (fc.jsonValue, and fc.anything through JSON.stringify). */
export const arbitraryJson = fc
  .oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.anything({ maxDepth: 3, withNullPrototype: true, withObjectString: true }).map((v) => JSON.parse(JSON.stringify(v) ?? 'null') as unknown),
  )
  .map((v) => json('arbitrary-json', v));

/** A single item or `{plural: [...]}`: valid batches, too-big/empty batches, extra keys, one bad item. */
export function batches(plural: string, max: number, item: fc.Arbitrary<unknown>, badItem: fc.Arbitrary<BodyCase>): fc.Arbitrary<BodyCase> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.array(item, { minLength: 1, maxLength: 8 }).map((items) => json('batch', { [plural]: items })) },
    {
      weight: 4,
      arbitrary: fc.tuple(fc.array(item, { minLength: 0, maxLength: 5 }), badItem, fc.nat()).map(([items, bad, at]) => {
        const v = bad.payload.t === 'json' ? bad.payload.v : {};
        const all = [...items];
        all.splice(at % (items.length + 1), 0, v);
        return json(`batch-with-${bad.gen}`, { [plural]: all }, bad.payload.t === 'json' ? bad.defects : []);
      }),
    },
    { weight: 1, arbitrary: fc.constant(json('batch-empty', { [plural]: [] }, ['invalid'])) },
    { weight: 1, arbitrary: item.map((it) => json('batch-too-big', { [plural]: Array.from({ length: max + 1 }, () => it) }, ['invalid'])) },
    { weight: 1, arbitrary: fc.tuple(item, fc.constantFrom(...NOT_ARRAY)).map(([it, x]) => json('batch-not-array', { [plural]: x, _: it }, ['invalid'])) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.array(item, { minLength: 1, maxLength: 3 }), word)
        .map(([items, k]) => json('batch-extra-key', { [plural]: items, [`x${k}`]: 1 }, ['invalid'])),
    },
    {
      weight: 1,
      arbitrary: fc
        .array(fc.constantFrom(...NOT_OBJECT), { minLength: 1, maxLength: 3 })
        .map((items) => json('batch-of-non-objects', { [plural]: items }, ['invalid'])),
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Envelope: methods, content types, auth, header noise

export const WRONG_METHODS = ['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export const GOOD_CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'Application/JSON',
  'application/vnd.api+json',
  'application/merge-patch+json;charset=UTF-8',
];
export const BAD_CONTENT_TYPES = [
  null,
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'json',
  'application/jsonx',
  'application/json-seq',
  'text/json',
  'application/*',
  '*/*',
  'application',
  'application/+json',
];

/** Header values Node's client will send: tab, printable ASCII and Latin-1. */
export const headerText = (minLength = 0, maxLength = 60) =>
  fc.string({
    unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0xa0, max: 0xff })).map((c) => String.fromCharCode(c)),
    minLength,
    maxLength,
  });

/** Extra headers that must change nothing. */
export const noiseHeaders = fc.dictionary(
  fc.constantFrom('x-forwarded-for', 'x-request-id', 'accept', 'accept-encoding', 'user-agent', 'x-relay-secret-x', 'idempotency-key', 'cookie', 'origin'),
  headerText(0, 40),
  { maxKeys: 3 },
);

// The request around a body, the same in every suite: the route's method 14 times in 15 (else a
// wrong one, a defect), chunked framing 1 in 8, extra headers 1 in 6.

/** A method of `methods`, or one of `wrong` (a `method` defect). */
export function methodCase(methods: readonly string[], wrong: readonly string[] = WRONG_METHODS.filter((m) => !methods.includes(m))) {
  return fc.oneof(
    { weight: 14, arbitrary: fc.constantFrom(...methods).map((m) => ({ m, bad: false })) },
    { weight: 1, arbitrary: fc.constantFrom(...wrong).map((m) => ({ m, bad: true })) },
  );
}
export const chunkedCase = fc.oneof({ weight: 7, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });
export function noiseCase(noise: fc.Arbitrary<Record<string, string>> = noiseHeaders) {
  return fc.oneof({ weight: 5, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: noise });
}

// ---------------------------------------------------------------------------------------------
// Paths

/**
 * Pieces that make a path segment invalid after percent-decoding (or split it, or end the path):
 * none of them can turn into a valid id, and none can make a dot segment with the letters around it.
 */
const EVIL_PIECES = [
  '%2F',
  '%2f',
  '%5C',
  '%5c',
  '%00',
  '%20',
  '%25',
  '%C3%BC',
  '%E2%80%AE',
  '%F0%9F%98%80',
  '%FF',
  '%E0%A4%A',
  '%',
  '%2',
  '%%',
  '~',
  '!',
  "'",
  '(',
  ')',
  '*',
  '@',
  ':',
  '$',
  '+',
  ',',
  ';',
  '=',
  '.',
  '%2E',
  '/',
  '?',
  '#',
  '?x=/',
  '%3F',
  '%23',
  '%0A',
  '%0D%0A',
  '&',
  '"',
  '<',
  '>',
  '|',
  '`',
  '^',
  '{',
  '}',
  '%7B',
];
/** Whole segments the URL parser treats as dot segments: they vanish or pop a level (never onto a route that takes this body). */
const DOT_SEGMENTS = ['.', '..', '%2e', '%2E%2E', '.%2e', '%2e.', '..%2F..', '..%2f..%2fevents', '%2e%2e%2f%2e%2e'];

/**
 * A path segment that must not reach an upstream path: 400 or 404, never a job. A lone '%' or '%2'
 * followed by hex digits from the random tail forms a real escape ('%' + '6e…' is '%6e', an 'n'):
 * such a segment decodes to a valid id and is the same resource, so it is filtered out here.
 */
const decodesToValidId = (s: string) => {
  try {
    return /^[A-Za-z0-9_-]{1,64}$/.test(decodeURIComponent(s));
  } catch {
    return false;
  }
};
export const evilSegment = fc
  .oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(
          fc.string({ unit: fc.constantFrom(...ID_CHARS), maxLength: 8 }),
          fc.constantFrom(...EVIL_PIECES),
          fc.string({ unit: fc.constantFrom(...ID_CHARS), maxLength: 8 }),
        )
        .map(([a, p, b]) => `${a}${p}${b}`),
    },
    { weight: 2, arbitrary: fc.constantFrom(...DOT_SEGMENTS) },
    { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 65, maxLength: 300 }) },
    { weight: 1, arbitrary: fc.constant('') },
    {
      weight: 2,
      arbitrary: fc
        .string({ unit: 'grapheme', minLength: 1, maxLength: 6 })
        .map((s) => encodeURIComponent(s))
        .filter((s) => !/^[A-Za-z0-9_-]+$/.test(s) && !/^\.+$/.test(s)),
    },
  )
  .filter((s) => !decodesToValidId(s));

/**
 * Segments that are malformed HTTP or a malformed request target: a raw backslash, raw Latin-1
 * bytes. These are turned away below the app (Node's HTTP parser, or @hono/node-server before it
 * calls the app) with a bare 400: see `transport` in fuzz.ts.
 */
export const transportSegment = fc
  .tuple(fc.string({ unit: fc.constantFrom(...ID_CHARS), maxLength: 6 }), fc.constantFrom('\\', '\\..\\', 'é', '\u00ff', 'a\u00a0b'))
  .map(([a, p]) => `${a}${p}`);
