/**
 * Issue 18: the logs go to standard output in 4 KB runs, not a write per line (src/log.ts). What a
 * user must still be able to count on: a lone line shows within a fraction of a second at no
 * traffic, and every line logged before the process exits is written — an error exit included.
 * A real child process writing to a real pipe.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Runs `code` (TypeScript, `createLogger` in scope) and notes when each stdout line arrived. */
function run(code: string): Promise<{ lines: { at: number; msg: string }[]; exitCode: number | null; started: number }> {
  const script = `import { createLogger } from './src/log.ts';\n${code}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] });
  const started = Date.now();
  const lines: { at: number; msg: string }[] = [];
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push({ at: Date.now(), msg: (JSON.parse(line) as { msg: string }).msg });
      } catch {
        // not a log line
      }
      i = buf.indexOf('\n');
    }
  });
  return new Promise((resolve) => child.on('close', (exitCode) => resolve({ lines, exitCode, started })));
}

describe('log output is buffered, never lost', () => {
  it('a lone line shows while the process runs (not at exit); lines logged right before exit, and before a crash, are written', async () => {
    const { lines, exitCode } = await run(`
      const log = createLogger('info');
      log.info('first');
      const t0 = Date.now();
      // Stay alive 1.5 s, then log 500 lines and exit at once, then the crash case below.
      await new Promise((r) => setTimeout(r, 1500));
      for (let i = 0; i < 500; i++) log.info('burst');
      log.info('last');
      throw new Error('crash after logging');
    `);
    expect(exitCode).not.toBe(0);
    const first = lines.find((l) => l.msg === 'first');
    expect(first).toBeDefined();
    const last = lines.find((l) => l.msg === 'last');
    // 'first' arrived long before the process ended (not held back until exit).
    expect(last!.at - first!.at).toBeGreaterThan(900);
    expect(lines.filter((l) => l.msg === 'burst')).toHaveLength(500);
  }, 20_000);

  it('a clean exit writes what is buffered', async () => {
    const { lines, exitCode } = await run(`
      const log = createLogger('info');
      for (let i = 0; i < 3; i++) log.info('line');
      process.exit(0);
    `);
    expect(exitCode).toBe(0);
    expect(lines.filter((l) => l.msg === 'line')).toHaveLength(3);
  }, 20_000);
});
