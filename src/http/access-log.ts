/**
 * The access line: one per request at `info`, the same JSON pino would write for
 *   log.info({ requestId, method, route, status, ms, source }, 'request')
 * (same keys, same order, the logger's bindings included), but formatted here and handed to the
 * logger's own destination, so it shares its buffering, its flush timer and its exit hook.
 *
 * Why not through pino: measured under load (issue 18), the pino call cost ~20 µs of the API's
 * CPU per request (a fifth of it) — its serialiser walks the object and escapes each string, its
 * timestamp builds a Date, and the garbage it leaves is scavenged with every in-flight request —
 * against ~4 µs in a loop on its own. This line is one template string: ~20 µs → ~4 µs in situ.
 *
 * It needs no masking or escaping walk because every value is one the relay chose: the route
 * pattern (never the path), a method Node's parser accepted, a status, a duration, a request id
 * limited to `[\w.:-]` (or a UUID), a configured source name. The two that come from code or
 * config are JSON-escaped once and remembered; there are as many as routes and sources.
 */
import { pino, type Logger } from 'pino';

export interface AccessFields {
  readonly requestId: string;
  readonly method: string;
  readonly route: string;
  readonly status: number;
  readonly ms: number;
  readonly source: string | undefined;
}

type Write = (fields: AccessFields) => void;

/** A writer of access lines for this logger, or a no-op while it logs nothing at `info`. */
export function accessLog(log: Logger): Write {
  const stream = (log as unknown as Record<symbol, { write(line: string): void }>)[pino.symbols.streamSym]!;
  // `,"service":"klaviyo-relay"` and any child bindings (`,"apiProcess":…`), as pino keeps them.
  const bindings = (log as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] ?? '';
  const info = log.levels.values.info;
  const quoted = new Map<string, string>();
  const q = (s: string) => {
    let v = quoted.get(s);
    if (v === undefined) {
      v = JSON.stringify(s);
      quoted.set(s, v);
    }
    return v;
  };
  // pino's isoTime, made once per millisecond (several requests end in the same one under load).
  let lastMs = -1;
  let lastTime = '';
  const time = () => {
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      lastTime = new Date(now).toISOString();
    }
    return lastTime;
  };
  return (f) => {
    if (!log.isLevelEnabled('info')) return;
    const source = f.source === undefined ? '' : `,"source":${q(f.source)}`;
    stream.write(
      `{"level":${info},"time":"${time()}"${bindings},"requestId":"${f.requestId}","method":${q(f.method)},"route":${q(f.route)},"status":${f.status},"ms":${f.ms}${source},"msg":"request"}\n`,
    );
  };
}
