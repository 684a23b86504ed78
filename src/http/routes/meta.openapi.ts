/** /metrics, /openapi.json and /docs in the OpenAPI document (src/http/openapi/route-doc.ts). */
import { errorResponse, type RouteDoc } from '../openapi/route-doc.ts';

export const metaDocs: RouteDoc[] = [
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    description: 'Open unless RELAY_METRICS_TOKEN is set. No label carries an email, id or key.',
    tags: ['meta'],
    security: ['metricsToken'],
    responses: {
      200: { description: 'The Prometheus text format', contentType: 'text/plain' },
      401: errorResponse('RELAY_METRICS_TOKEN is set and was not sent'),
    },
    examples: [{ summary: 'Scrape', status: 200 }],
  },
  {
    method: 'get',
    path: '/openapi.json',
    summary: 'This document (OpenAPI 3.1)',
    tags: ['meta'],
    security: [],
    responses: { 200: { description: 'The OpenAPI document', contentType: 'application/json' } },
    examples: [{ summary: 'The document', status: 200 }],
  },
  {
    method: 'get',
    path: '/docs',
    summary: 'This document as a page to read',
    tags: ['meta'],
    security: [],
    responses: { 200: { description: 'HTML, self-contained (no script, nothing loaded from elsewhere)', contentType: 'text/html' } },
    examples: [{ summary: 'The page', status: 200 }],
  },
];
