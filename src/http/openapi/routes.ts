/**
 * Every route's documentation, in one list: the OpenAPI document is built from it. A new route
 * adds its `<route>.openapi.ts` array here (test/contract/relay-openapi.test.ts fails while a
 * route of the app has no entry, and sends every example to the live API).
 */
import { backInStockDocs } from '../routes/back-in-stock.openapi.ts';
import { catalogDocs } from '../routes/catalog.openapi.ts';
import { couponsDocs } from '../routes/coupons.openapi.ts';
import { eventsDocs } from '../routes/events.openapi.ts';
import { healthDocs } from '../routes/health.openapi.ts';
import { listsDocs } from '../routes/lists.openapi.ts';
import { metaDocs } from '../routes/meta.openapi.ts';
import { opsDocs } from '../routes/ops.openapi.ts';
import { opsWebhooksDocs } from '../routes/ops-webhooks.openapi.ts';
import { ordersDocs } from '../routes/orders.openapi.ts';
import { privacyDocs } from '../routes/privacy.openapi.ts';
import { profilesDocs } from '../routes/profiles.openapi.ts';
import { trackingDocs } from '../routes/tracking-api.openapi.ts';
import { webhooksDocs } from '../routes/webhooks.openapi.ts';
import type { RouteDoc } from './route-doc.ts';

export const ROUTE_DOCS: readonly RouteDoc[] = [
  ...eventsDocs,
  ...profilesDocs,
  ...listsDocs,
  ...ordersDocs,
  ...catalogDocs,
  ...backInStockDocs,
  ...couponsDocs,
  ...privacyDocs,
  ...trackingDocs,
  ...webhooksDocs,
  ...healthDocs,
  ...opsDocs,
  ...opsWebhooksDocs,
  ...metaDocs,
];

/**
 * Routes the app has that the document leaves out on purpose, with the reason: Bull Board's UI
 * and its own JSON API (not the relay's contract), and the sandbox's views (loopback, sandbox only).
 */
export const UNDOCUMENTED_PREFIXES: readonly { readonly prefix: string; readonly why: string }[] = [
  { prefix: '/ops/queues', why: "Bull Board's dashboard and its own API" },
  { prefix: '/sandbox', why: 'the sandbox’s read-only views (sandbox mode only, on loopback)' },
];
