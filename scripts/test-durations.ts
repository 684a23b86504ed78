/**
 * Writes test/durations.json (seconds per test file, read by test/support/longest-first.ts) from a
 * vitest JSON report of the main suite:
 *
 *   npx tsx scripts/test-durations.ts .ci/results/test.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';

const report = JSON.parse(readFileSync(process.argv[2] ?? '.ci/results/test.json', 'utf8')) as {
  testResults: { name: string; startTime: number; endTime: number }[];
};
const rows = report.testResults
  .map((s) => [relative(process.cwd(), s.name), Math.round((s.endTime - s.startTime) / 100) / 10] as const)
  .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
writeFileSync('test/durations.json', `${JSON.stringify(Object.fromEntries(rows), null, 2)}\n`);
process.stdout.write(`test/durations.json: ${rows.length} files, ${rows.reduce((n, [, s]) => n + s, 0).toFixed(0)} s in all\n`);
