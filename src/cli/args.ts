/**
 * Command-line parsing on node:util's parseArgs, with the options every command takes, and the
 * value parsers commands share (integers, times given as ISO-8601 or as a duration ago).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './errors.ts';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

export const COMMON_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

/** Options that take a value, anywhere on the line: main.ts skips their value when looking for the command. */
export const GLOBAL_VALUE_OPTIONS = new Set(['--url', '--token', '--key']);

/** Index of the first argument that is not an option (nor the value of --url/--token/--key); -1 if none. */
export function firstPositional(argv: readonly string[], from = 0): number {
  for (let i = from; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return i + 1 < argv.length ? i + 1 : -1;
    if (GLOBAL_VALUE_OPTIONS.has(a)) {
      i++;
      continue;
    }
    if (!a.startsWith('-') || a === '-') return i;
  }
  return -1;
}

/** Splits off a subcommand (`dlq list …`): the first positional, and the arguments without it. */
export function subcommand(argv: readonly string[]): { sub: string | undefined; rest: string[] } {
  const at = firstPositional(argv);
  if (at < 0) return { sub: undefined, rest: [...argv] };
  return { sub: argv[at], rest: [...argv.slice(0, at), ...argv.slice(at + 1)] };
}

/** parseArgs (strict, positionals allowed) whose errors are short usage errors naming `command`. */
export function parse<const O extends ParseArgsOptionsConfig>(argv: readonly string[], options: O, command: string) {
  type Config = { args: string[]; options: typeof COMMON_OPTIONS & O; allowPositionals: true; strict: true };
  try {
    return parseArgs<Config>({ args: [...argv], options: { ...COMMON_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(parseErrorMessage(err), command);
  }
}

function parseErrorMessage(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const msg = e.message ?? String(err);
  const opt = /'([^']+)'/.exec(msg)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${opt ?? msg}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(msg) ? `${(opt ?? '').split(' ')[0] || 'an option'} needs a value` : msg.split('.')[0]!;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${opt ?? ''}`.trim();
    default:
      return msg;
  }
}

export function int(value: string | undefined, name: string, command: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\s*-?\d+\s*$/.test(value) || n < min || n > max)
    throw new UsageError(`${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`, command);
  return n;
}

export function number(value: string | undefined, name: string, command: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${name} must be a number (got ${JSON.stringify(value)})`, command);
  return n;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `90s`, `30m`, `1h`, `1h30m`, `2d` → milliseconds; undefined when not a duration. */
export function parseDuration(s: string): number | undefined {
  const text = s.trim().toLowerCase();
  if (!/^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/.test(text)) return undefined;
  let ms = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}

/**
 * A point in time: ISO-8601 (`2026-11-27T10:00:00Z`, `2026-11-27`), or a duration meaning that
 * long ago (`1h`, `30m`). Returns milliseconds since the epoch.
 */
export function pointInTime(value: string | undefined, name: string, command: string, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const ago = parseDuration(value);
  if (ago !== undefined) return now - ago;
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/i.test(value.trim())) {
    const iso = value.trim().replace(' ', 'T');
    // A date-time without a zone is taken as UTC, as the relay's times are.
    const ms = Date.parse(/T/.test(iso) && !/(Z|[+-]\d{2}:?\d{2})$/i.test(iso) ? `${iso}Z` : iso);
    if (Number.isFinite(ms)) return ms;
  }
  throw new UsageError(`${name} takes an ISO-8601 time (2026-11-27T10:00:00Z) or a duration ago (90s, 30m, 1h, 2d); got ${JSON.stringify(value)}`, command);
}

/** The single positional a command expects (`pause <lane>`), or a usage error. */
export function onePositional(positionals: readonly string[], what: string, command: string): string {
  if (positionals.length === 0) throw new UsageError(`give the ${what}`, command);
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${positionals[1]}`, command);
  return positionals[0]!;
}

export function noPositionals(positionals: readonly string[], command: string): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}`, command);
}
