/**
 * Where and how the relay connects to Redis: REDIS_URL, plus the settings a URL cannot carry well
 * (README: Managed Redis). Managed Redis (ElastiCache, Memorystore, Redis Cloud, Upstash) speaks
 * TLS and wants AUTH, clusters too, so every connection — single or Cluster, the API's, the
 * workers', and the ones BullMQ and ioredis duplicate from them — takes host, credentials and TLS
 * from `redisEndpoint` here; nothing else parses a Redis URL.
 *
 *   redis://[user:pass@]host:port[/db]          plain
 *   rediss://[user:pass@]host:port[/db]         TLS
 *   redis+cluster://[user:pass@]h1:p1,h2:p2     a Redis Cluster (seed nodes)
 *   rediss+cluster://[user:pass@]h1:p1,h2:p2    a Redis Cluster over TLS
 *
 * Credentials in a URL are percent-encoded (`p%40ss` is `p@ss`). REDIS_USERNAME / REDIS_PASSWORD
 * override the URL's, so that a secret need not sit in a URL (URLs end up in logs and `ps`).
 * REDIS_CLUSTER_NODES replaces the URL's hosts only: the URL still says TLS and credentials.
 * Certificates are always verified — against the system's CAs, or REDIS_TLS_CA_FILE's for a
 * private CA, and against REDIS_TLS_SERVERNAME instead of the host when nodes are reached by an
 * address their certificate does not name. There is deliberately no switch to turn verification off.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { RedisOptions } from 'ioredis';
import { maskUrlCredentials } from './mask-secrets.ts';

/** Everything that decides how to reach Redis; `Config.redis`. */
export interface RedisSettings {
  /** REDIS_URL. */
  readonly url: string;
  /** REDIS_CLUSTER_NODES ("host:port,host:port"): seed nodes instead of the URL's hosts. */
  readonly clusterNodes?: string;
  /** REDIS_USERNAME / REDIS_PASSWORD: override the URL's (ACL user, or the default user's password). */
  readonly username?: string;
  readonly password?: string;
  /** The PEM text of REDIS_TLS_CA_FILE: the CAs that may sign the server's certificate. */
  readonly tlsCa?: string;
  /** REDIS_TLS_SERVERNAME: the name (SNI, and the certificate check) instead of the host. */
  readonly tlsServername?: string;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface RedisEndpoint {
  /** A Cluster's seed nodes; undefined for a single Redis. */
  readonly cluster?: HostPort[];
  /**
   * ioredis options: for a single Redis host, port, db, credentials and TLS; for a Cluster the
   * credentials and TLS every node connection takes (its `redisOptions`).
   */
  readonly options: RedisOptions;
  readonly tls: boolean;
}

export class RedisUrlError extends Error {}

const SCHEME = /^(rediss?)(\+cluster)?:\/\//i;

interface ParsedUrl {
  readonly tls: boolean;
  readonly cluster: boolean;
  readonly username?: string;
  readonly password?: string;
  readonly hosts: HostPort[];
  readonly db?: number;
  /** Query items (e.g. `?family=6`), passed on to ioredis as it would have taken them. */
  readonly query: Record<string, string | number>;
}

/** `host:port,[::1]:7001` → host/port pairs (port 6379 when left out). Messages never include credentials. */
export function parseHostList(list: string, what = 'the host list'): HostPort[] {
  const hosts = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((hp) => {
      let u: URL;
      try {
        u = new URL(`redis://${hp}`);
      } catch {
        throw new RedisUrlError(`${what}: ${JSON.stringify(hp)} is not host:port`);
      }
      if (u.username || u.password || (u.pathname && u.pathname !== '/') || u.search)
        throw new RedisUrlError(`${what}: ${JSON.stringify(hp.replace(/^.*@/, '…@'))} is not host:port`);
      // WHATWG URL keeps IPv6 brackets; sockets want the bare address.
      return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379) };
    });
  if (hosts.length === 0) throw new RedisUrlError(`${what}: no host`);
  return hosts;
}

/**
 * Splits a Redis URL the way the WHATWG URL parser splits an authority (it ends at the first `/`,
 * `?` or `#`; the user info ends at its last `@`), for the cluster forms too, whose host list
 * `new URL` cannot parse.
 */
