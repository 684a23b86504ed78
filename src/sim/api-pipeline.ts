/**
 * The path of one API request through the simulator, in this fixed order:
 *
 *  1. route (`/klaviyo/api/…` = gateway mode, `/api/…` = direct mode) and identify the caller
 *     and account — nothing is refused yet;
 *  2. count it in the "sent" windows (requests the relay tried);
 *  3. fault rules (faults.ts) — before any check, so a scripted 401/429/5xx happens whatever
 *     the request; an answering fault changes no state and uses no quota;
 *  4. gateway mode: Maton key (401 `{"error"}`), connection (400 `{"error"}`), gateway
 *     limit per key (429 `{"error"}`, Retry-After: 1); direct mode: private key (401 JSON:API);
 *  5. unknown path 404 / wrong method 405;
 *  6. `revision` header (400);
 *  7. Klaviyo limit per account × endpoint (429 throttled + Retry-After) — every later response
 *     carries RateLimit-* headers, and the request counts against the quota even if it then
 *     fails validation;
 *  8. body: Content-Type (415), size ≤ 5 MB (413), JSON (400), OpenAPI schema (400), Klaviyo's
 *     semantic rules (400) — one error per offending item, each with a pointer;
 *  9. the endpoint handler (which may still answer 400/404/409).
 */
import { BODY_ENDPOINTS, KLAVIYO_LIMITS, operationIdOf, type EndpointName } from '../klaviyo/endpoints.ts';
import { validateRequestBody } from '../klaviyo/openapi/validate.ts';
import { onePerItem } from './body-items.ts';
import type { Faults, FaultRuleState } from './faults.ts';
import type { ConnectionRegistry } from './connections.ts';
import type { AccountEvent, HandlerContext, HandlerResult, ScheduledJob } from './handlers/context.ts';
import { HANDLERS } from './handlers/index.ts';
import { JSON_API_TYPE, KlaviyoHttpError, defaultCode, defaultTitle, klaviyoError, throttledBody, type KlaviyoErrorObject } from './json-api.ts';
import type { ResolvedOptions } from './options.ts';
import type { RateLimits } from './rate-limits.ts';
import type { RecordedRequest, RequestCounters, RequestLog } from './request-log.ts';
import { matchRoute } from './routes.ts';
import { semanticErrors } from './semantic-rules.ts';
import { maskSecret } from './snapshot.ts';
import type { SimAccount } from './state.ts';
import { sleep } from './time.ts';

export interface SimCore {
  readonly options: ResolvedOptions;
  readonly faults: Faults;
  readonly limits: RateLimits;
  readonly counters: RequestCounters;
  readonly log: RequestLog;
  readonly connections: ConnectionRegistry;
  findAccount(id: string): SimAccount | undefined;
  accountFor(id: string, mode: 'gateway' | 'direct'): SimAccount;
  settleJobs(account: SimAccount): void;
  scheduleJob(account: SimAccount, job: ScheduledJob): void;
  /** An event of the account, for its system webhooks (webhook-deliveries.ts). */
  notify(account: SimAccount, event: AccountEvent): void;
  /** Aborted when the simulator releases hung requests (on close). */
  hangSignal(): AbortSignal;
  acceptsGatewayKey(key: string): boolean;
  acceptsApiKey(key: string): boolean;
}

const REVISION = /^\d{4}-\d{2}-\d{2}(\.[A-Za-z0-9_-]+)?$/;
/** Operations whose request has a body (DELETE /api/webhooks/{id} has none; list removal's DELETE has one). */
const WITH_BODY: ReadonlySet<EndpointName> = new Set(BODY_ENDPOINTS);
const takesBody = (ep: EndpointName): ep is (typeof BODY_ENDPOINTS)[number] => WITH_BODY.has(ep);

