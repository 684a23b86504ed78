/**
 * `relay webhooks topics|list|create|rotate|delete|test`: Klaviyo system-webhook subscriptions,
 * through the relay's /ops/webhooks (admin token). The relay makes the secrets, keeps them (in its
 * Redis, so every relay process accepts them at once) and paces Klaviyo's calls (1/s, 15/min): a
 * command may wait for its turn, it is not refused.
 */
import { onePositional, noPositionals, parse, parseDuration, subcommand } from './args.ts';
import { CliError, UsageError } from './errors.ts';
import { clip, duration, mark, note, out, outJson, table, time } from './format.ts';
import { describeError, relay, relayTarget, type JsonResponse, type RelayTarget } from './http.ts';

/** Longer than the relay's own wait for Klaviyo's quota (75 s, routes/ops-webhooks.ts). */
const TIMEOUT_MS = 120_000;
const LABEL = "waiting for Klaviyo's Webhooks API (1 call/s, 15/min)";

interface SecretView {
  fingerprint: string;
  addedAt: string;
  retiresAt?: string;
}

interface WebhookView {
  id: string;
  name: string;
  endpointUrl: string;
  url?: string;
  enabled: boolean;
  topics: string[];
  lane: string;
  ours: boolean;
  secrets: SecretView[];
  deliveries: { verified: number; refused: number };
  createdAt: string | null;
}

const LANE_OPTION = { lane: { type: 'string' } } as const;

function checkLane(lane: string | undefined, cmd: string): string | undefined {
  if (lane !== undefined && !/^[a-z0-9][a-z0-9_-]{0,31}$/.test(lane))
    throw new UsageError(`${JSON.stringify(lane)} is not a lane name (a-z, 0-9, _ and -)`, cmd);
  return lane;
}

function checkId(id: string, cmd: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new UsageError(`${JSON.stringify(id)} does not look like a webhook id (relay webhooks list shows them)`, cmd);
  return id;
}

/** The relay's answers that mean something to say in words; the rest as relay() says them. */
async function call(t: RelayTarget, path: string, spec: { method?: string; body?: unknown }): Promise<JsonResponse> {
  const res = await relay(t, path, { ...spec, auth: 'admin', timeoutMs: TIMEOUT_MS, label: LABEL, accept: [400, 403, 404, 409, 502, 503] });
  if (res.status >= 200 && res.status < 300) return res;
  const b = res.body as { error?: string; message?: string } | undefined;
  if (b?.error === 'webhooks_not_enabled') throw new CliError(b.message ?? 'this Klaviyo account has no access to system webhooks');
  if (res.status === 404 && b?.message) throw new CliError(b.message);
  if (b?.error === 'quota_wait') throw new CliError(`${b.message}: try again in ${res.headers.get('retry-after') ?? 'a minute'} s`);
  if (res.status === 503 && b?.error === 'ops_disabled') throw new CliError(describeError(res));
  throw new CliError(describeError(res));
}

const lanePart = (lane: string | undefined) => (lane ? `?lane=${encodeURIComponent(lane)}` : '');

function secretsText(w: Pick<WebhookView, 'secrets' | 'ours'>, now = Date.now()): string {
  if (!w.ours) return '—';
  const retiring = w.secrets.filter((s) => s.retiresAt).map((s) => Date.parse(s.retiresAt!));
  if (w.secrets.length < 2 || retiring.length === 0) return String(w.secrets.length);
  return `${w.secrets.length} (rotating: old retires in ${duration(Math.max(0, Math.min(...retiring) - now))})`;
}

async function topics(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const cmd = 'webhooks topics';
  const { values, positionals } = parse(argv, LANE_OPTION, cmd);
  noPositionals(positionals, cmd);
  const t = await relayTarget(values, env, cmd);
  const res = await call(t, `/ops/webhooks/topics${lanePart(checkLane(values.lane, cmd))}`, {});
  const list = (res.body as { topics: string[] }).topics;
  if (values.json) outJson(res.body);
  else {
    for (const topic of list) out(topic);
    note(`${list.length} topics. Subscribe: relay webhooks create --url https://<public host>/webhooks/klaviyo --topics <topic>,<topic>`);
  }
  return 0;
}

