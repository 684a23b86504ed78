/**
 * Redis connections with BullMQ's production settings (docs.bullmq.io/guide/going-to-production):
 * workers retry forever (`maxRetriesPerRequest: null`, required for their blocking connection);
 * the API fails fast (`enableOfflineQueue: false`) so a request is answered (or spooled) instead
 * of hanging while Redis is away.
 *
 * A Redis Cluster is used when REDIS_CLUSTER_NODES is set or REDIS_URL is
 * `redis+cluster://host:port,host:port` (`rediss+cluster://` with TLS). Host, credentials and TLS
 * come from src/redis-options.ts; for a Cluster they go in `redisOptions`, which every node
 * connection takes (and so do the duplicates BullMQ makes for its blocking reads).
 *
 * Every key the relay writes is laid out so that whatever one Lua script or pipeline touches
 * lives in one hash slot: a queue's keys (BullMQ's and ours) share the tag of its kind and lane
 * (src/queue-catalog.ts), the quota governor's share the quota scope's. Different queues — kinds and
 * lanes — land in different slots, so a cluster shares the load.
 */
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import { redisEndpoint, type RedisSettings } from './redis-options.ts';

export type RedisClient = Redis | Cluster;

export type RedisRole = 'api' | 'worker';

/** `redis+cluster://a:7000,b:7001` (or REDIS_CLUSTER_NODES) → the seed nodes; undefined for a single Redis. */
export function clusterNodes(url: string, explicit?: string): ClusterNode[] | undefined {
  return redisEndpoint({ url, clusterNodes: explicit }).cluster?.map((n) => ({ ...n }));
}

function roleOptions(role: RedisRole): RedisOptions {
  return role === 'worker'
    ? { maxRetriesPerRequest: null, enableReadyCheck: true }
    : // No auto-pipelining: ingest batches by itself (src/ingest/enqueue.ts, one claim and one add per
      // job for all the requests of a tick), and an auto-pipeline costs more than it saves since —
      // ioredis copies every command defined on the connection (~65 with BullMQ's) into each pipeline it
      // makes: ~8 µs of the API's CPU per single-event request (issue 18; 0.72× → 1.08× the minimal
      // handler with it off, 1,000-event requests unchanged). It was on when each request wrote alone.
      { maxRetriesPerRequest: 1, enableOfflineQueue: false, enableReadyCheck: true, enableAutoPipelining: false };
}

/** `target`: the Config's Redis settings, or a bare URL (tests, tools) with optional cluster seeds. */
export function createRedis(target: string | RedisSettings, role: RedisRole, extra: RedisOptions = {}, clusterSeeds?: string): RedisClient {
  // Reconnect quickly at first, then every 2 s at most: Redis restarts should heal by themselves.
  const retryStrategy = (times: number) => Math.min(100 * times, 2000);
  const endpoint = redisEndpoint(typeof target === 'string' ? { url: target, clusterNodes: clusterSeeds } : target);
  const nodes = endpoint.cluster;
  let client: RedisClient;
  if (nodes) {
    const base = roleOptions(role);
    client = new Cluster(nodes, {
      enableOfflineQueue: base.enableOfflineQueue ?? true,
      enableAutoPipelining: extra.enableAutoPipelining ?? base.enableAutoPipelining ?? false,
      enableReadyCheck: true,
      clusterRetryStrategy: retryStrategy,
      // A failover moves a slot; commands follow the MOVED/ASK redirections and retry on TRYAGAIN.
      maxRedirections: 32,
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 300,
      // Credentials and TLS last: the endpoint decides them, as the URL did for a single Redis.
      redisOptions: (({ enableOfflineQueue: _o, enableAutoPipelining: _a, retryStrategy: _r, ...rest }) => rest)({ ...base, ...extra, ...endpoint.options }),
    });
  } else {
    client = new Redis({ ...roleOptions(role), retryStrategy, lazyConnect: false, ...extra, ...endpoint.options });
  }
  // Connection errors are expected while Redis restarts and are reported by what they fail
  // (readiness, the spool, job errors); without a listener ioredis prints each one.
  client.on('error', () => undefined);
  return client;
}

/** Resolves when `redis` answers PING, or rejects after `timeoutMs`. */
export async function waitForRedis(redis: RedisClient, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (redis.status === 'ready' && (await redis.ping()) === 'PONG') return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Redis did not answer within ${timeoutMs} ms${lastError instanceof Error ? `: ${lastError.message}` : ''}`);
}
