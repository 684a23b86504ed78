/**
 * OpenTelemetry traces (issue 20), end to end on real sockets: the relay (API + workers, real
 * Redis, the simulator as the gateway) exports OTLP/HTTP JSON to an in-process receiver on
 * loopback. One event posted → one trace: the request (continuing the caller's traceparent) →
 * the enqueue → the job (across the queue, by the context stored in the job) → the Klaviyo call,
 * each the parent of the next; and no attribute of any span carries the email.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { parseRelayConfig } from '../../src/relay-config.ts';
import { startTracing, type Tracing } from '../../src/tracing/setup.ts';
import { CONNECTION, startHarness, type Harness } from '../support/harness.ts';
import { waitUntil } from '../support/wait.ts';

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: OtlpValue }[];
  links?: { traceId: string; spanId: string }[];
}

const FLOW_SECRET = 'tracing-flow-secret-0123456789';
const ADMIN = 'tracing-admin-token-0123';
let receiver: Server;
const received: OtlpSpan[] = [];
const contentTypes = new Set<string>();
let tracing: Tracing;
let h: Harness;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      contentTypes.add(String(req.headers['content-type']));
      if (req.method === 'POST' && req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) received.push(...ss.spans);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const { port } = receiver.address() as AddressInfo;
  // The settings as an operator sets them: standard OTEL_* variables, parsed where every setting is.
  const config = loadConfig({ RELAY_API_KEYS: 'x'.repeat(16), OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_SERVICE_NAME: 'relay-test' });
  expect(config.tracing).toMatchObject({ url: `http://127.0.0.1:${port}/v1/traces`, serviceName: 'relay-test' });
  tracing = startTracing(config.tracing!, { scheduledDelayMs: 100 });
  h = await startHarness({
    name: 'tracing',
    env: { RELAY_ADMIN_TOKEN: ADMIN },
    // A flow webhook whose rule updates the profile: work that crosses two queues.
    file: parseRelayConfig(
      {
        flows: { vip: { header: 'X-Relay-Secret', secret: FLOW_SECRET } },
        rules: [{ on: { flow: 'vip' }, do: [{ updateProfile: { properties: { vip: true } } }] }],
      },
      {},
    ),
  });
});

afterAll(async () => {
  await h?.close();
  await tracing?.shutdown();
  await new Promise((r) => receiver?.close(r));
});

const ops = async (path: string, method = 'GET') => {
  const res = await fetch(`${h.service.url}/ops${path}`, { method, headers: { authorization: `Bearer ${ADMIN}` } });
  return { status: res.status, body: (await res.json()) as unknown };
};

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : (v?.boolValue ?? v?.doubleValue));
};

describe('traces', () => {
  it('follow one event from the request through the queue to the Klaviyo call', async () => {
    const email = 'trace.me@example.com';
    const callerTrace = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const callerSpan = '0123456789abcdef';
    const res = await h.post(
      '/v1/events',
      { id: 'traced-1', event: 'Placed Order', profile: { email }, value: 12.5 },
      { headers: { traceparent: `00-${callerTrace}-${callerSpan}-01` } },
    );
    expect(res.status).toBe(202);
    await waitUntil('the event delivered', () => h.sim.eventsFor(CONNECTION, { email }).length > 0, { timeoutMs: 10_000 });

    const trace = await waitUntil(
      'the trace exported',
      async () => {
        await tracing.flush();
        const spans = received.filter((s) => s.traceId === callerTrace);
        const names = ['POST /v1/events', 'enqueue events', 'job events', 'klaviyo create_event'];
        return names.every((n) => spans.some((s) => s.name === n)) ? spans : undefined;
      },
      { timeoutMs: 10_000 },
    );
    expect(contentTypes.has('application/json')).toBe(true);

    const one = (name: string) => {
      const found = trace.filter((s) => s.name === name);
      expect(found, `${name} in ${trace.map((s) => s.name).join(', ')}`).toHaveLength(1);
      return found[0]!;
    };
    const request = one('POST /v1/events');
    const enqueue = one('enqueue events');
    const job = one('job events');
    const klaviyo = one('klaviyo create_event');

    // Each the parent of the next; the request continues the caller's span.
    expect(request.parentSpanId).toBe(callerSpan);
    expect(enqueue.parentSpanId).toBe(request.spanId);
    expect(job.parentSpanId).toBe(enqueue.spanId);
    expect(klaviyo.parentSpanId).toBe(job.spanId);
    // SERVER, PRODUCER, CONSUMER, CLIENT (OTLP's SpanKind numbers).
    expect([request.kind, enqueue.kind, job.kind, klaviyo.kind]).toEqual([2, 4, 5, 3]);

    // What an operator needs.
    expect(attr(request, 'http.route')).toBe('/v1/events');
    expect(attr(request, 'http.response.status_code')).toBe(202);
    expect(attr(enqueue, 'relay.lane')).toBe('default');
    expect(attr(enqueue, 'relay.items')).toBe(1);
    expect(attr(enqueue, 'relay.enqueued')).toBe(1);
    expect(attr(job, 'relay.kind')).toBe('events');
    expect(attr(job, 'relay.class')).toBe('live');
    expect(attr(job, 'relay.items')).toBe(1);
    expect(attr(klaviyo, 'relay.endpoint')).toBe('create_event');
    expect(attr(klaviyo, 'relay.items')).toBe(1);
    expect(attr(klaviyo, 'http.response.status_code')).toBe(202);

    // No personal data in any span, of this trace or any other.
    const everything = JSON.stringify(received);
    expect(everything).not.toContain(email);
    expect(everything).not.toContain('@');
    expect(everything).not.toContain('traced-1');
  });

  it('stores the trace context in the job (a W3C traceparent), nothing else of the request', async () => {
    // Read while it is queued: a completed job keeps no payload (issue 18), so the lane is held
    // (an operator's pause) until the job has been looked at, then resumed for the delivery.
    expect((await ops('/lanes/default/pause', 'POST')).body).toEqual({ lane: 'default', paused: true });
    try {
      const res = await h.post('/v1/events', { id: 'traced-2', event: 'Viewed Product', profile: { external_id: 'cust-9' } });
      expect(res.status).toBe(202);
      const job = await waitUntil('the queued job', async () =>
        (await h.queue('events').getJobs(['wait', 'prioritized', 'delayed'])).find((j) => JSON.stringify(j.data).includes('traced-2')),
      );
      const data = job.data as Record<string, unknown>;
      expect(data.tp).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      // `d` is the relay's own: the job's place in the dedupe memory (issue 18), set while it is queued.
      expect(Object.keys(data).sort()).toEqual(['at', 'b', 'd', 'items', 'lane', 'src', 'tp', 'v']);
    } finally {
      expect((await ops('/lanes/default/resume', 'POST')).body).toEqual({ lane: 'default', resumed: true });
    }
    await waitUntil('the second event delivered', () => h.sim.eventsFor(CONNECTION, { metric: 'Viewed Product' }).length > 0, { timeoutMs: 10_000 });
  });
  it('follow a flow webhook across two queues: the webhook job, then the profile update its rule made', async () => {
    const res = await h.post(
      '/webhooks/klaviyo/flows/vip',
      { id: 'flow-call-1', email: 'vip.trace@example.com' },
      { headers: { 'x-relay-secret': FLOW_SECRET } },
    );
    expect(res.status).toBe(200);
    const trace = await waitUntil(
      'the trace through both queues',
      async () => {
        await tracing.flush();
        const request = received.find((s) => s.name === 'POST /webhooks/klaviyo/flows/:name');
        const spans = request ? received.filter((s) => s.traceId === request.traceId) : [];
        // Every span of the chain ended and exported (a job's span ends after its Klaviyo call's).
        const names = ['enqueue webhooks', 'job webhooks', 'enqueue profiles', 'job profiles', 'klaviyo create_or_update_profile'];
        return names.every((n) => spans.some((s) => s.name === n)) ? spans : undefined;
      },
      { timeoutMs: 10_000 },
    );
    const one = (name: string) => {
      const found = trace.filter((s) => s.name === name);
      expect(found, `${name} in ${trace.map((s) => s.name).join(', ')}`).toHaveLength(1);
      return found[0]!;
    };
    const request = one('POST /webhooks/klaviyo/flows/:name');
    const enqueueWebhook = one('enqueue webhooks');
    const webhookJob = one('job webhooks');
    const enqueueProfile = one('enqueue profiles');
    const profileJob = one('job profiles');
    const call = one('klaviyo create_or_update_profile');
    expect(request.parentSpanId || undefined).toBeUndefined(); // no caller trace: a new one starts here
    expect(enqueueWebhook.parentSpanId).toBe(request.spanId);
    expect(webhookJob.parentSpanId).toBe(enqueueWebhook.spanId);
    expect(enqueueProfile.parentSpanId).toBe(webhookJob.spanId); // the rule's work, queued by the worker
    expect(profileJob.parentSpanId).toBe(enqueueProfile.spanId);
    expect(call.parentSpanId).toBe(profileJob.spanId);
    expect(attr(profileJob, 'relay.kind')).toBe('profiles');
    expect(JSON.stringify(received)).not.toContain('vip.trace');
  });
});
