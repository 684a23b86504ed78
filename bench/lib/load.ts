/**
 * The load generator, run in its own process so it does not share an event loop with what it
 * measures: `tsx bench/lib/load.ts '<json options>'` prints a JSON summary. Each request carries
 * fresh ids (`{{id}}` in the body template is replaced per request; `{{n}}` by 0…k-1 inside it for
 * batch bodies). Only loopback targets, for a bounded time.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

interface LoadOptions {
  url: string;
  connections: number;
  /** Seconds, at most 600. */
  duration: number;
  /** Stop after this many requests instead (bounded by duration too). */
  amount?: number;
  /** Body template: `{{id}}` becomes a per-request unique id. */
  body: string;
  headers?: Record<string, string>;
}

// Options as JSON, or `@file` holding it (a 1,000-event body is too long for argv).
const arg = process.argv[2] ?? '{}';
const opts = JSON.parse(arg.startsWith('@') ? readFileSync(arg.slice(1), 'utf8') : arg) as LoadOptions;
const target = new URL(opts.url);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(target.hostname)) throw new Error(`refusing to load a non-loopback target: ${target.hostname}`);

// Split once; joining is cheaper than a regex per request on a 1,000-event body.
const parts = opts.body.split('{{id}}');
let seq = 0;
const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;
const nextBody = () => {
  const id = `${run}-${(seq++).toString(36)}`;
  return parts.join(id);
};

const result = await autocannon({
  url: target.origin,
  connections: opts.connections,
  duration: Math.min(opts.duration, 600),
  amount: opts.amount,
  requests: [
    {
      method: 'POST',
      path: target.pathname,
      headers: { 'content-type': 'application/json', ...opts.headers },
      setupRequest: (req) => ({ ...req, body: nextBody() }),
    },
  ],
});
process.stdout.write(
  `${JSON.stringify({
    requests: result.requests.total,
    rps: result.requests.average,
    durationS: result.duration,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  })}\n`,
);
