/**
 * HTTP for the CLI: one JSON request helper that turns every failure into a readable CliError
 * (never a stack trace), and the relay client — where the relay is, which admin token and API key
 * to send, and what each refusal means for the person at the keyboard.
 */
import { CliError, UsageError } from './errors.ts';
import { withProgress } from './progress.ts';

export interface JsonResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The parsed body, or undefined when it is not JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: the relay's JSON answers, read field by field by the commands that asked
  readonly body: any;
  readonly text: string;
}

export interface RequestSpec {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
  readonly timeoutMs?: number;
  /** Shown after a second of waiting. */
  readonly label?: string;
}

/** Why a fetch got no answer, in words (connection refused, DNS, timeout…). */
export function networkReason(err: unknown): { code?: string; text: string } {
  const e = err as { name?: string; cause?: { code?: string; message?: string; errors?: { code?: string }[] } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return { code: 'TIMEOUT', text: 'no answer in time' };
  const cause = e?.cause;
  const code = cause?.code ?? cause?.errors?.find((x) => x.code)?.code;
  const words: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ETIMEDOUT: 'connection timed out',
    UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
    UND_ERR_SOCKET: 'connection closed',
    CERT_HAS_EXPIRED: 'TLS certificate expired',
    DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed TLS certificate',
  };
  return { code, text: (code && words[code]) ?? cause?.message ?? (err instanceof Error ? err.message : String(err)) };
}

/**
 * Sends a request and reads a JSON answer. Network failures throw `unreachable(reason)`'s
 * CliError; any HTTP status is returned for the caller to interpret.
 */
export async function requestJson(url: string, spec: RequestSpec, unreachable: (reason: string, code?: string) => CliError): Promise<JsonResponse> {
  const headers: Record<string, string> = { accept: 'application/json', ...spec.headers };
  if (spec.body !== undefined) headers['content-type'] = 'application/json';
  const run = async (): Promise<JsonResponse> => {
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method: spec.method ?? 'GET',
        headers,
        body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
        signal: AbortSignal.timeout(spec.timeoutMs ?? 30_000),
        redirect: 'manual',
      });
      text = await res.text();
    } catch (err) {
      const r = networkReason(err);
      throw unreachable(r.code === 'TIMEOUT' ? `no answer within ${Math.round((spec.timeoutMs ?? 30_000) / 1000)} s` : r.text, r.code);
    }
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, headers: res.headers, body, text };
  };
  return spec.label ? withProgress(spec.label, run) : run();
}

/** `validation_failed: The filter is not valid` plus one line per issue, from the relay's error shape. */
export function describeError(res: JsonResponse): string {
  const b = res.body as { error?: unknown; message?: unknown; issues?: { field?: string; message?: string }[] } | undefined;
  if (!b || typeof b !== 'object') return `HTTP ${res.status}${res.text ? `: ${res.text.trim().slice(0, 200)}` : ''}`;
  const head = [typeof b.error === 'string' ? b.error : undefined, typeof b.message === 'string' ? b.message : undefined].filter(Boolean).join(': ');
  const issues = Array.isArray(b.issues) ? b.issues.map((i) => `\n  - ${i.field ? `${i.field}: ` : ''}${i.message ?? ''}`).join('') : '';
  return `${head || `HTTP ${res.status}`}${issues}`;
}

// ---- the relay ----------------------------------------------------------------------------------

export interface RelayTarget {
  readonly url: string;
  readonly token: string;
  /** Where the token came from, to say what to change when it is refused. */
  readonly tokenFrom: 'flag' | 'env' | 'sandbox default';
  readonly key: string;
  readonly keyFrom: 'flag' | 'env' | 'sandbox default';
}

/** The sandbox's documented defaults, from src/config.ts (loaded only when needed: it pulls in zod). */
async function sandboxDefaults(): Promise<{ token: string; key: string }> {
  const { SANDBOX_ADMIN_TOKEN, SANDBOX_DEV_KEY } = await import('../config.ts');
  return { token: SANDBOX_ADMIN_TOKEN, key: SANDBOX_DEV_KEY };
}

