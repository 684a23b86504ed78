// `npm run build`: compiles the service (tsconfig.build.json) into dist/, or into the directory
// given, and copies the Lua scripts beside the compiled modules that read them at load
// (src/lua/script.ts reads `<name>.lua` from its own directory). Plain JavaScript: the image's
// build runs it with node alone.
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(process.argv[2] ?? join(root, 'dist'));
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');

const built = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: root, stdio: 'inherit' });
if (built.status !== 0) process.exit(built.status ?? 1);

for (const dir of ['src', 'workers']) {
  for (const file of readdirSync(join(root, dir), { recursive: true })) {
    if (String(file).endsWith('.lua')) cpSync(join(root, dir, String(file)), join(outDir, dir, String(file)));
  }
}
