/**
 * What the three entry points share: read the environment, make sure Redis answers (or start a
 * private one), start the sandbox when no credentials are set, run the service, print a banner,
 * and shut down cleanly on SIGTERM/SIGINT (exit 0).
 */
import cluster from 'node:cluster';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { forkApiProcesses, runApiChild } from './api-processes.ts';
import { createLogger } from '../log.ts';
import { clusterNodes } from '../redis.ts';
import { Metrics } from '../metrics.ts';
import { serveMetrics } from './metrics-server.ts';
import { loadRelayConfig, RelayConfigError, type RelayFile } from '../relay-config.ts';
import { ensureRedis, RedisUnavailableError, type PrivateRedis } from './ensure-redis.ts';
import { startSandbox, type Sandbox } from './sandbox.ts';
import { startService, type Service } from './service.ts';

export interface EntryRoles {
  readonly api: boolean;
  readonly workers: boolean;
}

export async function runEntry(requested: EntryRoles): Promise<void> {
  // A forked API process (RELAY_API_PROCESSES > 1) runs the API only; its primary did the rest.
  if (cluster.isWorker) return runApiChild();
  let roles = requested;
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`klaviyo-relay: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  let file: RelayFile | undefined;
  if (config.relayConfigPath) {
    try {
      file = loadRelayConfig(config.relayConfigPath, process.env);
    } catch (err) {
      if (err instanceof RelayConfigError) {
        process.stderr.write(`klaviyo-relay: ${err.message}\n`);
        process.exit(1);
      }
      throw err;
    }
  }
  const log = createLogger(config.logLevel, { pii: config.logPii });
  const metrics = new Metrics();

  let privateRedis: PrivateRedis | undefined;
  try {
    // A cluster is the operator's to run; a plain local URL may get a private redis-server, unless
    // credentials are set (they name a Redis someone runs with them). TLS or remote URLs are not
    // probed here: startService's verifyRedis connects as the service will and says what is wrong.
    const mayStart = config.startRedis && !config.redis.username && !config.redis.password;
    privateRedis = clusterNodes(config.redisUrl, config.redisClusterNodes) ? undefined : await ensureRedis(config.redisUrl, mayStart);
  } catch (err) {
    if (err instanceof RedisUnavailableError) {
      process.stderr.write(`klaviyo-relay: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }

  // The sandbox is needed where Klaviyo is called (workers); the API alone never calls Klaviyo.
  let sandbox: Sandbox | undefined;
  if (config.klaviyo.mode === 'sandbox' && roles.workers) sandbox = await startSandbox(config.sandboxPort);

  // Several API processes: they share the port through node:cluster; this process keeps the
  // workers (and the sandbox) and supervises them.
  const forked = roles.api && config.apiProcesses > 1 ? forkApiProcesses(config.apiProcesses, log) : undefined;
  if (forked) roles = { api: false, workers: roles.workers };

  let service: Service;
  try {
    service = await startService({ config, log, ...roles, file, sandboxUrl: sandbox?.url, sandboxView: sandbox?.view, metrics });
  } catch (err) {
    process.stderr.write(`klaviyo-relay: could not start: ${err instanceof Error ? err.message : String(err)}\n`);
    await sandbox?.close();
    await privateRedis?.stop();
    process.exit(1);
  }

  // Workers without the API here: their metrics get a port of their own.
  const metricsServer = roles.workers && !roles.api ? await serveMetrics(metrics, config.metricsPort, config.host, log) : undefined;
  const url = forked ? await forked.listening : service.url;
  process.stderr.write(banner(config, requested, url, sandbox, privateRedis, forked ? config.apiProcesses : 1));

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

function banner(config: Config, roles: EntryRoles, url: string | undefined, sandbox: Sandbox | undefined, privateRedis: PrivateRedis | undefined, apiProcesses: number): string {
  const lines: string[] = [''];
  const what = roles.api && roles.workers ? 'API + workers' : roles.api ? 'API' : 'workers';
  lines.push(`klaviyo-relay ${what} running (pid ${process.pid})`);
  if (url) lines.push(`  listening on ${url}${apiProcesses > 1 ? ` (${apiProcesses} API processes)` : ''}`);
  lines.push(`  redis: ${config.redisUrl}${privateRedis ? ` (private redis-server started here, pid ${privateRedis.pid}, data in ./.data/redis)` : ''}`);
  const k = config.klaviyo;
  if (k.mode === 'gateway') lines.push(`  klaviyo: via the Maton gateway ${k.gatewayUrl}${k.connectionId ? `, connection ${k.connectionId}` : ' (no MATON_CONNECTION_ID: the gateway picks the default connection)'}`);
  if (k.mode === 'direct') lines.push(`  klaviyo: direct to ${k.baseUrl} with a private API key`);
  if (k.mode === 'sandbox') {
    lines.push('  SANDBOX MODE: no MATON_API_KEY or KLAVIYO_API_KEY set; nothing leaves this machine.');
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
  return lines.join('\n') + '\n';
}
