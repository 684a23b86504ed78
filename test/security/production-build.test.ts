/**
 * Issue 11, defect 10 (first half): production runs compiled JavaScript without devDependencies.
 * `npm start` needs tsx (a devDependency); the image prunes devDependencies and runs
 * `node dist/src/main.js` — which must then find every package it imports.
 *
 * The build is made here as the Dockerfile makes it (`npm run build`: scripts/build.mjs) into a temporary
 * directory laid out like the image's /app: dist/, package.json, and a node_modules holding only
 * the packages of `dependencies` (links into this checkout's). Every bare import reachable from
 * the production entry points must be a Node built-in or one of `dependencies`; then the compiled
 * entry points start there and answer /healthz.
 */
import { spawnSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/ports.ts';
import { deleteKeys, REDIS_URL, uniquePrefix } from '../support/redis.ts';
import { ROOT, startedOrExited, startRelay, type RelayProcess } from '../support/relay-process.ts';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
/** What production runs: the three service entry points and the CLI (bin/relay.js falls back to it without tsx). */
const ENTRIES = ['dist/src/main.js', 'dist/src/server.js', 'dist/workers/main.js', 'dist/src/cli/main.js'];

let app = '';
const prefixes: string[] = [];
const running: RelayProcess[] = [];

beforeAll(() => {
  app = mkdtempSync(join(tmpdir(), 'relay-prod-build-'));
  // `npm run build`'s own script, into this directory.
  expect(pkg.scripts['build']).toBe('node scripts/build.mjs');
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), join(app, 'dist')], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (build.status !== 0) throw new Error(`the build failed:\n${build.stdout}\n${build.stderr}`);
  cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
  // node_modules as `npm prune --omit=dev` leaves it, for our code: only `dependencies` are found
  // from here (each links to the real package, whose own imports resolve from its real path).
  for (const name of Object.keys(pkg.dependencies)) {
    const link = join(app, 'node_modules', name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', name), link, 'dir');
  }
}, 200_000);

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
  for (const p of prefixes) await deleteKeys(`${p}:*`);
  if (app) rmSync(app, { recursive: true, force: true });
});

/** Every module specifier in compiled JS: static imports and re-exports, and dynamic `import('…')` of a literal. */
function specifiers(js: string): string[] {
  const found: string[] = [];
  for (const m of js.matchAll(/^\s*(?:import|export)\s[^'"]*?\bfrom\s*['"]([^'"]+)['"]/gm)) found.push(m[1]!);
  for (const m of js.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) found.push(m[1]!);
  for (const m of js.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(m[1]!);
  return found;
}

/** The bare imports reachable from `entries`, each with the first file that imports it. */
function bareImports(entries: string[]): Map<string, string> {
  const bare = new Map<string, string>();
  const seen = new Set<string>();
  const todo = entries.map((e) => join(app, e));
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    if (!file.endsWith('.js')) continue; // JSON modules import nothing
    expect(existsSync(file), `${file} is imported but was not built`).toBe(true);
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) todo.push(resolve(dirname(file), spec));
      else if (!bare.has(spec)) bare.set(spec, file.slice(app.length + 1));
    }
  }
  return bare;
}

const packageOf = (spec: string) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
const isBuiltin = (spec: string) => spec.startsWith('node:') || builtinModules.includes(spec);

