/**
 * The optional config file (`RELAY_CONFIG`, JSON or YAML): several Klaviyo accounts, several
 * sources, Klaviyo's webhooks and flow webhooks, and the rules that turn webhooks into work.
 * Validated with zod when the service starts; every problem is reported at once with its path.
 *
 * Secrets are never required inline: any secret may be written `env:NAME` to read it from the
 * environment. Source keys are stored as SHA-256 digests only (`printf %s "$KEY" | sha256sum`).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ENDPOINTS, GATEWAY_REQUESTS_PER_SECOND, KLAVIYO_ID, type EndpointName } from './klaviyo/endpoints.ts';
import { signingKey } from './webhooks/standard-webhooks.ts';
import { PRIORITY_CLASSES } from './priority.ts';

const NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const name = (what: string) => z.string().regex(NAME, `${what} names use a-z, 0-9, _ and - (at most 32)`);
/** A secret, or `env:NAME` to take it from the environment (resolved below). */
const secret = z.string().min(1);
/** Shared secrets (Klaviyo webhooks, flow headers) are compared or HMAC keys: short ones are guessable. */
export const MIN_SHARED_SECRET_LENGTH = 16;
const sharedSecret = secret.min(MIN_SHARED_SECRET_LENGTH, `use at least ${MIN_SHARED_SECRET_LENGTH} characters: a random secret (e.g. openssl rand -hex 32)`);
/** A Standard Webhooks secret: `whsec_` + base64 of at least 24 bytes (checked without echoing it). */
const signingSecret = secret.superRefine((s, ctx) => {
  const k = signingKey(s);
  if ('problem' in k) ctx.addIssue({ code: 'custom', message: k.problem });
});
const listId = z.string().regex(KLAVIYO_ID, 'must be a Klaviyo list id');

const AccountSchema = z
  .object({
    /** Gateway (and sandbox) mode: the Maton connection for this Klaviyo account. */
    connection: z.string().min(1).optional(),
    /** Direct mode: this account's Klaviyo private key. */
    klaviyoApiKey: secret.optional(),
    /**
     * Its share of a Maton key's 10 requests/s when several accounts on the key are busy
     * (default 1; src/quota/governor.ts grants the key's calls in proportion to the weights).
     */
    weight: z.number().min(0.01, 'must be at least 0.01').max(1000, 'must be at most 1000').optional(),
  })
  .strict()
  .refine(
    (a) => a.connection !== undefined || a.klaviyoApiKey !== undefined || a.weight !== undefined,
    'needs `connection` (gateway) or `klaviyoApiKey` (direct)',
  );
// `weight` alone is for `accounts.default` (the account the environment configures): checked in parseRelayConfig.

/**
 * Per-source limits at ingest (src/ingest/source-limits.ts). `eventsPerSecond` counts items — events,
 * order events, profile operations, list members, webhook items — with a burst allowance of `burst`
 * items (default: one second's worth); `queuedBytes` bounds the bytes of the source's request bodies
 * accepted and not yet delivered. Over either: 429 with Retry-After.
 */
const IngestLimitsSchema = z
  .object({
    eventsPerSecond: z.number().positive().max(1_000_000).optional(),
    burst: z.number().int().min(1).max(100_000_000).optional(),
    queuedBytes: z
      .number()
      .int()
      .min(1)
      .max(2 ** 50)
      .optional(),
  })
  .strict()
  .refine((l) => l.burst === undefined || l.eventsPerSecond !== undefined, {
    message: 'needs `eventsPerSecond` (the burst is part of the rate limit)',
    path: ['burst'],
  });

/**
 * The Segment/RudderStack tracking API (src/tracking/map.ts) per source: metric names to rename,
 * whether page/screen calls become events, and whether group calls become list memberships.
 */
const TrackingSchema = z
  .object({
    rename: z
      .record(z.string().min(1).max(255), z.string().trim().min(1, 'must name the metric').max(127, 'must be at most 127 characters'))
      .default({})
      .refine((r) => !Object.keys(r).some((k) => k.trim().toLowerCase() === 'order completed'), {
        message: '"Order Completed" always becomes Placed Order + Ordered Product (like /v1/orders) and cannot be renamed',
      }),
    pages: z.boolean().default(true),
    groups: z.enum(['lists', 'ignore']).default('ignore'),
  })
  .strict();

