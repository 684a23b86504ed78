/**
 * One of the relay's entry points (src/main.ts, src/server.ts, workers/main.ts) as a child process
 * with a clean environment — nothing from the developer's shell or vitest's NODE_ENV=test steers
 * it — for tests about what a real start does: which mode, which address, which message.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { waitUntil } from './wait.ts';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface RelayProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** SIGTERM (SIGKILL after `timeoutMs`); resolves with the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** The environment without the relay's settings, NODE_ENV or anything else that could pick a mode. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(RELAY_|MATON_|KLAVIYO_|REDIS_|VITEST|NODE_ENV$|PORT$|HOST$|LOG_LEVEL$)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** Starts `entry` (`node --import tsx <entry>`, or plain `node` for a .js file) with `cleanEnv(env)`. */
export function startRelay(entry: string, env: Record<string, string>, opts: { cwd?: string } = {}): RelayProcess {
  const args = entry.endsWith('.ts') ? ['--import', 'tsx', entry] : [entry];
  const child = spawn(process.execPath, args, { cwd: opts.cwd ?? ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    output: () => out,
    exited,
    async stop(timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/**
 * Waits until the process printed its banner ("… running (pid N)") or exited, bounded by
 * `timeoutMs`: `{ started: true }` or `{ started: false, code }`.
 */
export async function startedOrExited(p: RelayProcess, timeoutMs = 45_000): Promise<{ started: boolean; code?: number | null }> {
  let code: number | null | undefined;
  let exited = false;
  void p.exited.then((c) => {
    code = c;
    exited = true;
  });
  const outcome = () => (/running \(pid \d+\)/.test(p.output()) ? { started: true } : exited ? { started: false, code } : undefined);
  return waitUntil('the banner or an exit', outcome, { timeoutMs, intervalMs: 50 }).catch((err: Error) => {
    throw new Error(`${err.message}:\n${p.output().slice(-2000)}`);
  });
}