/** A webhook's secret_key in a recorded body is masked: /__sim/requests shows bodies. */
function withoutSecrets(body: unknown): unknown {
  const attrs = (body as { data?: { attributes?: Record<string, unknown> } } | undefined)?.data?.attributes;
  if (!attrs || typeof attrs['secret_key'] !== 'string') return body;
  const data = (body as { data: Record<string, unknown> }).data;
  return { ...(body as object), data: { ...data, attributes: { ...attrs, secret_key: maskSecret(attrs['secret_key']) } } };
}
const BODY_CONTENT_TYPES = new Set([JSON_API_TYPE, 'application/json']);

type Mode = 'gateway' | 'direct';

function jsonResponse(status: number, body: unknown, contentType: string, headers: Record<string, string> = {}): Response {
  if (body === undefined || status === 204) return new Response(null, { status, headers });
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': contentType, ...headers } });
}

function faultBody(rule: FaultRuleState, status: number): unknown {
  if (rule.body !== undefined) return rule.body;
  if (rule.source === 'gateway') {
    const messages: Record<number, string> = {
      400: 'No Klaviyo connection found',
      401: 'Invalid API key',
      429: 'Rate limit exceeded',
      500: 'Internal server error',
    };
    return { error: messages[status] ?? `Gateway error ${status}` };
  }
  if (status === 429) return throttledBody(rule.retryAfterS ?? 1);
  return { errors: [klaviyoError(status, `Simulated ${status} (fault ${rule.id}).`, { code: defaultCode(status), title: defaultTitle(status) })] };
}

