/** OTEL_* settings (src/config.ts): traces off unless asked for, by the standard variables. */
import { describe, expect, it } from 'vitest';
import { type ConfigError, loadConfig } from '../../src/config.ts';

const base = { RELAY_API_KEYS: 'k'.repeat(16), MATON_API_KEY: 'm', MATON_CONNECTION_ID: 'c' };
const tracing = (env: Record<string, string>) => loadConfig({ ...base, ...env }).tracing;
const problems = (env: Record<string, string>) => {
  try {
    loadConfig({ ...base, ...env });
  } catch (err) {
    return (err as ConfigError).problems;
  }
  return [];
};

describe('OTEL_* settings', () => {
  it('leave traces off by default', () => {
    expect(tracing({})).toBeUndefined();
    expect(tracing({ OTEL_SERVICE_NAME: 'x', OTEL_EXPORTER_OTLP_HEADERS: 'a=b' })).toBeUndefined();
  });

  it('turn them on with an OTLP endpoint, or OTEL_TRACES_EXPORTER=otlp', () => {
    expect(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toEqual({
      url: 'http://collector:4318/v1/traces',
      headers: {},
      serviceName: 'klaviyo-relay',
      ratio: 1,
      parentBased: true,
    });
    expect(tracing({ OTEL_TRACES_EXPORTER: 'otlp' })?.url).toBe('http://localhost:4318/v1/traces');
    // The traces endpoint is used as it is.
    expect(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://b/otlp/traces' })?.url).toBe(
      'https://b/otlp/traces',
    );
  });

  it('keep them off when told: OTEL_TRACES_EXPORTER=none, OTEL_SDK_DISABLED=true', () => {
    expect(tracing({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
    expect(tracing({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
  });

  it('read headers, service name and sampler', () => {
    const t = tracing({
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_HEADERS: 'x-api-key=abc%20def, tenant=t1',
      OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'tenant=t2',
      OTEL_SERVICE_NAME: 'relay-eu',
      OTEL_TRACES_SAMPLER: 'traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    });
    expect(t).toEqual({
      url: 'http://localhost:4318/v1/traces',
      headers: { 'x-api-key': 'abc def', tenant: 't2' },
      serviceName: 'relay-eu',
      ratio: 0.25,
      parentBased: false,
    });
  });

  it('refuse what the relay cannot do, naming the variable', () => {
    expect(problems({ OTEL_TRACES_EXPORTER: 'zipkin' }).join('\n')).toMatch(/OTEL_TRACES_EXPORTER/);
    expect(problems({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }).join('\n')).toMatch(/OTEL_EXPORTER_OTLP_PROTOCOL: only http\/json is supported/);
    expect(problems({ OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317' }).join('\n')).toMatch(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(problems({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_HEADERS: 'novalue' }).join('\n')).toMatch(
      /OTEL_EXPORTER_OTLP_HEADERS: expected key=value/,
    );
    expect(problems({ OTEL_TRACES_SAMPLER_ARG: '2' }).join('\n')).toMatch(/OTEL_TRACES_SAMPLER_ARG/);
  });
});
