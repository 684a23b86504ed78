/**
 * The relay's own OpenAPI document (issue 20), against the live API:
 *   - /openapi.json is a valid OpenAPI 3.1 document (an independent validator);
 *   - every route the Hono app has is in it, and everything in it is a route of the app;
 *   - every documented example, sent to the live API (real Redis, the simulator behind it), gets
 *     its documented status, and a JSON answer matches the documented response schema; a 2xx
 *     example's body matches the documented request schema too (zod's conversion checked by ajv).
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNDOCUMENTED_PREFIXES } from '../../src/http/openapi/routes.ts';
import type { RouteExample } from '../../src/http/openapi/route-doc.ts';
import { Metrics } from '../../src/metrics.ts';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { klaviyoSignature } from '../../src/webhooks/klaviyo-signature.ts';
import { RELAY_KEY, startHarness, type Harness } from '../support/harness.ts';

const ADMIN = 'contract-admin-token-0123';
const KLAVIYO_SECRET = 'contract-klaviyo-secret-0123456789';
const FLOW_SECRET = 'contract-flow-secret-0123456789';

type Operation = {
  operationId: string;
  security: Record<string, unknown>[];
  requestBody?: { content: Record<string, { schema: object }> };
  responses: Record<string, { content?: Record<string, { schema?: object }> }>;
  'x-examples': RouteExample[];
};
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, object> } };

/** A schema, or the component its `$ref` names. */
const resolved = (schema: object): object => {
  const ref = (schema as { $ref?: string }).$ref;
  return ref ? doc.components.schemas[ref.replace('#/components/schemas/', '')]! : schema;
};

let h: Harness;
let doc: Doc;

beforeAll(async () => {
  h = await startHarness({
    name: 'openapi',
    workers: false,
    metrics: new Metrics(),
    env: { RELAY_ADMIN_TOKEN: ADMIN },
    file: parseRelayConfig(
      {
        klaviyoWebhooks: { secrets: [KLAVIYO_SECRET] },
        flows: { winback: { header: 'X-Relay-Flow-Secret', secret: FLOW_SECRET } },
        rules: [{ on: { topic: 'event:klaviyo.unsubscribed_from_email_marketing' }, do: [{ removeFromList: 'WinBck' }] }],
      },
      {},
    ),
  });
  const res = await fetch(`${h.service.url}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  doc = (await res.json()) as Doc;
});
afterAll(async () => {
  await h?.close();
});

const operations = () => Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));

describe('/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toMatch(/^3\.1\./);
    const result = await new Validator().validate(structuredClone(doc) as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('documents every route the app has, and only those', () => {
    const app = h.service.app!;
    const inApp = new Set<string>();
    for (const r of app.routes) {
      if (r.method === 'ALL' || r.path.includes('*')) continue; // middleware, and Bull Board's static files
      const path = r.path.length > 1 ? r.path.replace(/\/$/, '') : r.path;
      if (UNDOCUMENTED_PREFIXES.some((u) => path === u.prefix || path.startsWith(`${u.prefix}/`))) continue;
      inApp.add(`${r.method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
    const documented = new Set(operations().map(({ path, method }) => `${method.toUpperCase()} ${path}`));
    expect([...inApp].filter((r) => !documented.has(r)).sort(), 'routes of the app missing from the document').toEqual([]);
    expect([...documented].filter((r) => !inApp.has(r)).sort(), 'documented routes the app does not have').toEqual([]);
    expect(inApp.size).toBeGreaterThan(30);
  });

  it('serves a readable, self-contained reference at /docs', async () => {
    const res = await fetch(`${h.service.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    for (const { path, method, op } of operations()) {
      expect(html).toContain(`id="${op.operationId}"`);
      expect(html).toContain(`${method.toUpperCase()} ${path.replace(/[{}]/g, (c) => c)}`);
    }
    // Nothing loaded from elsewhere: the page works where there is no internet.
    expect(html).not.toMatch(/<script|<link|src=|@import|https?:\/\/(?!relay\.example\.com|shop\.example\.com|standardwebhooks)/);
  });
});

/** The credentials an example's operation asks for (its first security scheme). */
function authHeaders(op: Operation, body: string | undefined, ex: RouteExample): Record<string, string> {
  if (ex.auth === false) return {};
  const scheme = Object.keys(op.security[0] ?? {})[0];
  switch (scheme) {
    case undefined:
      return {};
    case 'relayKey':
    case 'metricsToken':
      return { authorization: `Bearer ${RELAY_KEY}` };
    case 'writeKeyBasic':
      return { authorization: `Basic ${Buffer.from(`${RELAY_KEY}:`).toString('base64')}` };
    case 'adminToken':
      return { authorization: `Bearer ${ADMIN}` };
    case 'flowSecret':
      return { 'x-relay-flow-secret': FLOW_SECRET };
    case 'klaviyoSignature': {
      const timestamp = new Date().toISOString();
      const id = (JSON.parse(body!) as { meta: { klaviyo_webhook_id: string } }).meta.klaviyo_webhook_id;
      return { 'klaviyo-signature': klaviyoSignature(KLAVIYO_SECRET, body!, timestamp), 'klaviyo-timestamp': timestamp, 'klaviyo-webhook-id': id };
    }
    default:
      throw new Error(`the contract test cannot authenticate as ${scheme}`);
  }
}

describe('every documented example against the live API', () => {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });

  it('has examples for every operation, a success among them', () => {
    for (const { path, method, op } of operations()) {
      expect(op['x-examples'].length, `${method} ${path}`).toBeGreaterThan(0);
    }
  });

  it('gets the documented status and a body matching the documented schema', async () => {
    let sent = 0;
    for (const { path, method, op } of operations()) {
      for (const ex of op['x-examples']) {
        const what = `${method.toUpperCase()} ${path} — ${ex.summary}`;
        let url = path.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(ex.params?.[name] ?? ''));
        if (ex.query) url += `?${new URLSearchParams(ex.query)}`;
        const body = ex.body === undefined ? undefined : JSON.stringify(ex.body);
        const headers: Record<string, string> = { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...authHeaders(op, body, ex) };
        const res = await fetch(`${h.service.url}${url}`, { method: method.toUpperCase(), headers, body });
        const text = await res.text();
        expect(res.status, `${what}: ${text.slice(0, 300)}`).toBe(ex.status);
        sent++;

        const documented = op.responses[String(ex.status)];
        expect(documented, `${what}: status ${ex.status} is not among the documented responses`).toBeDefined();
        const schema = documented!.content?.['application/json']?.schema;
        if (schema) {
          const validate = ajv.compile(resolved(schema));
          expect(validate(JSON.parse(text)), `${what}: the answer does not match its schema: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 300)}`).toBe(
            true,
          );
        }
        if (ex.status < 300 && ex.body !== undefined) {
          const requestSchema = Object.values(op.requestBody!.content)[0]!.schema;
          const validate = ajv.compile(requestSchema);
          expect(validate(ex.body), `${what}: the example does not match the request schema: ${ajv.errorsText(validate.errors)}`).toBe(true);
        }
      }
    }
    expect(sent).toBeGreaterThan(50);
  });
});