const SourceSchema = z
  .object({
    name: name('source'),
    /** SHA-256 (hex) of each bearer key this source may use; several allow rotation. */
    keySha256: z
      .union([z.string(), z.array(z.string()).min(1)])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .pipe(z.array(z.string().regex(/^[0-9a-f]{64}$/i, 'must be a SHA-256 hex digest (64 hex characters)')))
      .optional(),
    /** Standard Webhooks signing secret(s) (`whsec_…`), as an alternative to bearer keys. */
    signingSecret: z
      .union([signingSecret, z.array(signingSecret).min(1)])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .optional(),
    account: name('account').default('default'),
    limits: IngestLimitsSchema.optional(),
    /** The class of this source's work unless a request says otherwise (src/priority.ts); default live. */
    priority: z.enum(PRIORITY_CLASSES).optional(),
    /** Within a class, sources are served round-robin by weight (default 1). */
    weight: z.number().min(0.01, 'must be at least 0.01').max(1000, 'must be at most 1000').optional(),
    /** Segment/RudderStack tracking API settings (README "Coming from Segment or RudderStack"). */
    tracking: TrackingSchema.optional(),
  })
  .strict()
  .refine((s) => s.keySha256 !== undefined || s.signingSecret !== undefined, 'needs `keySha256` or `signingSecret`');

const KlaviyoWebhooksSchema = z
  .object({
    /** Every secret accepted (rotation: old and new). */
    secrets: z.array(sharedSecret).min(1),
    toleranceSeconds: z.number().int().min(1).max(86_400).default(300),
    account: name('account').default('default'),
    limits: IngestLimitsSchema.optional(),
  })
  .strict();

const FlowSchema = z
  .object({
    /** The header Klaviyo's flow webhook action sends the shared secret in. */
    header: z
      .string()
      .regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name')
      .default('X-Relay-Secret'),
    secret: sharedSecret,
    account: name('account').default('default'),
    limits: IngestLimitsSchema.optional(),
  })
  .strict();

const Predicate = z
  .object({
    equals: z.unknown().optional(),
    notEquals: z.unknown().optional(),
    in: z.array(z.unknown()).optional(),
    exists: z.boolean().optional(),
    contains: z.string().optional(),
    gt: z.number().optional(),
    gte: z.number().optional(),
    lt: z.number().optional(),
    lte: z.number().optional(),
  })
  .strict()
  .refine((p) => Object.keys(p).length > 0, 'needs a test: equals, notEquals, in, exists, contains, gt, gte, lt or lte');

const ActionSchema = z.union([
  z.object({ addToList: listId }).strict(),
  z.object({ removeFromList: listId }).strict(),
  z.object({ updateProfile: z.object({ properties: z.record(z.string(), z.unknown()) }).strict() }).strict(),
  z
    .object({
      createEvent: z
        .object({ metric: z.string().min(1).max(127), properties: z.record(z.string(), z.unknown()).optional(), value: z.number().optional() })
        .strict(),
    })
    .strict(),
]);

const RuleSchema = z
  .object({
    name: z.string().optional(),
    on: z.union([z.object({ topic: z.string().min(1) }).strict(), z.object({ flow: name('flow') }).strict()]),
    /** Every condition must hold. Keys are dotted paths into the webhook item: `properties.Campaign Name`, `payload.data.id`, `body.tier`. */
    when: z.record(z.string().min(1), Predicate).optional(),
    do: z.array(ActionSchema).min(1),
  })
  .strict();

const WindowLimit = z.object({ burst: z.number().int().min(1), steady: z.number().int().min(1) }).strict();

/** Overrides of the documented rate limits (e.g. an account with a raised quota, or a test rig). */
const LimitsSchema = z
  .object({
    gatewayPerSecond: z.number().int().min(1).optional(),
    /** The gateway window's margin over 1 s (src/quota/governor.ts GATEWAY_MARGIN_MS): smaller packs a key tighter. */
    gatewayMarginMs: z.number().int().min(0).max(1000).optional(),
    endpoints: z.partialRecord(z.enum(Object.keys(ENDPOINTS) as [EndpointName, ...EndpointName[]]), WindowLimit).optional(),
  })
  .strict();

/**
 * Priority classes (issue 12): live work first, bulk (imports, backfills, replays) with a
 * guaranteed minimum share of every quota bucket. `enabled: false` classes everything live: the
 * old first-come-first-served order. See src/quota/governor.ts for what the numbers do.
 */
const PrioritiesSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Bulk's minimum share of each quota bucket while live also wants it. */
    bulkMinShare: z.number().min(0).max(0.9).default(0.2),
    /** Gateway requests per second that bulk leaves to live (checked against the gateway's limit below). */
    liveGatewayReserve: z.number().int().min(0).default(2),
  })
  .strict();

