/**
 * Before the service connects for good: does Redis accept us? One short-lived connection made
 * exactly like the service's (TLS, credentials, Cluster — src/redis-options.ts), answering PING.
 * It exists because the service's own connections retry forever: with a wrong password or an
 * untrusted certificate the workers would wait for Redis without end and the API would spool
 * every request, so a configuration error would look like an outage. Here refused credentials and
 * TLS failures end the start at once with what to fix; a Redis that does not answer (yet) is
 * retried until the deadline. No hand-written protocol: ioredis speaks TLS and AUTH.
 */
import { Cluster, Redis } from 'ioredis';
import { redactRedisUrl, redisEndpoint, type RedisSettings } from '../redis-options.ts';

export class RedisRefusedError extends Error {
  constructor(
    /** What happened, naming the URL (password masked). */
    readonly detail: string,
    /** What to change. */
    readonly fix: string,
    /** `auth`, `tls`: configuration errors (retrying will not help); `unreachable`: nothing answered in time. */
    readonly reason: 'auth' | 'tls' | 'unreachable',
  ) {
    super(`${detail}: ${fix}`);
    this.name = 'RedisRefusedError';
  }
}

const AUTH = /\b(WRONGPASS|NOAUTH|NOPERM)\b|invalid (username-)?password/i;

function isTlsError(err: Error & { code?: string }): boolean {
  return (
    /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH)/.test(err.code ?? '') ||
    /certificate|ssl routines|wrong version number|\bTLS\b/i.test(err.message)
  );
}

/** A configuration error to stop on, or undefined for one worth retrying (refused, reset, timeout, LOADING…). */
function classify(err: Error & { code?: string }, s: RedisSettings, where: string): RedisRefusedError | undefined {
  if (AUTH.test(err.message)) {
    const noauth = /\bNOAUTH\b/.test(err.message);
    const fix = noauth
      ? 'it needs credentials: put them in REDIS_URL (redis://user:password@host, percent-encoded) or set REDIS_PASSWORD (and REDIS_USERNAME for an ACL user)'
      : 'check the user name and password (REDIS_USERNAME/REDIS_PASSWORD, or those in REDIS_URL, percent-encoded)';
    return new RedisRefusedError(`Redis at ${where} refused the connection (${err.message.split('\n')[0]})`, fix, 'auth');
  }
  if (isTlsError(err)) {
    const fix = /wrong version number|packet length too long|ERR_SSL_WRONG_VERSION_NUMBER/i.test(`${err.code} ${err.message}`)
      ? "the port does not speak TLS: use redis:// for a plain port, or the server's TLS port"
      : s.tlsCa
        ? "the certificate is not signed by REDIS_TLS_CA_FILE's CAs, or does not name the host: check REDIS_TLS_CA_FILE and REDIS_TLS_SERVERNAME"
        : "set REDIS_TLS_CA_FILE to the PEM bundle of the CA that signed the server's certificate (and REDIS_TLS_SERVERNAME if the certificate names another host)";
    return new RedisRefusedError(`TLS to Redis at ${where} failed (${err.code ? `${err.code}: ` : ''}${err.message})`, fix, 'tls');
  }
  return undefined;
}

/**
 * Resolves once Redis at `s` answers PING over a connection made like the service's; rejects with
 * a RedisRefusedError at the first refusal of credentials or TLS, or after `timeoutMs` without an
 * answer (`once`: after the first attempt, for a report of how things are now). Messages show the
 * URL with its password masked.
 */
export async function verifyRedis(s: RedisSettings, timeoutMs: number, opts: { once?: boolean } = {}): Promise<void> {
  const endpoint = redisEndpoint(s);
  const where = `${redactRedisUrl(s.url)}${s.clusterNodes ? ` (nodes ${s.clusterNodes})` : ''}`;
  const deadline = Date.now() + timeoutMs;
  let last: (Error & { code?: string }) | undefined;
  for (let attempt = 0; ; attempt++) {
    const connectTimeout = Math.max(200, Math.min(5000, deadline - Date.now()));
    // No retries inside ioredis: each attempt is one connection, and this loop decides what is worth another.
    const single = {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
      connectTimeout,
      commandTimeout: connectTimeout,
    };
    const client = endpoint.cluster
      ? new Cluster(endpoint.cluster, {
          lazyConnect: true,
          enableOfflineQueue: false,
          clusterRetryStrategy: () => null,
          redisOptions: { ...single, enableOfflineQueue: true, ...endpoint.options },
        })
      : new Redis({ ...single, ...endpoint.options });
    const errors: (Error & { code?: string })[] = [];
    client.on('error', (err: Error) => errors.push(err));
    // A Cluster reports why a node refused only here; its own error is "failed to refresh slots".
    client.on('node error', (err: Error) => errors.push(err));
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return;
    } catch (err) {
      errors.push(err as Error);
    } finally {
      client.disconnect();
    }
    for (const err of errors) {
      const refused = classify(err, s, where);
      if (refused) throw refused;
    }
    last = errors.find((e) => !/Connection is closed|refresh slots|None of startup nodes/i.test(e.message)) ?? errors[0] ?? last;
    if (opts.once || Date.now() + 250 >= deadline) break;
    await new Promise((r) => setTimeout(r, Math.min(250 * (attempt + 1), 1000, Math.max(0, deadline - Date.now()))));
  }
  const hint = endpoint.tls ? '' : ' (a TLS-only Redis needs rediss://)';
  throw new RedisRefusedError(
    `Redis does not answer at ${where}${last ? ` (${last.message})` : ''}`,
    `start Redis or set REDIS_URL to a running one${hint}`,
    'unreachable',
  );
}