function parseRedisUrl(url: string): ParsedUrl {
  const m = SCHEME.exec(url);
  if (!m) throw new RedisUrlError('must start with redis://, rediss://, redis+cluster:// or rediss+cluster://');
  const rest = url.slice(m[0].length);
  const end = rest.search(/[/?#]/);
  const authority = end === -1 ? rest : rest.slice(0, end);
  const tail = end === -1 ? '' : rest.slice(end);
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? undefined : authority.slice(0, at);
  const hostList = at === -1 ? authority : authority.slice(at + 1);
  let username: string | undefined;
  let password: string | undefined;
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(':');
    try {
      username = decodeURIComponent(colon === -1 ? userinfo : userinfo.slice(0, colon)) || undefined;
      password = colon === -1 ? undefined : decodeURIComponent(userinfo.slice(colon + 1)) || undefined;
    } catch {
      throw new RedisUrlError('the user name or password is not valid percent-encoding (write a literal % as %25)');
    }
  }
  const cluster = Boolean(m[2]);
  const hosts = parseHostList(hostList, 'the host');
  if (!cluster && hosts.length > 1) throw new RedisUrlError('lists several hosts: use redis+cluster:// (or rediss+cluster://) for a Redis Cluster');
  const t = new URL(`redis://h${tail}`);
  let db: number | undefined;
  if (t.pathname && t.pathname !== '/') {
    db = Number(t.pathname.slice(1));
    if (!Number.isInteger(db) || db < 0) throw new RedisUrlError('the path must be a database number, e.g. /0');
    // A cluster has one database; its path was always ignored.
    if (cluster) db = undefined;
  }
  const query: Record<string, string | number> = {};
  t.searchParams.forEach((v, k) => {
    query[k] = k === 'family' && /^\d+$/.test(v) ? Number(v) : v;
  });
  return { tls: m[1]!.toLowerCase() === 'rediss', cluster, username, password, hosts, db, query };
}

/** How to connect: a single Redis or a Cluster's seed nodes, with credentials and TLS. Throws RedisUrlError. */
export function redisEndpoint(s: RedisSettings): RedisEndpoint {
  const u = parseRedisUrl(s.url);
  const username = s.username ?? u.username;
  const password = s.password ?? u.password;
  const tls: ConnectionOptions | undefined = u.tls
    ? { ...(s.tlsCa ? { ca: s.tlsCa } : {}), ...(s.tlsServername ? { servername: s.tlsServername } : {}) }
    : undefined;
  const secure: RedisOptions = { ...(username ? { username } : {}), ...(password ? { password } : {}), ...(tls ? { tls } : {}) };
  const seeds = s.clusterNodes ? parseHostList(s.clusterNodes, 'REDIS_CLUSTER_NODES') : u.cluster ? u.hosts : undefined;
  if (seeds) return { cluster: seeds, options: secure, tls: Boolean(tls) };
  const { host, port } = u.hosts[0]!;
  return { options: { ...u.query, host, port, ...(u.db !== undefined ? { db: u.db } : {}), ...secure }, tls: Boolean(tls) };
}

/** The URL with its password (percent-encoded or not) replaced by `***`: for messages and banners. */
export function redactRedisUrl(url: string): string {
  // One owner for masking credentials (src/mask-secrets.ts): it finds the userinfo by the last '@',
  // so a raw '/', '@' or space in a password cannot end the search early and leak the rest.
  return maskUrlCredentials(url, { whole: true });
}

/** The environment's Redis settings (what an entry point read), before validation. */
export interface RedisEnv {
  readonly REDIS_URL: string;
  readonly REDIS_CLUSTER_NODES?: string;
  readonly REDIS_USERNAME?: string;
  readonly REDIS_PASSWORD?: string;
  readonly REDIS_TLS_CA_FILE?: string;
  readonly REDIS_TLS_SERVERNAME?: string;
}

/**
 * Validates the Redis settings together (reading REDIS_TLS_CA_FILE): the problems, each naming its
 * variable and never a secret, or the settings. TLS options without a TLS URL are an error, not
 * ignored: an operator who sets a CA file believes the connection is encrypted.
 */
export function resolveRedisSettings(e: RedisEnv): { settings?: RedisSettings; problems: string[] } {
  const problems: string[] = [];
  let tlsCa: string | undefined;
  if (e.REDIS_TLS_CA_FILE) {
    try {
      tlsCa = readFileSync(e.REDIS_TLS_CA_FILE, 'utf8');
      if (!tlsCa.includes('-----BEGIN CERTIFICATE-----'))
        problems.push(`REDIS_TLS_CA_FILE: ${e.REDIS_TLS_CA_FILE} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    } catch (err) {
      problems.push(`REDIS_TLS_CA_FILE: cannot read ${e.REDIS_TLS_CA_FILE} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  const settings: RedisSettings = {
    url: e.REDIS_URL,
    clusterNodes: e.REDIS_CLUSTER_NODES,
    username: e.REDIS_USERNAME,
    password: e.REDIS_PASSWORD,
    tlsCa,
    tlsServername: e.REDIS_TLS_SERVERNAME,
  };
  try {
    const ep = redisEndpoint(settings);
    if (!ep.tls) {
      for (const name of ['REDIS_TLS_CA_FILE', 'REDIS_TLS_SERVERNAME'] as const) {
        if (e[name]) problems.push(`${name}: set, but REDIS_URL is not a TLS URL: use rediss:// (or rediss+cluster://) to connect with TLS`);
      }
    }
  } catch (err) {
    if (!(err instanceof RedisUrlError)) throw err;
    const name = e.REDIS_CLUSTER_NODES && err.message.startsWith('REDIS_CLUSTER_NODES') ? '' : 'REDIS_URL: ';
    problems.push(`${name}${err.message}`);
  }
  return problems.length > 0 ? { problems } : { settings, problems };
}