export async function handleApiRequest(core: SimCore, req: Request, mode: Mode): Promise<Response> {
  const opts = core.options;
  const arrivedAt = opts.now();
  const url = new URL(req.url);
  const method = req.method.toUpperCase();
  const apiPath = mode === 'gateway' ? url.pathname.slice('/klaviyo'.length) || '/' : url.pathname;
  const route = matchRoute(method, apiPath);
  const endpoint: EndpointName | undefined = route.kind === 'endpoint' ? route.endpoint : undefined;

  // 1. Identify the caller without refusing anything yet.
  const authorization = req.headers.get('authorization') ?? '';
  let gatewayKey: string | undefined;
  let accountId: string | undefined;
  let credentialOk: boolean;
  if (mode === 'gateway') {
    gatewayKey = /^Bearer\s+(\S.*)$/i.exec(authorization)?.[1]?.trim();
    credentialOk = gatewayKey !== undefined && core.acceptsGatewayKey(gatewayKey);
    accountId = req.headers.get('maton-connection')?.trim() || 'default';
  } else {
    accountId = /^Klaviyo-API-Key\s+(\S+)\s*$/i.exec(authorization)?.[1];
    credentialOk = accountId !== undefined && core.acceptsApiKey(accountId);
  }

  const hasBody = method !== 'GET' && method !== 'HEAD';
  const bodyText = hasBody ? await req.text() : '';
  let parsed: { ok: true; value: unknown } | { ok: false } | undefined;
  const parseBody = (): { ok: true; value: unknown } | { ok: false } => {
    if (parsed) return parsed;
    try {
      parsed = { ok: true, value: bodyText === '' ? undefined : JSON.parse(bodyText) };
    } catch {
      parsed = { ok: false };
    }
    return parsed;
  };

  const record: Omit<RecordedRequest, 'seq'> = {
    at: arrivedAt,
    method,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    headers: Object.fromEntries(req.headers),
    mode,
    account: accountId,
    endpoint,
    status: null,
  };
  const finish = (status: number | null, response: Response, outcome?: string): Response => {
    record.status = status;
    record.outcome = outcome;
    record.durationMs = opts.now() - arrivedAt;
    if (opts.retainEventBodies && hasBody) {
      const p = parseBody();
      record.body = p.ok ? withoutSecrets(p.value) : bodyText.slice(0, 10_000);
    }
    core.log.add(record);
    core.counters.note(endpoint ?? 'unknown', status);
    return response;
  };
  const klaviyo = (status: number, errors: KlaviyoErrorObject[], headers: Record<string, string> = {}, outcome?: string): Response =>
    finish(status, jsonResponse(status, { errors }, JSON_API_TYPE, headers), outcome ?? errors[0]?.code);
  const gateway = (status: number, error: string, headers: Record<string, string> = {}, outcome?: string): Response =>
    finish(status, jsonResponse(status, { error }, 'application/json', headers), outcome);

  // 2. What the relay tried to send.
  if (credentialOk) {
    if (gatewayKey !== undefined) core.limits.noteGatewaySent(gatewayKey, arrivedAt);
    if (endpoint && accountId !== undefined) core.limits.noteKlaviyoSent(accountId, endpoint, arrivedAt);
  }

  // 3. Faults.
  const decision = core.faults.pick({
    endpoint,
    account: accountId,
    method,
    body: () => {
      const p = parseBody();
      return p.ok ? p.value : undefined;
    },
    emailOfProfile: (id) => (accountId === undefined ? undefined : core.findAccount(accountId)?.profiles.get(id)?.email),
  });
  if (decision) {
    const rule = decision.rule;
    core.counters.faulted++;
    record.fault = rule.id;
    const released = core.hangSignal();
    if (rule.latencyMs) await sleep(rule.latencyMs, released);
    if (rule.hang) {
      await waitForEither(req.signal, released);
      return finish(null, new Response(null, { status: 504 }), 'fault_hang');
    }
    // Released by close() during the delay: answer nothing useful, change nothing.
    if (released.aborted) return finish(null, new Response(null, { status: 503 }), 'closed');
    if (decision.items.length > 0) {
      const ri = rule.rejectItems ?? {};
      const errors = decision.items.map((item) =>
        klaviyoError(400, ri.detail ? `${ri.detail} (${item.label})` : `Rejected by the simulator: ${item.label}.`, {
          source: ri.withPointers === false ? {} : { pointer: item.pointer },
        }),
      );
      return klaviyo(400, errors, {}, 'fault_reject_items');
    }
    if (rule.status !== undefined) {
      const headers: Record<string, string> = {};
      const retryAfter = rule.retryAfterS ?? (rule.status === 429 ? 1 : undefined);
      if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
      const contentType = rule.source === 'gateway' ? 'application/json' : JSON_API_TYPE;
      return finish(rule.status, jsonResponse(rule.status, faultBody(rule, rule.status), contentType, headers), 'fault_status');
    }
    // Latency only: carry on as normal.
  }

  // 4. Authentication, connection, gateway limit.
  if (mode === 'gateway') {
    if (!credentialOk || gatewayKey === undefined || accountId === undefined) return gateway(401, 'Invalid API key', {}, 'gateway_auth');
    const conn = core.connections.resolve(accountId);
    if (conn !== 'ok') return gateway(400, 'No Klaviyo connection found', {}, 'gateway_connection');
    // Counted when the request arrived, as a gateway counts at its edge: not after this process
    // read the body and ran the faults (its own event loop's delay is no part of the relay's timing).
    const g = core.limits.checkGateway(gatewayKey, arrivedAt);
    if (!g.allowed) {
      core.counters.throttledGateway++;
      return gateway(429, 'Rate limit exceeded', { 'retry-after': String(g.retryAfterS) }, 'gateway_throttled');
    }
  } else if (!credentialOk || accountId === undefined) {
    return klaviyo(401, [klaviyoError(401, 'Missing or invalid private key.', { code: 'not_authenticated' })]);
  }

  // 5. Route.
  if (route.kind === 'not-found') {
    return klaviyo(404, [klaviyoError(404, `No API endpoint matches ${method} ${apiPath}.`)]);
  }
  if (route.kind === 'method-not-allowed') {
    return klaviyo(405, [klaviyoError(405, `Method ${method} is not allowed on ${apiPath}.`)], { allow: route.allowed.join(', ') });
  }
  const ep = route.endpoint;

  // 6. Revision.
  const revision = req.headers.get('revision');
  if (revision === null || !REVISION.test(revision.trim())) {
    return klaviyo(400, [
      klaviyoError(
        400,
        revision === null
          ? 'The `revision` header is required (format YYYY-MM-DD[.suffix]).'
          : `The \`revision\` header ${JSON.stringify(revision)} is invalid: expected YYYY-MM-DD[.suffix].`,
        { source: { header: 'revision' } },
      ),
    ]);
  }

  // 7. Klaviyo's limit for this account × endpoint.
  const now = opts.now();
  const limit = core.limits.checkKlaviyo(accountId, ep, now);
  if (!limit.allowed) {
    core.counters.throttledKlaviyo++;
    return finish(429, jsonResponse(429, throttledBody(limit.retryAfterS), JSON_API_TYPE, { 'retry-after': String(limit.retryAfterS) }), 'throttled');
  }
  const rl = limit.headers;

  try {
    // 8. Body.
    let body: unknown;
    if (takesBody(ep)) {
      const mediaType = (req.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
      if (!BODY_CONTENT_TYPES.has(mediaType)) {
        return klaviyo(
          415,
          [klaviyoError(415, `Unsupported media type ${JSON.stringify(mediaType)}: send ${JSON_API_TYPE}.`, { source: { header: 'content-type' } })],
          rl,
        );
      }
      if (Buffer.byteLength(bodyText, 'utf8') > KLAVIYO_LIMITS.maxRequestBytes) {
        return klaviyo(
          413,
          [klaviyoError(413, `The request body exceeds the maximum of ${KLAVIYO_LIMITS.maxRequestBytes / 1024 / 1024} MB.`, { source: { pointer: '/' } })],
          rl,
        );
      }
      const p = parseBody();
      if (!p.ok) return klaviyo(400, [klaviyoError(400, 'Malformed JSON in the request body.', { code: 'parse_error', source: { pointer: '/' } })], rl);
      body = p.value;
      const schema = validateRequestBody(operationIdOf(ep), body);
      if (!schema.ok) {
        const errors = onePerItem(ep, schema.errors).map((e) => klaviyoError(400, `${e.pointer}: ${e.message}`, { source: { pointer: e.pointer } }));
        return klaviyo(400, errors, rl);
      }
      const rules = onePerItem(ep, semanticErrors(ep, body, now));
      if (rules.length > 0) {
        return klaviyo(
          400,
          rules.map((e) => klaviyoError(400, e.detail, { source: { pointer: e.pointer } })),
          rl,
        );
      }
    }

    // 9. Handle.
    const account = core.accountFor(accountId, mode);
    core.settleJobs(account);
    const ctx: HandlerContext = {
      account,
      endpoint: ep,
      params: route.params,
      body,
      query: url.searchParams,
      linkOrigin: mode === 'gateway' ? opts.klaviyoOrigin : url.origin,
      now,
      options: opts,
      scheduleJob: (a, job) => core.scheduleJob(a, job),
      notify: (a, event) => core.notify(a, event),
    };
    const result: HandlerResult = HANDLERS[ep](ctx);
    return finish(result.status, jsonResponse(result.status, result.body, JSON_API_TYPE, rl), 'ok');
  } catch (e) {
    if (e instanceof KlaviyoHttpError)
      return klaviyo(
        e.status,
        onePerItem(ep, e.errors, (x) => x.source.pointer),
        rl,
      );
    throw e;
  }
}

function waitForEither(a: AbortSignal, b: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (a.aborted || b.aborted) return resolve();
    const done = (): void => {
      a.removeEventListener('abort', done);
      b.removeEventListener('abort', done);
      resolve();
    };
    a.addEventListener('abort', done, { once: true });
    b.addEventListener('abort', done, { once: true });
  });
}
