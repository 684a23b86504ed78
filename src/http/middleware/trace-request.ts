/**
 * A SERVER span per request (only mounted while tracing is on: src/tracing/). A caller's W3C
 * `traceparent` makes the request part of the caller's trace. Named by the matched route pattern,
 * never the raw path (it can carry ids); no header, query or body goes into it.
 */
import { context, propagation } from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';
import { SpanKind, withSpan } from '../../tracing/tracer.ts';

export function traceRequest(): MiddlewareHandler {
  return async function traceRequest(c, next) {
    const parent = propagation.extract(context.active(), { traceparent: c.req.header('traceparent'), tracestate: c.req.header('tracestate') });
    await withSpan(
      `${c.req.method} request`,
      SpanKind.SERVER,
      { 'http.request.method': c.req.method },
      async (span) => {
        await next();
        const route = c.req.routePath || 'unmatched';
        span.updateName(`${c.req.method} ${route}`);
        span.setAttributes({ 'http.route': route, 'http.response.status_code': c.res.status });
        const source = (c.get as (k: string) => { id?: string } | undefined)('source')?.id;
        if (source) span.setAttribute('relay.source', source);
      },
      parent,
    );
  };
}