export async function relayTarget(values: { url?: string; token?: string; key?: string }, env: NodeJS.ProcessEnv, command: string): Promise<RelayTarget> {
  const set = (v: string | undefined) => (v !== undefined && v.trim() !== '' ? v.trim() : undefined);
  const url = (set(values.url) ?? set(env['RELAY_URL']) ?? `http://127.0.0.1:${set(env['PORT']) ?? '3000'}`).replace(/\/+$/, '');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${values.url ? '--url' : 'RELAY_URL'} is not a URL: ${JSON.stringify(url)} (e.g. http://127.0.0.1:3000)`, command);
  }
  if (!/^https?:$/.test(parsed.protocol))
    throw new UsageError(`${values.url ? '--url' : 'RELAY_URL'} must be an http:// or https:// URL (got ${url})`, command);
  const envKey = set(env['RELAY_API_KEYS'])
    ?.split(',')
    .map((k) => k.trim())
    .find((k) => k !== '');
  const token = set(values.token) ?? set(env['RELAY_ADMIN_TOKEN']);
  const key = set(values.key) ?? envKey;
  const sandbox = token === undefined || key === undefined ? await sandboxDefaults() : undefined;
  return {
    url,
    token: token ?? sandbox!.token,
    tokenFrom: set(values.token) ? 'flag' : token ? 'env' : 'sandbox default',
    key: key ?? sandbox!.key,
    keyFrom: set(values.key) ? 'flag' : key ? 'env' : 'sandbox default',
  };
}

function notReachable(t: RelayTarget) {
  return (reason: string) => new CliError(`relay API not reachable at ${t.url} (${reason}): start it with \`npm start\` or set RELAY_URL`);
}

/**
 * Calls the relay. `auth: 'admin'` sends the admin token (the /ops routes), `'key'` the API key
 * (/v1), `'none'` nothing (/readyz). Refusals become CliErrors saying what to set; other non-2xx
 * answers too, unless listed in `accept`.
 */
export async function relay(
  t: RelayTarget,
  path: string,
  spec: RequestSpec & { auth: 'admin' | 'key' | 'none'; accept?: readonly number[] },
): Promise<JsonResponse> {
  const headers: Record<string, string> = { ...spec.headers };
  if (spec.auth === 'admin') headers['authorization'] = `Bearer ${t.token}`;
  if (spec.auth === 'key') headers['authorization'] = `Bearer ${t.key}`;
  const res = await requestJson(`${t.url}${path}`, { ...spec, headers, label: spec.label ?? 'waiting for the relay' }, notReachable(t));
  if ((res.status >= 200 && res.status < 300) || spec.accept?.includes(res.status)) {
    if (res.body === undefined && res.status !== 204) {
      throw new CliError(`unexpected answer from ${t.url}${path} (HTTP ${res.status}, not JSON): is RELAY_URL pointing at the relay?`);
    }
    return res;
  }
  throw relayError(t, res);
}

export function relayError(t: RelayTarget, res: JsonResponse): CliError {
  const code = (res.body as { error?: string } | undefined)?.error;
  if (res.status === 503 && code === 'ops_disabled') {
    return new CliError(
      `the relay's operations API is off (no admin token configured): set RELAY_ADMIN_TOKEN (at least 12 characters) where the relay runs, restart it, and give the CLI the same token (RELAY_ADMIN_TOKEN or --token)`,
    );
  }
  if (res.status === 401 && code === 'admin_unauthorized') {
    const hint = t.tokenFrom === 'sandbox default' ? ` (none was given, so the sandbox's ${t.token} was tried)` : '';
    return new CliError(`the admin token was refused${hint}: set RELAY_ADMIN_TOKEN or pass --token`);
  }
  if (res.status === 401) {
    const hint = t.keyFrom === 'sandbox default' ? ` (none was given, so the sandbox's ${t.key} was tried)` : '';
    return new CliError(`the API key was refused${hint}: set RELAY_API_KEYS (the CLI uses the first key) or pass --key`);
  }
  if (res.status === 404 && res.body === undefined) return new CliError(`${t.url} answered 404 (not JSON): is RELAY_URL pointing at the relay?`);
  return new CliError(`the relay answered ${res.status}: ${describeError(res)}`);
}