const FileSchema = z
  .object({
    limits: LimitsSchema.default({}),
    // prefault, not default: zod 4 would return a default object as is, without the fields' defaults.
    priorities: PrioritiesSchema.prefault({}),
    accounts: z.record(name('account'), AccountSchema).default({}),
    sources: z.array(SourceSchema).default([]),
    klaviyoWebhooks: KlaviyoWebhooksSchema.optional(),
    flows: z.record(name('flow'), FlowSchema).default({}),
    rules: z.array(RuleSchema).default([]),
  })
  .strict();

export type RelayFile = z.infer<typeof FileSchema>;
export type Rule = z.infer<typeof RuleSchema>;
export type RulePredicate = z.infer<typeof Predicate>;
export type IngestLimits = z.infer<typeof IngestLimitsSchema>;
export type TrackingSettings = z.infer<typeof TrackingSchema>;

export class RelayConfigError extends Error {
  constructor(
    readonly path: string,
    readonly problems: string[],
  ) {
    super(`Invalid config file ${path}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'RelayConfigError';
  }
}

export const EMPTY_RELAY_FILE: RelayFile = FileSchema.parse({});

/** Reads, parses and validates the file; resolves `env:NAME` secrets from `env`. */
export function loadRelayConfig(path: string, env: NodeJS.ProcessEnv): RelayFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RelayConfigError(path, [`cannot read it: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = /\.json$/i.test(path) ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new RelayConfigError(path, [`not valid ${/\.json$/i.test(path) ? 'JSON' : 'YAML'}: ${(err as Error).message}`]);
  }
  return parseRelayConfig(raw ?? {}, env, path);
}

export function parseRelayConfig(raw: unknown, env: NodeJS.ProcessEnv, path = '(config)'): RelayFile {
  const problems: string[] = [];
  const resolved = resolveSecrets(raw, env, [], problems);
  const parsed = FileSchema.safeParse(resolved);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  } else {
    const cfg = parsed.data;
    const accounts = new Set(['default', ...Object.keys(cfg.accounts)]);
    const refs: [string, string][] = [
      ...cfg.sources.map((s, i): [string, string] => [`sources.${i}.account`, s.account]),
      ...(cfg.klaviyoWebhooks ? [['klaviyoWebhooks.account', cfg.klaviyoWebhooks.account] as [string, string]] : []),
      ...Object.entries(cfg.flows).map(([n, f]): [string, string] => [`flows.${n}.account`, f.account]),
    ];
    for (const [where, acct] of refs) if (!accounts.has(acct)) problems.push(`${where}: no account named "${acct}" (known: ${[...accounts].join(', ')})`);
    for (const [n, a] of Object.entries(cfg.accounts))
      if (n !== 'default' && a.connection === undefined && a.klaviyoApiKey === undefined)
        problems.push(`accounts.${n}: needs \`connection\` (gateway) or \`klaviyoApiKey\` (direct); only \`default\` may set \`weight\` alone`);
    const names = cfg.sources.map((s) => s.name);
    for (const n of new Set(names)) if (names.filter((x) => x === n).length > 1) problems.push(`sources: the name "${n}" is used twice`);
    const gateway = cfg.limits.gatewayPerSecond ?? GATEWAY_REQUESTS_PER_SECOND;
    if (cfg.priorities.liveGatewayReserve > gateway - 1)
      problems.push(`priorities.liveGatewayReserve: at most ${gateway - 1} (the gateway's ${gateway} requests/s − 1: bulk keeps at least one)`);
    cfg.rules.forEach((r, i) => {
      if ('flow' in r.on && !(r.on.flow in cfg.flows)) problems.push(`rules.${i}.on.flow: no flow named "${r.on.flow}" under flows`);
    });
    if (problems.length === 0) return cfg;
  }
  throw new RelayConfigError(path, problems);
}

/** Replaces every string `env:NAME` with that variable's value, noting the missing ones. */
function resolveSecrets(node: unknown, env: NodeJS.ProcessEnv, path: (string | number)[], problems: string[]): unknown {
  if (typeof node === 'string') {
    const m = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(node);
    if (!m) return node;
    const v = env[m[1]!];
    if (v === undefined || v === '') problems.push(`${path.join('.')}: environment variable ${m[1]} is not set`);
    return v ?? '';
  }
  if (Array.isArray(node)) return node.map((v, i) => resolveSecrets(v, env, [...path, i], problems));
  if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, resolveSecrets(v, env, [...path, k], problems)]));
  return node;
}
