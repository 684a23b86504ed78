#!/usr/bin/env node
// The `relay` command. The CLI is TypeScript (src/cli); this shim runs it without a build by
// registering tsx — resolved from this package's own node_modules, whatever the cwd — in this
// process, then importing src/cli/main.ts. Without tsx (an install with --omit=dev) it runs the
// compiled copy in dist/ when `npm run build` has made one.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'src', 'cli', 'main.ts');
const compiled = join(root, 'dist', 'src', 'cli', 'main.js');

let entry = source;
try {
  const { register } = await import('tsx/esm/api');
  register({ tsconfig: join(root, 'tsconfig.json') });
} catch {
  if (!existsSync(compiled)) {
    process.stderr.write(
      'relay: cannot run the CLI: tsx is not installed and there is no build. Run `npm install` (or `npm run build`) in the klaviyo-relay directory.\n',
    );
    process.exit(1);
  }
  entry = compiled;
}
const { main } = await import(pathToFileURL(entry).href);
await main(process.argv.slice(2));
