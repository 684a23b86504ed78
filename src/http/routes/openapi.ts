/** GET /openapi.json and GET /docs: the API's own description (src/http/openapi/). Open, like /healthz. */
import { Hono } from 'hono';
import { buildOpenApi, type OpenApiDocument } from '../openapi/document.ts';
import { referencePage } from '../openapi/reference-page.ts';
import { ROUTE_DOCS } from '../openapi/routes.ts';

/** The /v1 API's version: the document's `info.version`. */
export const API_VERSION = '1.0.0';

let cached: { doc: OpenApiDocument; text: string; html: string } | undefined;

/** Built on first use (zod's JSON Schema conversion costs a few ms), then the same for the process. */
export function relayOpenApi(): { doc: OpenApiDocument; text: string; html: string } {
  if (!cached) {
    const doc = buildOpenApi(ROUTE_DOCS, { version: API_VERSION });
    cached = { doc, text: JSON.stringify(doc), html: referencePage(doc) };
  }
  return cached;
}

export function openApiRoutes() {
  const app = new Hono();
  app.get('/openapi.json', (c) => c.body(relayOpenApi().text, 200, { 'content-type': 'application/json; charset=utf-8' }));
  app.get('/docs', (c) => c.html(relayOpenApi().html));
  return app;
}