async function list(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const cmd = 'webhooks list';
  const { values, positionals } = parse(argv, LANE_OPTION, cmd);
  noPositionals(positionals, cmd);
  const t = await relayTarget(values, env, cmd);
  const res = await call(t, `/ops/webhooks${lanePart(checkLane(values.lane, cmd))}`, {});
  const hooks = (res.body as { webhooks: WebhookView[] }).webhooks;
  if (values.json) {
    outJson(res.body);
    return 0;
  }
  if (hooks.length === 0) {
    out('No webhooks in this Klaviyo account. Create one: relay webhooks create --url https://<public host>/webhooks/klaviyo --topics <topics>');
    return 0;
  }
  out(
    table(
      [
        { header: 'id' },
        { header: 'name' },
        { header: 'enabled' },
        { header: 'this relay' },
        { header: 'secrets' },
        { header: 'verified', align: 'right' },
        { header: 'refused', align: 'right' },
        { header: 'url' },
        { header: 'topics' },
      ],
      hooks.map((w) => [
        w.id,
        clip(w.name, 24),
        w.enabled ? 'yes' : 'no',
        w.ours ? 'yes' : 'no (no secret here)',
        secretsText(w),
        String(w.deliveries.verified),
        String(w.deliveries.refused),
        w.url ?? w.endpointUrl,
        w.topics.map((x) => x.replace(/^event:klaviyo\./, '')).join(','),
      ]),
    ),
  );
  if (hooks.some((w) => !w.ours))
    note(
      '\nA webhook without a secret here was made elsewhere: its deliveries verify only with a secret in klaviyoWebhooks.secrets of RELAY_CONFIG, or after `relay webhooks rotate <id>`.',
    );
  return 0;
}

/** Rules to paste under `rules:` in RELAY_CONFIG, one per topic (createEvent, the action that shows in Klaviyo). */
function ruleScaffold(topics: readonly string[]): string {
  const lines = ['rules: # in RELAY_CONFIG; actions: addToList, removeFromList, updateProfile, createEvent'];
  for (const topic of topics) {
    const words = topic.replace(/^event:[a-z]+\./, '').replace(/_/g, ' ');
    lines.push(`  - on: { topic: "${topic}" }`);
    lines.push(`    do: [{ createEvent: { metric: "${words[0]!.toUpperCase()}${words.slice(1)} (relay)" } }]`);
  }
  return lines.join('\n');
}

function printSecret(id: string, value: string | undefined): void {
  if (!value) return;
  const name = `KLAVIYO_WEBHOOK_SECRET_${id}`;
  out();
  out('The secret, shown this once (the relay keeps it; print it only to keep a copy, e.g. in your secret store):');
  out(`  ${name}=${value}`);
  out(`To have a relay without this Redis accept it too, add to RELAY_CONFIG: klaviyoWebhooks: { secrets: [env:${name}] }`);
}

async function create(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const cmd = 'webhooks create';
  const { values, positionals } = parse(
    argv,
    {
      ...LANE_OPTION,
      url: { type: 'string' },
      topics: { type: 'string' },
      name: { type: 'string' },
      description: { type: 'string' },
      'show-secret': { type: 'boolean' },
      rules: { type: 'boolean' },
    },
    cmd,
  );
  noPositionals(positionals, cmd);
  // Elsewhere --url is the relay's; here (as the issue has it) the public URL Klaviyo delivers to, and
  // the relay is RELAY_URL.
  const url = values.url?.trim();
  if (!url) throw new UsageError('give --url: the public https URL Klaviyo will POST to, e.g. https://relay.example.com/webhooks/klaviyo', cmd);
  const list = (values.topics ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw new UsageError('give --topics: comma-separated topic ids (relay webhooks topics lists them)', cmd);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url is not a URL: ${JSON.stringify(url)}`, cmd);
  }
  const t = await relayTarget({ token: values.token, key: values.key }, env, cmd);
  const res = await call(t, '/ops/webhooks', {
    method: 'POST',
    body: {
      url,
      topics: list,
      ...(values.name ? { name: values.name } : {}),
      ...(values.description ? { description: values.description } : {}),
      ...(values.lane ? { lane: checkLane(values.lane, cmd) } : {}),
      reveal: values['show-secret'] === true,
    },
  });
  const { webhook, secret } = res.body as { webhook: WebhookView; secret: { fingerprint: string; value?: string } };
  if (values.json) {
    outJson(values.rules ? { ...res.body, rules: ruleScaffold(webhook.topics) } : res.body);
    return 0;
  }
  out(`Created webhook ${webhook.id} (${webhook.name}) on lane ${webhook.lane}: Klaviyo POSTs ${webhook.topics.join(', ')} to ${url}`);
  out(`The relay made its secret and keeps it (fingerprint ${secret.fingerprint}); every relay process accepts it now.`);
  if (!parsed.pathname.endsWith('/webhooks/klaviyo'))
    note(
      `${mark.warn(process.stderr)} the relay receives Klaviyo's webhooks at /webhooks/klaviyo; ${parsed.pathname} must reach it there (a proxy rewriting the path?)`,
    );
  printSecret(webhook.id, secret.value);
  if (values.rules) {
    out();
    out(ruleScaffold(webhook.topics));
  }
  out();
  out(`Next: relay webhooks test ${webhook.id}   (a signed delivery to ${url} must reach this relay and verify)`);
  return 0;
}

