/**
 * RELAY_API_PROCESSES > 1: the HTTP API runs in that many processes sharing one port
 * (node:cluster). One Node process tops out near one core; ingest is CPU-bound, so on a machine
 * with cores to spare this multiplies what one address can take. The primary keeps the workers
 * and the sandbox, replaces an API process that dies, and stops them all on SIGTERM.
 */
import cluster, { type Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { ConfigError, loadConfig } from '../config.ts';
import { createLogger, type Logger } from '../log.ts';
import { Metrics } from '../metrics.ts';
import { loadRelayConfig } from '../relay-config.ts';
import { startService } from './service.ts';
import { startTracing } from '../tracing/setup.ts';

export interface ForkedApi {
  /** The URL, once the first API process listens. */
  readonly listening: Promise<string>;
  stop(timeoutMs: number): Promise<void>;
}

/** `env` is added to each API process's environment (the primary's decisions it must share). */
export function forkApiProcesses(n: number, log: Logger, env: Record<string, string> = {}): ForkedApi {
  let stopping = false;
  const live = new Set<Worker>();
  let resolveListening!: (url: string) => void;
  const listening = new Promise<string>((r) => (resolveListening = r));

  // Each API process has an index, kept by its replacement: its instance id (and spool file) stays
  // the same across a restart, so a spool it left behind is taken over by the next one.
  const fork = (index: number) => {
    const w = cluster.fork({ ...env, RELAY_API_PROCESS_INDEX: String(index) });
    live.add(w);
    w.on('listening', (addr: AddressInfo & { address: string | null }) => {
      const host = !addr.address || addr.address === '0.0.0.0' || addr.address === '::' ? '127.0.0.1' : addr.address;
      resolveListening(`http://${host}:${addr.port}`);
    });
    w.on('exit', (code, signal) => {
      live.delete(w);
      if (!stopping) {
        log.error({ pid: w.process.pid, code, signal }, 'an API process died; starting another');
        setTimeout(() => fork(index), 500).unref();
      }
    });
  };
  for (let i = 0; i < n; i++) fork(i);

  return {
    listening,
    async stop(timeoutMs) {
      stopping = true;
      await Promise.all(
        [...live].map(
          (w) =>
            new Promise<void>((resolve) => {
              const t = setTimeout(() => {
                w.process.kill('SIGKILL');
                resolve();
              }, timeoutMs + 1000);
              w.once('exit', () => {
                clearTimeout(t);
                resolve();
              });
              w.process.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

/** What a forked API process runs: the API alone, stopping cleanly on SIGTERM/SIGINT. */
export async function runApiChild(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env, { api: true, workers: false });
  } catch (err) {
    process.stderr.write(`klaviyo-relay: ${err instanceof ConfigError ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const file = config.relayConfigPath ? loadRelayConfig(config.relayConfigPath, process.env) : undefined;
  const log = createLogger(config.logLevel, { pii: config.logPii }).child({ apiProcess: process.pid });
  // Before the service: the app and ingest are built traced or not (src/tracing/).
  const tracing = config.tracing ? startTracing(config.tracing) : undefined;
  const service = await startService({ config, log, api: true, workers: false, file, metrics: new Metrics() });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await service.close();
    await tracing?.shutdown().catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}
