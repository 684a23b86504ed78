/**
 * Request-body validation against Klaviyo's own OpenAPI schemas (see operations.ts).
 *
 * Built on ajv 8 with two adaptations the spec needs:
 * - OpenAPI 3.0 `nullable: true`. Ajv understands it only beside a `type`; the spec also puts
 *   it beside `$ref` and `oneOf` (e.g. `"location": {"$ref": …ProfileLocation, "nullable": true}`),
 *   where ajv throws. We rewrite those to `anyOf: [schema, {type: "null"}]`, and add `null` to a
 *   nullable `enum` (OpenAPI 3.0.3 §4.7.25.1 clarifies an enum must list null to accept it).
 * - Formats: the request schemas use `date-time` and `date`; we check them with RFC 3339
 *   regexes rather than pull in ajv-formats.
 * Each operation's validator is compiled once, on first use.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { OPENAPI, type BodyOperationId } from './operations.ts';

export type { BodyOperationId } from './operations.ts';

export interface BodyValidationError {
  /** JSON pointer (RFC 6901) into the request body, as Klaviyo puts in `source.pointer`. */
  readonly pointer: string;
  readonly message: string;
}

export type BodyValidationResult = { ok: true } | { ok: false; errors: BodyValidationError[] };

// RFC 3339 §5.6 date-time (offset required) and full-date.
const DATE_TIME = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt ]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;
const DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;

export function isRfc3339DateTime(value: string): boolean {
  return DATE_TIME.test(value) && !Number.isNaN(Date.parse(value));
}

type Schema = Record<string, unknown>;

/** Rewrites OpenAPI 3.0 `nullable` into JSON Schema ajv can compile (see the file comment). */
export function normalizeNullable(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(normalizeNullable);
  if (node === null || typeof node !== 'object') return node;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node as Schema)) {
    // Examples are data; leave them untouched.
    out[key] = key === 'example' || key === 'examples' ? value : normalizeNullable(value);
  }
  if (out['nullable'] !== true) return out;
  if (typeof out['type'] === 'string') {
    if (Array.isArray(out['enum']) && !out['enum'].includes(null)) out['enum'] = [...out['enum'], null];
    return out;
  }
  const { nullable: _drop, description, ...rest } = out;
  const wrapped: Schema = { anyOf: [rest, { type: 'null' }] };
  if (description !== undefined) wrapped['description'] = description;
  return wrapped;
}

let ajv: Ajv | undefined;
const compiled = new Map<BodyOperationId, ValidateFunction>();

function getAjv(): Ajv {
  if (ajv) return ajv;
  ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true, logger: false });
  ajv.addFormat('date-time', { type: 'string', validate: isRfc3339DateTime });
  ajv.addFormat('date', { type: 'string', validate: (v: string) => DATE.test(v) && !Number.isNaN(Date.parse(v)) });
  ajv.addFormat('uri', { type: 'string', validate: (v: string) => URL.canParse(v) });
  return ajv;
}

function validatorFor(operationId: BodyOperationId): ValidateFunction {
  const existing = compiled.get(operationId);
  if (existing) return existing;
  const op = OPENAPI.operations[operationId];
  if (!op?.requestBody) throw new Error(`no request body schema for operation ${operationId}`);
  // Compile the operation's schema as the root of a document that carries the components,
  // so its `#/components/schemas/X` references resolve unchanged.
  const schema = normalizeNullable({ ...(op.requestBody.schema as Schema), components: OPENAPI.components }) as Schema;
  const fn = getAjv().compile(schema);
  compiled.set(operationId, fn);
  return fn;
}

function escapePointerToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

function toError(e: ErrorObject): BodyValidationError {
  if (e.keyword === 'required') {
    const missing = String((e.params as { missingProperty: string }).missingProperty);
    return { pointer: `${e.instancePath}/${escapePointerToken(missing)}`, message: `'${missing}' is a required field.` };
  }
  if (e.keyword === 'enum') {
    const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.filter((v) => v !== null);
    return { pointer: e.instancePath || '/', message: `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}` };
  }
  return { pointer: e.instancePath || '/', message: e.message ?? 'is invalid' };
}

/**
 * Validates `body` against the request schema of `operationId` from Klaviyo's spec.
 * Returns one error per offending location (the first ajv reports there), so a bulk request
 * yields one pointer per bad item.
 */
export function validateRequestBody(operationId: BodyOperationId, body: unknown): BodyValidationResult {
  const validate = validatorFor(operationId);
  if (validate(body)) return { ok: true };
  const byPointer = new Map<string, BodyValidationError>();
  for (const e of validate.errors ?? []) {
    // anyOf wrappers (from nullable) add a vague summary and a "must be null" from their null
    // branch, at an ancestor of the real problem; the other branch's errors say more.
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') continue;
    if (e.keyword === 'type' && (e.params as { type?: unknown }).type === 'null') continue;
    const err = toError(e);
    if (!byPointer.has(err.pointer)) byPointer.set(err.pointer, err);
  }
  if (byPointer.size === 0) {
    for (const e of validate.errors ?? []) {
      const err = toError(e);
      if (!byPointer.has(err.pointer)) byPointer.set(err.pointer, err);
    }
  }
  return { ok: false, errors: [...byPointer.values()] };
}