async function rotate(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const cmd = 'webhooks rotate';
  const { values, positionals } = parse(argv, { ...LANE_OPTION, grace: { type: 'string' }, 'show-secret': { type: 'boolean' } }, cmd);
  const id = checkId(onePositional(positionals, 'webhook id (relay webhooks list shows them)', cmd), cmd);
  let grace: number | undefined;
  if (values.grace !== undefined) {
    const ms = /^\d+$/.test(values.grace.trim()) ? Number(values.grace) * 1000 : parseDuration(values.grace);
    if (ms === undefined || ms > 7 * 86_400_000)
      throw new UsageError(`--grace takes a duration up to 7d (90s, 10m, 1h) or seconds; got ${JSON.stringify(values.grace)}`, cmd);
    grace = Math.round(ms / 1000);
  }
  const t = await relayTarget(values, env, cmd);
  const res = await call(t, `/ops/webhooks/${id}/rotate`, {
    method: 'POST',
    body: { ...(grace !== undefined ? { grace } : {}), ...(values.lane ? { lane: checkLane(values.lane, cmd) } : {}), reveal: values['show-secret'] === true },
  });
  const body = res.body as { webhook: WebhookView; secret: { fingerprint: string; value?: string }; retiring: SecretView[] };
  if (values.json) {
    outJson(body);
    return 0;
  }
  out(`Rotated webhook ${id}: the relay accepts the new secret (${body.secret.fingerprint}), and Klaviyo now signs with it.`);
  for (const r of body.retiring)
    out(
      `The old secret (${r.fingerprint}) is still accepted until ${time(r.retiresAt)} (in ${duration(Math.max(0, Date.parse(r.retiresAt!) - Date.now()))}), or until a minute after the first delivery signed with the new one.`,
    );
  if (body.retiring.length === 0)
    out('The relay held no older secret of it: if the old one is in klaviyoWebhooks.secrets of RELAY_CONFIG, remove it from there once deliveries verify.');
  printSecret(id, body.secret.value);
  return 0;
}

async function remove(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const cmd = 'webhooks delete';
  const { values, positionals } = parse(argv, LANE_OPTION, cmd);
  const id = checkId(onePositional(positionals, 'webhook id (relay webhooks list shows them)', cmd), cmd);
  const t = await relayTarget(values, env, cmd);
  const res = await call(t, `/ops/webhooks/${id}`, { method: 'DELETE', body: values.lane ? { lane: checkLane(values.lane, cmd) } : {} });
  const body = res.body as { deleted: string; atKlaviyo: boolean };
  if (values.json) outJson(body);
  else
    out(
      body.atKlaviyo
        ? `Deleted webhook ${id}: Klaviyo no longer sends it, and the relay forgot its secrets.`
        : `Klaviyo had no webhook ${id}; the relay forgot its secrets.`,
    );
  return 0;
}

interface SelfTest {
  webhook: string;
  url: string;
  ok: boolean;
  status: number | null;
  ms: number;
  secret: string;
  problem?: string;
}

export function describeTest(r: SelfTest): string {
  return r.ok
    ? `a signed delivery to ${r.url} reached this relay and verified (${r.status} in ${duration(r.ms)}, secret ${r.secret})`
    : `a signed delivery to ${r.url} did not verify: ${r.problem ?? `HTTP ${r.status}`}`;
}

async function test(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const cmd = 'webhooks test';
  const { values, positionals } = parse(argv, {}, cmd);
  const id = checkId(onePositional(positionals, 'webhook id (relay webhooks list shows them)', cmd), cmd);
  const t = await relayTarget(values, env, cmd);
  const res = await call(t, `/ops/webhooks/${id}/test`, { method: 'POST', body: {} });
  const r = (res.body as { test: SelfTest }).test;
  if (values.json) outJson(res.body);
  else out(`${r.ok ? mark.ok() : mark.fail()} ${describeTest(r)}`);
  return r.ok ? 0 : 1;
}

const SUBS = 'topics, list, create, rotate, delete or test';

export async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { sub, rest } = subcommand(argv);
  switch (sub) {
    case 'topics':
      return topics(rest, env);
    case 'list':
    case 'ls':
      return list(rest, env);
    case 'create':
      return create(rest, env);
    case 'rotate':
      return rotate(rest, env);
    case 'delete':
    case 'rm':
      return remove(rest, env);
    case 'test':
      return test(rest, env);
    case undefined:
      throw new UsageError(`give a subcommand: ${SUBS}`, 'webhooks');
    default:
      throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}: ${SUBS}`, 'webhooks');
  }
}
