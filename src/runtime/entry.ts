/**
 * What the three entry points share: read the environment, make sure Redis answers (or start a
 * private one), start the sandbox where it is wanted (see chooseMode in config.ts), run the
 * service, print a banner, and shut down cleanly on SIGTERM/SIGINT (exit 0).
 */
import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { forkApiProcesses, runApiChild } from './api-processes.ts';
import { createLogger } from '../log.ts';
import { clusterNodes } from '../redis.ts';
import { Metrics } from '../metrics.ts';
import { serveMetrics } from './metrics-server.ts';
import { loadRelayConfig, RelayConfigError, type RelayFile } from '../relay-config.ts';
import { sandboxRefusals } from '../lanes.ts';
import { maskUrlCredentials, redactSecrets } from '../mask-secrets.ts';
import { ensureRedis, RedisUnavailableError, type PrivateRedis } from './ensure-redis.ts';
import type { Sandbox } from './sandbox.ts';
import { startService, type Service } from './service.ts';
import { startTracing } from '../tracing/setup.ts';

export interface EntryRoles {
  readonly api: boolean;
  readonly workers: boolean;
}

export async function runEntry(requested: EntryRoles): Promise<void> {
  // A forked API process (RELAY_API_PROCESSES > 1) runs the API only; its primary did the rest.
  if (cluster.isWorker) return runApiChild();
  let roles = requested;
  // Whatever a start-up error quotes (a URL, a client library's message), no secret of ours goes with it.
  function fail(message: string): never {
    process.stderr.write(`klaviyo-relay: ${redactSecrets(message, process.env)}\n`);
    process.exit(1);
  }
  let config: Config;
  try {
    config = loadConfig(process.env, requested);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  let file: RelayFile | undefined;
  if (config.relayConfigPath) {
    try {
      file = loadRelayConfig(config.relayConfigPath, process.env);
    } catch (err) {
      if (err instanceof RelayConfigError) fail(err.message);
      throw err;
    }
  }
  if (config.klaviyo.mode === 'sandbox' && file) {
    const refused = sandboxRefusals(file);
    if (refused.length > 0) fail(`Invalid configuration:\n${refused.map((p) => `  - ${p}`).join('\n')}`);
  }
  const log = createLogger(config.logLevel, { pii: config.logPii });
  const metrics = new Metrics();
  // OTEL_* settings (src/config.ts): before the service, which builds its app and ingest traced or not.
  const tracing = config.tracing ? startTracing(config.tracing) : undefined;

  let privateRedis: PrivateRedis | undefined;
  try {
    // A cluster is the operator's to run; a plain local URL may get a private redis-server, unless
    // credentials are set (they name a Redis someone runs with them). TLS or remote URLs are not
    // probed here: startService's verifyRedis connects as the service will and says what is wrong.
    const mayStart = config.startRedis && !config.redis.username && !config.redis.password;
    privateRedis = clusterNodes(config.redisUrl, config.redisClusterNodes) ? undefined : await ensureRedis(config.redisUrl, mayStart);
  } catch (err) {
    if (err instanceof RedisUnavailableError) fail(err.message);
    throw err;
  }

  // The sandbox is needed where Klaviyo is called (workers); the API alone never calls Klaviyo.
  // Loaded only here: a production process never loads the simulator.
  let sandbox: Sandbox | undefined;
  if (config.klaviyo.mode === 'sandbox' && roles.workers) sandbox = await (await import('./sandbox.ts')).startSandbox(config.sandboxPort);

  // Several API processes: they share the port through node:cluster; this process keeps the
  // workers (and the sandbox) and supervises them. An API process alone would never pick the
  // sandbox, so it is told when this one did.
  const forkEnv: Record<string, string> = config.klaviyo.mode === 'sandbox' ? { RELAY_SANDBOX: 'true' } : {};
  const forked = roles.api && config.apiProcesses > 1 ? forkApiProcesses(config.apiProcesses, log, forkEnv) : undefined;
  if (forked) roles = { api: false, workers: roles.workers };

  let service: Service;
  try {
    service = await startService({ config, log, ...roles, file, sandboxUrl: sandbox?.url, sandboxView: sandbox?.view, metrics });
  } catch (err) {
    await sandbox?.close();
    await privateRedis?.stop();
    fail(`could not start: ${err instanceof Error ? err.message : String(err)}`);
  }

  // Workers without the API here: their metrics get a port of their own.
  const metricsServer = roles.workers && !roles.api ? await serveMetrics(metrics, config.metricsPort, config.metricsHost, config.metricsToken, log) : undefined;
  const metricsAddress = metricsServer?.address() as AddressInfo | null | undefined;
  const url = forked ? await forked.listening : service.url;
  process.stderr.write(banner(config, requested, url, sandbox, privateRedis, forked ? config.apiProcesses : 1, metricsAddress ?? undefined));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    try {
      await forked?.stop(config.shutdownTimeoutMs);
      await service.close();
      metricsServer?.close();
      await sandbox?.close();
      await privateRedis?.stop();
      await tracing?.shutdown().catch((err: unknown) => log.warn({ err }, 'could not send the last spans'));
      log.info('stopped');
      process.exit(0);
    } catch (err) {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

function banner(
  config: Config,
  roles: EntryRoles,
  url: string | undefined,
  sandbox: Sandbox | undefined,
  privateRedis: PrivateRedis | undefined,
  apiProcesses: number,
  metricsAt?: AddressInfo,
): string {
  const lines: string[] = [''];
  const what = roles.api && roles.workers ? 'API + workers' : roles.api ? 'API' : 'workers';
  lines.push(`klaviyo-relay ${what} running (pid ${process.pid})`);
  if (url) lines.push(`  listening on ${url}${apiProcesses > 1 ? ` (${apiProcesses} API processes)` : ''}`);
  if (config.tracing) lines.push(`  traces: OTLP to ${maskUrlCredentials(config.tracing.url, { whole: true })} as ${config.tracing.serviceName}`);
  if (metricsAt)
    lines.push(
      `  metrics on http://${metricsAt.family === 'IPv6' ? `[${metricsAt.address}]` : metricsAt.address}:${metricsAt.port}/metrics${config.metricsToken ? ' (RELAY_METRICS_TOKEN required)' : ''}`,
    );
  lines.push(
    `  redis: ${maskUrlCredentials(config.redisUrl, { whole: true })}${privateRedis ? ` (private redis-server started here, pid ${privateRedis.pid}, data in ./.data/redis)` : ''}`,
  );
  const k = config.klaviyo;
  if (k.mode === 'gateway')
    lines.push(
      `  klaviyo: via the Maton gateway ${maskUrlCredentials(k.gatewayUrl, { whole: true })}${k.connectionId ? `, connection ${k.connectionId}` : ' (no MATON_CONNECTION_ID: the gateway picks the default connection)'}`,
    );
  if (k.mode === 'direct') lines.push(`  klaviyo: direct to ${maskUrlCredentials(k.baseUrl, { whole: true })} with a private API key`);
  if (k.mode === 'none') lines.push('  klaviyo: no credentials here (this API-only process never calls Klaviyo; the workers need them)');
  if (k.mode === 'sandbox') {
    lines.push('  SANDBOX MODE: no MATON_API_KEY or KLAVIYO_API_KEY set; nothing leaves this machine.');
    if (!isLoopback(config.host) && url)
      lines.push(`  WARNING: HOST=${config.host} makes the sandbox (its dev key, its view of every email and phone number) reachable from other machines`);
    if (sandbox) {
      const view = url && apiProcesses === 1 ? `${url}/sandbox/events` : `${sandbox.url}/__sim/state`;
      lines.push(`  the built-in Klaviyo simulator listens on ${sandbox.url}; see what it received at ${view}`);
    }
  }
  if (config.usingDevKey && url) {
    lines.push(`  API key: "${config.apiKeys[0]}" (sandbox only; set RELAY_API_KEYS for real use)`);
    lines.push(`  try: curl -X POST ${url}/v1/events -H 'Authorization: Bearer ${config.apiKeys[0]}' -H 'Content-Type: application/json' \\`);
    lines.push(`         -d '{"id":"order-1001","event":"Placed Order","profile":{"email":"ada@example.com"},"value":29.99}'`);
  }
  lines.push('');
  return `${lines.join('\n')}\n`;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}
