/**
 * Starts OpenTelemetry tracing in this process, for an entry point (or a test) that read
 * TracingSettings from the environment (src/config.ts): a tracer provider with the AsyncLocalStorage
 * context manager and W3C trace-context propagation, exporting batches of spans over OTLP/HTTP
 * (JSON) to the configured endpoint.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, type Sampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { TracingSettings } from '../config.ts';
import { setTracingOn } from './tracer.ts';

export interface Tracing {
  /** Sends the spans ended so far. */
  flush(): Promise<void>;
  /** Flushes, stops exporting and turns tracing off in this process. */
  shutdown(): Promise<void>;
}

export function startTracing(settings: TracingSettings, opts: { scheduledDelayMs?: number; version?: string } = {}): Tracing {
  const root: Sampler = settings.ratio >= 1 ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(settings.ratio);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.serviceName, ...(opts.version ? { 'service.version': opts.version } : {}) }),
    sampler: settings.parentBased ? new ParentBasedSampler({ root }) : root,
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.url, headers: { ...settings.headers } }), {
        scheduledDelayMillis: opts.scheduledDelayMs ?? 5000,
      }),
    ],
  });
  provider.register();
  setTracingOn(true);
  return {
    flush: () => provider.forceFlush(),
    async shutdown() {
      setTracingOn(false);
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
