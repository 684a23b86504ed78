/**
 * A private CA and a server certificate for 127.0.0.1 / localhost, made with `openssl` into a
 * temporary directory: what a TLS redis-server of a test presents and the relay must verify
 * (REDIS_TLS_CA_FILE). `remove()` deletes the directory.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCerts {
  readonly dir: string;
  /** The CA's certificate (PEM): the bundle a client trusts. */
  readonly caFile: string;
  /** The server's certificate (signed by the CA; SAN IP:127.0.0.1, DNS:localhost) and key. */
  readonly certFile: string;
  readonly keyFile: string;
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
}

/** `names`: the server certificate's subjectAltName entries. */
export function makeTestCerts(names = 'IP:127.0.0.1,DNS:localhost'): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'relay-test-tls-'));
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=relay-test-ca'], dir);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=relay-test-redis'], dir);
  writeFileSync(join(dir, 'server.ext'), `subjectAltName=${names}\n`);
  openssl(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext'],
    dir,
  );
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    certFile: join(dir, 'server.pem'),
    keyFile: join(dir, 'server.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
