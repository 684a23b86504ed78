/**
 * OpenTelemetry traces for the relay (issue 20): what the instrumented code calls. Off unless an
 * entry point started tracing (setup.ts, from OTEL_* settings in src/config.ts); while off, every
 * helper here returns after one boolean test — no span, no context object, no header parsing —
 * so the ingest path costs what it did.
 *
 * A trace follows one piece of work: the request (SERVER span) → enqueue (PRODUCER) → the job
 * (CONSUMER; the request's trace context travels in the job's data as a W3C traceparent,
 * src/job-data.ts `tp`) → each Klaviyo call (CLIENT). A call that carries items of several jobs
 * (a bulk batch) is the child of the first job's span and links to the others'.
 *
 * Attributes say what an operator needs — lane, kind, class, items, endpoint, status — and never
 * personal data: no email, phone number, profile id, item id or body.
 */
import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';

let on = false;

/** For setup.ts only. */
export function setTracingOn(value: boolean): void {
  on = value;
}

export function tracingOn(): boolean {
  return on;
}

const tracer = () => trace.getTracer('klaviyo-relay');

export { SpanKind };

/** The active context's W3C traceparent, to store with the work (undefined when off or outside a trace). */
export function currentTraceparent(): string | undefined {
  if (!on) return undefined;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent;
}

/** The context a stored traceparent names (the root context when there is none). */
export function contextFrom(traceparent: string | undefined): Context {
  return traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent }) : ROOT_CONTEXT;
}

/** The active context now, to hand work to code that runs outside it (a batcher); undefined when off. */
export function captureContext(): Context | undefined {
  return on ? context.active() : undefined;
}

const BATCH_LINKS = createContextKey('relay.batch-links');

/**
 * Runs `fn` (which sends one batch) as part of the first item's trace, with the other items'
 * spans as links: a bulk call is the child of one job's span and linked to the rest.
 */
export function inBatchContext<T>(contexts: readonly (Context | undefined)[], fn: () => T): T {
  if (!on) return fn();
  const first = contexts.find((c) => c !== undefined);
  if (!first) return fn();
  const parent = trace.getSpanContext(first)?.spanId;
  const links: Link[] = [];
  const seen = new Set(parent ? [parent] : []);
  for (const c of contexts) {
    const sc = c ? trace.getSpanContext(c) : undefined;
    if (sc && !seen.has(sc.spanId)) {
      seen.add(sc.spanId);
      links.push({ context: sc });
    }
  }
  return context.with(first.setValue(BATCH_LINKS, links), fn);
}

/**
 * Runs `fn` inside a new span (child of `parent`, default the active context), ends it, and marks
 * it failed when `fn` throws — with the error's name only: a message can quote request data.
 */
export async function withSpan<T>(
  name: string,
  kind: SpanKind,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
  parent: Context = context.active(),
): Promise<T> {
  const links = (parent.getValue(BATCH_LINKS) as Link[] | undefined) ?? [];
  const span = tracer().startSpan(name, { kind, attributes, links }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
    throw err;
  } finally {
    span.end();
  }
}

export { SpanStatusCode };
