/**
 * The one way tests, the fault suite and the benchmark wait for something to happen: poll a
 * condition until it holds or time runs out. No vitest import here, so that bench/ can use it.
 */
import { inspect } from 'node:util';

type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

export interface WaitOptions {
  /** Give up after this long (default 10 s). */
  readonly timeoutMs?: number;
  /** Pause between two polls (default 25 ms). */
  readonly intervalMs?: number;
}

/**
 * Thrown by a condition that can see it will never hold (the process it waits for exited): ends
 * the wait at once instead of at the timeout.
 */
export class StopWaiting extends Error {
  override readonly name = 'StopWaiting';
}

/**
 * Calls `fn` (awaiting it) every `intervalMs` until it returns a truthy value, and returns that
 * value. A throw counts as "not yet" (a server still starting, an assertion not yet true), except
 * StopWaiting. On timeout it throws an error that names `what` was awaited and the last value (or
 * error) seen.
 */
export async function waitUntil<T>(what: string, fn: () => T | Promise<T>, opts: WaitOptions = {}): Promise<Truthy<T>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as Truthy<T>;
      last = v;
    } catch (err) {
      if (err instanceof StopWaiting) throw new Error(`gave up waiting for ${what}: ${err.message}`, { cause: err });
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last seen: ${shown(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function shown(v: unknown): string {
  const s = v instanceof Error ? `${v.name}: ${v.message}` : inspect(v, { depth: 3, breakLength: Number.POSITIVE_INFINITY });
  return s.length > 500 ? `${s.slice(0, 500)}…` : s;
}
