/**
 * Extracts the subset of Klaviyo's OpenAPI spec this project uses into
 * `src/klaviyo/openapi/operations.json`, and copies the spec's MIT licence beside it.
 *
 *   npx tsx scripts/extract-openapi.ts [path-to-stable.json]           (write; then npx biome format --write the JSON)
 *   npx tsx scripts/extract-openapi.ts --check [path-to-stable.json]   (exit 1 if the committed file differs)
 *
 * `npm run openapi:check` runs the check against a copy of the full spec outside the repository
 * (../shared/reference/klaviyo-openapi-stable.json; give another path as the argument). It is a
 * development tool, not a test: a clean checkout has no copy of the 3 MB spec, only the extracted
 * subset.
 *
 * Source: https://github.com/klaviyo/openapi `openapi/stable.json`, revision 2026-07-15 (MIT).
 * For every operation we call (the endpoints of src/klaviyo/endpoints.ts, under Klaviyo's
 * operationId) we keep its method, path, `x-klaviyo-ratelimit` and, for BODY_ENDPOINTS, request-body
 * schema, plus the closure of the `components.schemas` those schemas reference. `$ref`s stay
 * as `#/components/schemas/X`, so the file compiles as-is with ajv once `nullable` is handled
 * (see src/klaviyo/openapi/validate.ts). Output is deterministic (sorted keys) so a re-run
 * against the same spec produces no diff.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BODY_ENDPOINTS, ENDPOINTS, type EndpointName, operationIdOf } from '../src/klaviyo/endpoints.ts';

const REVISION = '2026-07-15';
const JSON_API = 'application/vnd.api+json';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const args = process.argv.slice(2);
const check = args.includes('--check');
const specArg = args.find((a) => a !== '--check');
const specPath = resolve(process.cwd(), specArg ?? resolve(root, '../shared/reference/klaviyo-openapi-stable.json'));
const outDir = resolve(root, 'src/klaviyo/openapi');

const spec = JSON.parse(readFileSync(specPath, 'utf8')) as JsonObject;
const paths = spec['paths'] as Record<string, Record<string, JsonObject>>;
const schemas = (spec['components'] as JsonObject)['schemas'] as Record<string, Json>;
const specVersion = (spec['info'] as JsonObject)['version'];
if (specVersion !== REVISION) {
  console.warn(`warning: spec info.version is ${String(specVersion)}, expected ${REVISION}`);
}

interface FoundOperation {
  method: string;
  path: string;
  op: JsonObject;
}

function findOperation(operationId: string): FoundOperation {
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (op && typeof op === 'object' && op['operationId'] === operationId) {
        return { method: method.toUpperCase(), path, op };
      }
    }
  }
  throw new Error(`operationId ${operationId} not found in ${specPath}`);
}

const SCHEMA_REF = '#/components/schemas/';

/** Adds to `into` every component schema reachable from `node`. */
function collectRefs(node: Json, into: Set<string>): void {
  if (Array.isArray(node)) {
    for (const item of node) collectRefs(item, into);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node)) {
    // `example` values are data, not schema: a property named "$ref" there is not a reference.
    if (key === 'example' || key === 'examples') continue;
    if (key === '$ref' && typeof value === 'string') {
      if (!value.startsWith(SCHEMA_REF)) throw new Error(`unsupported $ref ${value}`);
      const name = value.slice(SCHEMA_REF.length);
      if (!into.has(name)) {
        const target = schemas[name];
        if (target === undefined) throw new Error(`dangling $ref ${value}`);
        into.add(name);
        collectRefs(target, into);
      }
      continue;
    }
    collectRefs(value, into);
  }
}

/** Deep copy with object keys sorted, for a stable file. */
function sorted(node: Json): Json {
  if (Array.isArray(node)) return node.map(sorted);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonObject = {};
  for (const key of Object.keys(node).sort()) out[key] = sorted(node[key] as Json);
  return out;
}

const operations: JsonObject = {};
const closure = new Set<string>();

const withBody: ReadonlySet<EndpointName> = new Set(BODY_ENDPOINTS);

for (const name of Object.keys(ENDPOINTS) as EndpointName[]) {
  const operationId = operationIdOf(name);
  const { method, path, op } = findOperation(operationId);
  const entry: JsonObject = {
    operationId,
    method,
    path,
    'x-klaviyo-ratelimit': op['x-klaviyo-ratelimit'] ?? null,
  };
  const content = (op['requestBody'] as JsonObject | undefined)?.['content'] as JsonObject | undefined;
  const bodySchema = (content?.[JSON_API] as JsonObject | undefined)?.['schema'];
  if (withBody.has(name)) {
    if (bodySchema === undefined) throw new Error(`${operationId} has no ${JSON_API} request body`);
    entry['requestBody'] = { contentType: JSON_API, schema: bodySchema };
    collectRefs(bodySchema, closure);
  }
  operations[operationId] = entry;
}

const componentSchemas: JsonObject = {};
for (const name of [...closure].sort()) componentSchemas[name] = schemas[name] as Json;

const output = {
  source: {
    repository: 'https://github.com/klaviyo/openapi',
    file: 'openapi/stable.json',
    revision: REVISION,
    license: 'MIT (see LICENSE in this directory)',
    generatedBy: 'scripts/extract-openapi.ts',
  },
  operations,
  components: { schemas: componentSchemas },
};

const text = `${JSON.stringify(sorted(output as unknown as Json), null, 2)}\n`;
if (check) {
  // The committed file is biome-formatted (short arrays on one line): compare its content, written
  // out the way this script writes it (key order included).
  const committed = `${JSON.stringify(JSON.parse(readFileSync(resolve(outDir, 'operations.json'), 'utf8')), null, 2)}\n`;
  if (committed !== text) {
    console.error(
      `src/klaviyo/openapi/operations.json differs from what ${specPath} gives: re-run npx tsx scripts/extract-openapi.ts, then npx biome format --write src/klaviyo/openapi/operations.json`,
    );
    process.exit(1);
  }
  console.log(`operations.json matches ${specPath}`);
  process.exit(0);
}
mkdirSync(outDir, { recursive: true });
writeFileSync(resolve(outDir, 'operations.json'), text);

const licence = readFileSync(resolve(dirname(specPath), 'klaviyo-openapi-LICENSE'), 'utf8');
writeFileSync(
  resolve(outDir, 'LICENSE'),
  `operations.json is extracted from Klaviyo's OpenAPI spec, https://github.com/klaviyo/openapi (openapi/stable.json, revision ${REVISION}), under this licence:\n\n` +
    licence.trimEnd() +
    '\n',
);

console.log(`wrote ${Object.keys(operations).length} operations and ${closure.size} component schemas to ${resolve(outDir, 'operations.json')}`);