describe('the compiled service', () => {
  it('imports nothing from devDependencies: every bare import is a Node built-in or in dependencies', () => {
    const bare = bareImports(ENTRIES);
    expect(bare.size).toBeGreaterThan(5); // the walk did find the graph (hono, bullmq, ioredis, zod…)
    const wrong = [...bare]
      .filter(([spec]) => !isBuiltin(spec) && !(packageOf(spec) in pkg.dependencies))
      .map(([spec, from]) => `${spec} (imported by ${from}${packageOf(spec) in pkg.devDependencies ? '; a devDependency' : ''})`);
    expect(wrong.join('\n')).toBe('');
  });

  it('has production scripts that run the compiled entry points with node, as the image does', () => {
    const expected: Record<string, string> = {
      'start:prod': 'dist/src/main.js',
      'start:prod:api': 'dist/src/server.js',
      'start:prod:worker': 'dist/workers/main.js',
    };
    for (const [script, file] of Object.entries(expected)) {
      expect(pkg.scripts[script], script).toBe(`node ${file}`);
      expect(existsSync(join(app, file)), file).toBe(true);
    }
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/npm prune --omit=dev[\s\S]*CMD \["node", "dist\/src\/main\.js"\]/);
  });

  it('has the Lua scripts beside the compiled modules that read them at load (src/lua/script.ts)', () => {
    const scripts = readdirSync(join(ROOT, 'src/lua')).filter((f) => f.endsWith('.lua'));
    expect(scripts.length).toBeGreaterThan(5);
    for (const f of scripts) expect(readFileSync(join(app, 'dist/src/lua', f), 'utf8'), f).toBe(readFileSync(join(ROOT, 'src/lua', f), 'utf8'));
    // The image builds with the same script, which it must have copied in.
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/COPY scripts\/build\.mjs [\s\S]*RUN npm run build/);
  });

  function prodEnv(extra: Record<string, string> = {}): Record<string, string> {
    const prefix = uniquePrefix('prod-build');
    prefixes.push(prefix);
    return {
      NODE_ENV: 'production',
      REDIS_URL,
      RELAY_START_REDIS: 'false',
      RELAY_QUEUE_PREFIX: prefix,
      // Credentials that are never used: nothing here is delivered (no event reaches a worker's batch before the stop).
      MATON_API_KEY: 'prod-build-maton-key',
      MATON_CONNECTION_ID: 'conn_prod_build',
      MATON_GATEWAY_URL: 'http://127.0.0.1:9',
      RELAY_API_KEYS: 'prod-build-relay-key-01',
      RELAY_SPOOL_DIR: join(app, '.data', prefix),
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ...extra,
    };
  }

  async function startCompiled(entry: string, env: Record<string, string>): Promise<RelayProcess> {
    const p = startRelay(join(app, entry), env, { cwd: app });
    running.push(p);
    const { started } = await startedOrExited(p);
    expect(started, `${entry} did not start:\n${p.output()}`).toBe(true);
    return p;
  }

  it('node dist/src/main.js and dist/src/server.js start without devDependencies and answer /healthz', async () => {
    for (const entry of ['dist/src/main.js', 'dist/src/server.js']) {
      const p = await startCompiled(entry, prodEnv());
      const url = /listening on (http:\/\/\S+)/.exec(p.output())![1]!;
      const health = await fetch(`${url}/healthz`);
      expect(health.status, entry).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      expect((await fetch(`${url}/readyz`)).status, entry).toBe(200);
      expect(await p.stop(), entry).toBe(0);
    }
  }, 90_000);

  it('node dist/workers/main.js starts without devDependencies and answers /healthz on its metrics port', async () => {
    const port = await freePort();
    const p = await startCompiled('dist/workers/main.js', prodEnv({ RELAY_METRICS_PORT: String(port) }));
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);
    expect(await p.stop()).toBe(0);
  }, 60_000);

  it("the compiled sandbox (a newcomer's start:prod without credentials) and the compiled CLI run too", async () => {
    const prefix = uniquePrefix('prod-build');
    prefixes.push(prefix);
    const p = await startCompiled('dist/src/main.js', {
      REDIS_URL,
      RELAY_START_REDIS: 'false',
      RELAY_QUEUE_PREFIX: prefix,
      RELAY_SPOOL_DIR: join(app, '.data', prefix),
      PORT: '0',
      LOG_LEVEL: 'warn',
    });
    expect(p.output()).toContain('SANDBOX MODE');
    expect(await p.stop()).toBe(0);

    const cli = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `const { main } = await import(${JSON.stringify(join(app, 'dist/src/cli/main.js'))}); await main(['--version']);`],
      { cwd: app, encoding: 'utf8', timeout: 30_000 },
    );
    expect(cli.stderr).toBe('');
    expect(cli.stdout.trim()).toBe('klaviyo-relay 0.1.0');
  }, 60_000);
});
