/** A bad environment or config file stops the service at start, with a readable message and exit code 1. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function start(env: Record<string, string>) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, stderr: r.stderr };
}

describe('start-up errors', () => {
  it('lists every bad setting and exits 1', () => {
    const r = start({ PORT: 'x', KLAVIYO_REVISION: 'latest' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Invalid configuration');
    expect(r.stderr).toContain('PORT');
    expect(r.stderr).toContain('KLAVIYO_REVISION');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('names the problems in a bad RELAY_CONFIG file and exits 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-bad-'));
    const path = join(dir, 'relay.yaml');
    writeFileSync(path, 'sources:\n  - name: shop\n    keySha256: nothex\nrules:\n  - on: { flow: ghost }\n    do: [ { addToList: "a/b" } ]\n');
    const r = start({ RELAY_CONFIG: path });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Invalid config file ${path}`);
    expect(r.stderr).toContain('sources.0.keySha256');
    expect(r.stderr).toContain('rules.0.do.0');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
