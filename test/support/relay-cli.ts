/**
 * Running the `relay` command as a user does: bin/relay.js in a child process, from another cwd
 * (the shim must find its package and tsx by itself), with none of the outer shell's relay settings.
 */
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const RELAY_BIN = fileURLToPath(new URL('../../bin/relay.js', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment without any of the relay's settings from the outer shell. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(RELAY_|MATON_|KLAVIYO_)/.test(k) || k === 'REDIS_URL' || k === 'PORT') continue;
    env[k] = v;
  }
  return { ...env, NO_COLOR: '1' };
}

/** `relay <args>` with `env` over the clean environment; killed after `timeoutMs`. */
export function runRelay(args: string[], env: Record<string, string | undefined>, timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RELAY_BIN, ...args], { cwd: tmpdir(), env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** No stack trace in what the command printed. */
export const noStack = (r: Run) => expect(`${r.stdout}\n${r.stderr}`).not.toMatch(/^\s+at .+[:(]/m);
