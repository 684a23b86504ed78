/**
 * The fault suite's global setup: starts a fresh table, and prints the whole table once every
 * scenario has run (rows are appended by each scenario to test/artifacts/faults-table.json).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { formatRows, TABLE_FILE, type Verdict } from './harness.ts';

export default function setup(): () => void {
  rmSync(TABLE_FILE, { force: true });
  const t0 = Date.now();
  return () => {
    const rows: Verdict[] = existsSync(TABLE_FILE) ? (JSON.parse(readFileSync(TABLE_FILE, 'utf8')) as Verdict[]) : [];
    const out = [
      '',
      `Fault suite: ${rows.length} scenario(s) in ${Math.round((Date.now() - t0) / 1000)} s (rows in ${TABLE_FILE})`,
      formatRows(rows),
      ...rows.map((r) => `  ${r.scenario}: ${r.notes}`),
      '',
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  };
}
