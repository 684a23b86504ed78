/**
 * Writes the relay's OpenAPI document without a running relay: `npm run openapi:write [-- <file>]`
 * (default ./openapi.json), e.g. to generate a typed client from it in CI (README, "Integrating").
 */
import { writeFileSync } from 'node:fs';
import { relayOpenApi } from '../src/http/routes/openapi.ts';

const file = process.argv[2] ?? 'openapi.json';
const { doc } = relayOpenApi();
writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
process.stdout.write(`wrote ${file} (OpenAPI ${doc.openapi}, ${Object.keys(doc.paths).length} paths)\n`);
