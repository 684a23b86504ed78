/**
 * An in-process relay (API + workers) on real Redis under a unique prefix, and the simulator on a
 * real loopback socket standing in for the Maton gateway. Tests talk to both over HTTP.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import type { RelayFile } from '../../src/relay-config.ts';
import type { Metrics } from '../../src/metrics.ts';
import { startService, type Service } from '../../src/runtime/service.ts';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../../src/sim/index.ts';
import { deleteKeys, REDIS_URL, uniquePrefix } from './redis.ts';
import type { Queue } from 'bullmq';
import { sourceIdForKey } from '../../src/sources.ts';
import { DEFAULT_LANE, type JobKind } from '../../src/queues.ts';
import { queueRef } from '../../src/queue-catalog.ts';
import type { PriorityClass } from '../../src/priority.ts';

export const RELAY_KEY = 'test-relay-key-1';
export const MATON_KEY = 'test-maton-key';
export const CONNECTION = 'conn-test';
/** The source id of RELAY_KEY: its work is queued under it. */
export const RELAY_SOURCE = sourceIdForKey(RELAY_KEY);

export interface Harness {
  readonly prefix: string;
  readonly config: Config;
  readonly service: Service;
  readonly sim: RunningSimulator['sim'];
  readonly simUrl: string;
  /** POST JSON to the relay with the test key. */
  post(path: string, body: unknown, init?: { headers?: Record<string, string>; method?: string }): Promise<{ status: number; body: any }>;
  /** The queue where the test key's work of this kind and class (default live) goes, on the default lane. */
  queue(kind: JobKind, cls?: PriorityClass, source?: string): Queue;
  close(): Promise<void>;
}

export async function startHarness(
  opts: { env?: Record<string, string>; sim?: SimulatorOptions; api?: boolean; workers?: boolean; name?: string; file?: RelayFile; metrics?: Metrics } = {},
): Promise<Harness> {
  const prefix = uniquePrefix(opts.name);
  const sim = await startSimulator({ port: 0, gatewayKeys: [MATON_KEY], ...opts.sim });
  const ownSpool = mkdtempSync(join(tmpdir(), `relay-spool-${prefix}-`));
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    REDIS_URL,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    MATON_API_KEY: MATON_KEY,
    MATON_GATEWAY_URL: sim.url,
    MATON_CONNECTION_ID: CONNECTION,
    RELAY_API_KEYS: RELAY_KEY,
    RELAY_QUEUE_PREFIX: prefix,
    RELAY_RETRY_BASE_MS: '200',
    RELAY_BATCH_LINGER_MS: '20',
    KLAVIYO_TIMEOUT_MS: '2000',
    RELAY_SHUTDOWN_TIMEOUT_MS: '5000',
    // Each harness spools into its own directory: a spool file left behind is drained by the next
    // process that finds it, which in a test run could belong to another test's prefix.
    RELAY_SPOOL_DIR: ownSpool,
    ...opts.env,
  });
  const log = createLogger(config.logLevel);
  const service = await startService({ config, log, api: opts.api ?? true, workers: opts.workers ?? true, file: opts.file, metrics: opts.metrics }).catch(
    async (err: unknown) => {
      // A service that cannot start (e.g. Redis refused it) leaves no simulator or spool directory behind.
      await sim.close();
      rmSync(ownSpool, { recursive: true, force: true });
      throw err;
    },
  );

  return {
    prefix,
    config,
    service,
    sim: sim.sim,
    simUrl: sim.url,
    async post(path, body, init = {}) {
      const res = await fetch(`${service.url}${path}`, {
        method: init.method ?? 'POST',
        headers: { authorization: `Bearer ${RELAY_KEY}`, 'content-type': 'application/json', ...init.headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return readReply(res);
    },
    queue: (kind, cls = 'live', source = RELAY_SOURCE) => service.queues.get(queueRef(kind, DEFAULT_LANE, cls, source)),
    async close() {
      await service.close();
      await sim.close();
      await deleteKeys(`${prefix}:*`);
      rmSync(ownSpool, { recursive: true, force: true });
    },
  };
}

/** A response's status and body: parsed JSON, or the text when it is not JSON (so an assertion shows it). */
export async function readReply(res: Response): Promise<{ status: number; body: any }> {
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON: keep the text */
  }
  return { status: res.status, body: parsed };
}
