/**
 * Lanes: one per Klaviyo account we deliver to. Each lane has its own queues, its own batchers and
 * its own quota buckets, so a paused or throttled account never holds up another.
 *
 * Words: what the README and RELAY_CONFIG call an account (`accounts:`, a source's `account:`) is a
 * lane in the code — its name is in queue names, job data and keys, and every identifier says
 * lane. The configuration's `account` fields are read as lanes where the file is read
 * (src/sources.ts, src/runtime/service.ts). "Account" in the code means Klaviyo's own account only:
 * QuotaScope.klaviyoAccount, whose endpoint windows two lanes share when they reach the same one.
 */
import { createHash } from 'node:crypto';
import type { Config } from './config.ts';
import type { KlaviyoTarget } from './klaviyo/client.ts';
import { DEFAULT_LANE } from './queues.ts';
import type { RelayFile } from './relay-config.ts';

/** Who shares which quota bucket (see src/quota/governor.ts). */
export interface QuotaScope {
  /** Hash-safe id of the Maton API key (gateway) or of the Klaviyo key (direct): one Redis hash slot each. */
  readonly keyId: string;
  /** The Klaviyo account whose endpoint windows apply (Maton connection, or the direct key's id). */
  readonly klaviyoAccount: string;
  /** Whether the gateway's per-key limit applies. */
  readonly viaGateway: boolean;
  /**
   * The lane's weight when lanes share the gateway's 10 requests/s (RELAY_CONFIG
   * `accounts.<name>.weight`, default 1): the governor grants the key's calls in proportion.
   */
  readonly weight?: number;
}

export interface Lane {
  readonly name: string;
  readonly target: KlaviyoTarget;
  readonly scope: QuotaScope;
}

/** A quota scope's id: a short hash of the API key (Maton's or Klaviyo's), never the key itself. */
export function quotaScopeId(apiKey: string): string {
  return createHash('sha256').update(apiKey).digest('hex').slice(0, 12);
}

/** The connection the sandbox's fake gateway sees; its state in the simulator is under this id. */
export const SANDBOX_CONNECTION = 'sandbox';
export const SANDBOX_GATEWAY_KEY = 'sandbox-maton-key';
/** Where an API-only process "points" its sandbox lanes: it only needs their names and quota scopes, never calls. */
export const SANDBOX_PLACEHOLDER_URL = 'http://sandbox.invalid';

export function laneFor(name: string, target: KlaviyoTarget, weight?: number): Lane {
  const viaGateway = target.mode === 'gateway';
  const keyId = quotaScopeId(target.apiKey);
  return {
    name,
    target,
    scope: { keyId, klaviyoAccount: viaGateway ? (target.connectionId ?? 'default') : keyId, viaGateway, ...(weight === undefined ? {} : { weight }) },
  };
}

/** The single lane configured by environment variables. `sandboxUrl` is the in-process simulator's URL. */
export function defaultLane(cfg: Config, sandboxUrl?: string): Lane {
  const k = cfg.klaviyo;
  const common = { revision: k.revision, timeoutMs: k.timeoutMs };
  if (k.mode === 'gateway') {
    return laneFor(DEFAULT_LANE, { mode: 'gateway', baseUrl: k.gatewayUrl, apiKey: k.matonApiKey!, connectionId: k.connectionId, ...common });
  }
  if (k.mode === 'direct') {
    return laneFor(DEFAULT_LANE, { mode: 'direct', baseUrl: k.baseUrl, apiKey: k.apiKey!, ...common });
  }
  if (k.mode === 'none') throw new Error(`no Klaviyo credentials: ${NO_CREDENTIALS_FIX}`);
  if (!sandboxUrl) throw new Error('sandbox mode needs the simulator URL');
  return laneFor(DEFAULT_LANE, { mode: 'gateway', baseUrl: sandboxUrl, apiKey: SANDBOX_GATEWAY_KEY, connectionId: SANDBOX_CONNECTION, ...common });
}

const NO_CREDENTIALS_FIX = 'set MATON_API_KEY (+ MATON_CONNECTION_ID) or KLAVIYO_API_KEY';

/** Every lane's name: "default" and one per account in the config file (no credentials needed). */
export function laneNames(file: RelayFile): string[] {
  return [DEFAULT_LANE, ...Object.keys(file.accounts).filter((name) => name !== DEFAULT_LANE)];
}

/**
 * Why the sandbox cannot stand in for this config file: an account that names its own Maton
 * connection or Klaviyo key is meant for a real Klaviyo account, and the sandbox would swallow its
 * work. Empty when there is nothing against it.
 */
export function sandboxRefusals(file: RelayFile): string[] {
  return Object.entries(file.accounts)
    .filter(([, acct]) => acct.connection !== undefined || acct.klaviyoApiKey !== undefined)
    .map(
      ([name, acct]) =>
        `accounts.${name} names its own ${acct.klaviyoApiKey !== undefined ? 'klaviyoApiKey' : 'connection'}, but no credentials are set: ${NO_CREDENTIALS_FIX} (the sandbox would deliver its work nowhere)`,
    );
}

/** The default lane plus one per account in the config file. */
export function buildLanes(cfg: Config, file: RelayFile, sandboxUrl?: string): Lane[] {
  if (cfg.klaviyo.mode === 'sandbox') {
    const refused = sandboxRefusals(file);
    if (refused.length > 0) throw new Error(refused.join('; '));
  }
  const defaultWeight = file.accounts[DEFAULT_LANE]?.weight;
  const env = defaultLane(cfg, sandboxUrl);
  const base = defaultWeight === undefined ? env : laneFor(env.name, env.target, defaultWeight);
  const lanes = [base];
  for (const [name, acct] of Object.entries(file.accounts)) {
    if (name === DEFAULT_LANE) continue;
    if (cfg.klaviyo.mode === 'direct') {
      if (!acct.klaviyoApiKey) throw new Error(`accounts.${name}: direct mode (KLAVIYO_API_KEY) needs klaviyoApiKey for every account`);
      lanes.push(laneFor(name, { ...base.target, apiKey: acct.klaviyoApiKey }, acct.weight));
    } else {
      // Gateway mode: one Maton connection per account (the sandbox took none, above).
      if (!acct.connection && cfg.klaviyo.mode === 'gateway')
        throw new Error(`accounts.${name}: gateway mode (MATON_API_KEY) needs a connection for every account`);
      lanes.push(laneFor(name, { ...base.target, connectionId: acct.connection ?? name }, acct.weight));
    }
  }
  return lanes;
}
