/**
 * Structured JSON logs (pino). Secrets are redacted by path wherever they could appear.
 */
import { pino, type Logger } from 'pino';
import { maskPii } from './mask-pii.ts';

export type { Logger };

export const REDACT_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  '*.apiKey',
  '*.matonApiKey',
  'apiKey',
  'matonApiKey',
  'config.klaviyo.apiKey',
  'config.klaviyo.matonApiKey',
  'config.apiKeys',
];

// Linear-time masking (a logged value may quote a 100 KB property); see mask-pii.ts.
export { maskPii };

function maskDeep(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return maskPii(v);
  if (v === null || typeof v !== 'object') return v;
  // Past 8 levels the rest is not walked (bounded work per line) and not shown either: returning it
  // as it was would log whatever emails sit deeper unmasked.
  if (depth > 8) return '[deeper than 8 levels]';
  if (v instanceof Error) return { type: v.name, message: maskPii(v.message), stack: v.stack ? maskPii(v.stack) : undefined };
  if (Array.isArray(v)) return v.map((x) => maskDeep(x, depth + 1));
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, maskDeep(x, depth + 1)]));
}

/** Lines are written in runs of this many bytes (or every FLUSH_MS), not one write per line. */
const LOG_RUN_BYTES = 4096;
const FLUSH_MS = 250;

/**
 * Lines joined into runs here, each handed whole to pino's SonicBoom, which writes it. SonicBoom
 * can buffer by itself (`minLength`), but it measures its whole pending buffer with
 * Buffer.byteLength on every line (and so flattens it): O(buffer) per line — at one access line
 * per request, ~20 µs of each request's CPU (issue 18; found by counting instructions with
 * callgrind, 5 calls a request at ~3,000 instructions each). Here a line costs an array push.
 */
class LineRuns {
  private parts: string[] = [];
  private size = 0;

  constructor(private readonly out: pino.DestinationStream & { flushSync(): void }) {}

  write(line: string): void {
    this.parts.push(line);
    this.size += line.length; // UTF-16 units: a threshold, not a byte count
    if (this.size >= LOG_RUN_BYTES) this.handOver();
  }

  /** What waits goes to SonicBoom, which writes it now unless a write is in flight (then right after it). */
  handOver(): void {
    if (this.parts.length === 0) return;
    const run = this.parts.length === 1 ? this.parts[0]! : this.parts.join('');
    this.parts = [];
    this.size = 0;
    this.out.write(run);
  }

  /** pino calls it after a fatal line; the exit hook below at exit. */
  flushSync(): void {
    this.handOver();
    this.out.flushSync();
  }
}

/** Every process-wide stdout buffer (one per logger made without a destination), written out at exit. */
const liveRuns = new Set<WeakRef<LineRuns>>();
process.on('exit', () => {
  for (const ref of liveRuns) {
    try {
      ref.deref()?.flushSync();
    } catch {
      // Standard output closed: nothing more can be written.
    }
  }
});

/**
 * Standard output, written in 4 KB runs instead of one write per line (issue 18: at one access
 * line per request, a write per line cost a measurable share of the API's CPU). Lines wait at most
 * FLUSH_MS; at exit, a crash included, what is buffered is written synchronously. Only a SIGKILL
 * (or the OOM killer) can lose the last ≤ 4 KB of lines.
 */
function bufferedStdout(): pino.DestinationStream {
  const runs = new LineRuns(pino.destination({ dest: process.stdout.fd ?? 1, sync: false }));
  const ref = new WeakRef(runs);
  liveRuns.add(ref);
  const timer = setInterval(() => {
    const live = ref.deref();
    if (live) live.handOver();
    else {
      clearInterval(timer);
      liveRuns.delete(ref);
    }
  }, FLUSH_MS).unref();
  return runs;
}

/**
 * JSON logs. Keys that can hold secrets are redacted by path; emails and phone numbers in any
 * logged value (Klaviyo's error details often quote them) are masked unless `pii` is set.
 */
export function createLogger(level: string, opts: { pii?: boolean } = {}, destination: pino.DestinationStream = bufferedStdout()): Logger {
  return pino(
    {
      level,
      base: { service: 'klaviyo-relay' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: opts.pii ? undefined : { log: (obj) => maskDeep(obj) as Record<string, unknown> },
      serializers: opts.pii ? undefined : { err: (e: unknown) => maskDeep(e instanceof Error ? e : e) },
    },
    destination,
  );
}
