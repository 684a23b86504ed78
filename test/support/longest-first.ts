/**
 * The main suite's file order: the longest files first, so that no long file starts near the end
 * while the other workers sit idle. Vitest orders by the durations of the last run on this machine
 * (node_modules/.vite), which a fresh checkout — CI's — does not have: it then falls back to file
 * size, and the last run on record started the 89-s tracking-api fuzz at 583 s of 672, the other
 * worker idle for its last 80 s. test/durations.json keeps the seconds each file took in a full run
 * (`npx tsx scripts/test-durations.ts .ci/results/test.json` after `.ci/run` rewrites it); a file
 * it does not know yet goes first, as vitest's own order does with unknown files.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const DURATIONS = new URL('../durations.json', import.meta.url);

export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const seconds = JSON.parse(readFileSync(DURATIONS, 'utf8')) as Record<string, number>;
    const root = this.ctx.config.root;
    const known = (f: TestSpecification) => seconds[relative(root, f.moduleId)];
    return [...files].sort((a, b) => (known(b) ?? Number.POSITIVE_INFINITY) - (known(a) ?? Number.POSITIVE_INFINITY) || a.moduleId.localeCompare(b.moduleId));
  }
}
