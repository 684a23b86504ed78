/**
 * The fuzz runner: a real relay (API only, no workers: jobs stay where they were put) on real Redis
 * under its own prefix, driven over real HTTP on loopback.
 *
 * Every case declares the defects it was built with (bad auth, wrong type, …); the route's
 * classifier adds what the bytes themselves say (not UTF-8, not JSON, not valid). The answer must be:
 *   - never 5xx, never a dropped connection;
 *   - a status one of the defects explains (the union of theirs), or — with none — the route's 2xx;
 *   - when not 2xx: `Content-Type: application/json` and a body with a string `error` (HEAD: no body);
 *   - no job for a rejected request: BullMQ's job counts of every queue are compared around each
 *     chunk of 500 cases (a chunk of rejections only must leave them as they were), and every new
 *     job's items must belong to a request that got a 2xx (item ids are the callers' ids, order
 *     ids with a suffix, Klaviyo's external ids, flow body ids or hashes); list ids in jobs must be
 *     Klaviyo ids (nothing steers a path).
 * Cases are sent 16 at a time over raw keep-alive connections (see Connection).
 * After the cases, the service must still be healthy and deliver a valid event to the simulator.
 */
import net from 'node:net';
import { createHash, randomInt, randomUUID } from 'node:crypto';
import type { JobState } from 'bullmq';
import fc from 'fast-check';
import { expect } from 'vitest';
import { createLogger } from '../../../src/log.ts';
import { parseRelayConfig, type RelayFile } from '../../../src/relay-config.ts';
import { DEFAULT_LANE } from '../../../src/queues.ts';
import { queueName } from '../../../src/queue-catalog.ts';
import { startService } from '../../../src/runtime/service.ts';
import { klaviyoSignature } from '../../../src/webhooks/klaviyo-signature.ts';
import { standardSignature } from '../../../src/webhooks/standard-webhooks.ts';
import { CONNECTION, RELAY_KEY, startHarness, type Harness } from '../../support/harness.ts';
import { waitUntil } from '../../support/wait.ts';
import { HOLE } from './gen.ts';

// ---------------------------------------------------------------------------------------------
// The relay under test

export const MAX_BODY = 256 * 1024;
/** Cases per route (at least 10,000; FUZZ_RUNS may ask for more). */
export const RUNS = Math.max(10_000, Number(process.env.FUZZ_RUNS) || 0);
const CONCURRENCY = 16;
const CHUNK = 500;

export const KLAVIYO_SECRETS = ['fuzz-klaviyo-secret-new', 'fuzz-klaviyo-secret-old'] as const;
export const KLAVIYO_WEBHOOK_ID = 'WHfuzz01';
export const FLOWS = {
  vip: { header: 'X-Relay-Secret', secret: 'fuzz-vip-flow-secret' },
  quiet: { header: 'X-Quiet-Token', secret: 'fuzz-quiet-flow-secret' },
} as const;
/** A source whose tracking calls map groups to lists (the tracking API fuzz authenticates with it too). */
export const TRACKING_KEY = 'fuzz-tracking-shop-key-0123456789';
export const TRACKING_SETTINGS = { rename: { 'Product Added': 'Added to Cart' }, pages: false, groups: 'lists' as const };
export const SIGNING_SECRET = `whsec_${Buffer.from('fuzz-pos-signing-secret-0123456789').toString('base64')}`;
export const RULE_TOPICS = ['event:klaviyo.unsubscribed_from_email_marketing', 'event:klaviyo.clicked_email'] as const;

export const FUZZ_FILE: RelayFile = parseRelayConfig(
  {
    sources: [
      { name: 'pos', signingSecret: SIGNING_SECRET },
      { name: 'shop', keySha256: createHash('sha256').update(TRACKING_KEY).digest('hex'), tracking: TRACKING_SETTINGS },
    ],
    klaviyoWebhooks: { secrets: [...KLAVIYO_SECRETS], toleranceSeconds: 300 },
    flows: FLOWS,
    rules: [
      { on: { topic: RULE_TOPICS[0] }, do: [{ removeFromList: 'WinBck' }] },
      {
        on: { topic: RULE_TOPICS[1] },
        when: { 'properties.Campaign Name': { equals: 'Black Friday' } },
        do: [{ updateProfile: { properties: { bf_clicker: true } } }],
      },
      {
        on: { flow: 'vip' },
        when: { 'body.properties.tier': { in: ['gold', 'platinum'] } },
        do: [{ addToList: 'VIPxyz' }, { createEvent: { metric: 'Became VIP' } }],
      },
    ],
  },
  {},
);

export function startFuzzHarness(name: string): Promise<Harness> {
  return startHarness({ name: `fuzz-${name}`, workers: false, env: { RELAY_MAX_BODY_BYTES: String(MAX_BODY) }, file: FUZZ_FILE });
}

/** FUZZ_SEED when set, else a fresh one; printed so that a failure can be replayed. */
export function fuzzSeed(file: string): number {
  const fromEnv = process.env.FUZZ_SEED;
  const seed = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : randomInt(0, 2 ** 31 - 1);
  if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer (got ${JSON.stringify(fromEnv)})`);
  console.log(`[fuzz] ${file}: FUZZ_SEED=${seed}  (replay: FUZZ_SEED=${seed} npx vitest run test/fuzz/${file})`);
  return seed;
}

// ---------------------------------------------------------------------------------------------
// Cases

/**
 * What is wrong with a request. Each route maps a defect to the statuses it may cause; a request
 * with defects must get one of theirs, a request with none the route's 2xx.
 */
export type Defect =
  | 'auth' // missing or bad credentials (bearer key, Standard Webhooks signature)
  | 'ctype' // not a JSON content type
  | 'oversize' // body over MAX_BODY (added by the runner from the bytes)
  | 'utf8' // body not UTF-8
  | 'json' // body not JSON
  | 'invalid' // JSON that the route's rules reject
  | 'deep' // JSON a webhook job would store, nested deeper than the relay stores (64 levels)
  | 'method' // a method the route does not take
  | 'path' // a path (or path parameter) that is not a route or not a valid id
  | 'secret' // a flow webhook without its shared secret
  | 'sig' // a Klaviyo webhook that fails verification
  | 'gzip' // Content-Encoding: gzip over bytes that are not (complete) gzip
  | 'encoding'; // a Content-Encoding the route does not decode

export type Splice = { k: 'huge'; n: number; ch: string } | { k: 'deep'; n: number; open: string; close: string; leaf: string } | { k: 'raw'; s: string };

export type Payload = { t: 'json'; v: unknown } | { t: 'text'; s: string } | { t: 'bytes'; b: Uint8Array } | { t: 'splice'; v: unknown; raw: Splice };

export type Signing =
  | { k: 'standard'; ts: 'now' | 'stale' | 'garbage'; tamper: boolean }
  | {
      k: 'klaviyo';
      secret: string;
      ts: 'http' | 'iso' | 'unix' | 'stale' | 'future' | 'garbage';
      webhookId: string | null;
      mangle: 'none' | 'upper' | 'spaces' | 'truncate' | 'flip';
    };

export interface Case {
  /** Which generator made it (for the histogram and failure reports). */
  readonly gen: string;
  readonly method: string;
  /** Sent exactly as is (no normalisation by the client). */
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly payload?: Payload;
  /** Send the body with Transfer-Encoding: chunked instead of Content-Length. */
  readonly chunked?: boolean;
  readonly defects: readonly Defect[];
  /** What the body makes wrong, when the generator knows: replaces the route's classifier. */
  readonly verdict?: readonly Defect[];
  /** Signature headers, computed over the exact bytes when the request is sent. */
  readonly sign?: Signing;
  /**
   * A malformed request target (raw backslash, raw Latin-1): turned away below the app with a bare
   * 400, by Node's HTTP parser or by @hono/node-server before it calls the app. The status and
   * "no job" are still checked; the JSON body is not (the app never sees the request).
   */
  readonly transport?: boolean;
}

/**
 * A case as every suite puts one together: its `gen` label joins the names of what made it (the
 * `false` ones left out), and a method that sends no body carries no payload and no chunking.
 */
export function assembleCase(
  parts: { readonly labels: readonly (string | false | undefined)[]; readonly noBody: boolean; readonly chunked: boolean } & Omit<Case, 'gen' | 'chunked'>,
): Case {
  const { labels, noBody, chunked, payload, ...rest } = parts;
  return { ...rest, gen: labels.filter(Boolean).join('+'), payload: noBody ? undefined : payload, chunked: !noBody && chunked };
}

export function render(p: Payload | undefined): Buffer | undefined {
  if (!p) return undefined;
  switch (p.t) {
    case 'json':
      return Buffer.from(JSON.stringify(p.v) ?? '', 'utf8');
    case 'text':
      return Buffer.from(p.s, 'utf8');
    case 'bytes':
      return Buffer.from(p.b);
    case 'splice': {
      const text = JSON.stringify(p.v) ?? '';
      const hole = JSON.stringify(HOLE);
      const at = text.indexOf(hole);
      if (at < 0) return Buffer.from(text, 'utf8');
      const r = p.raw;
      const spliced = r.k === 'raw' ? r.s : r.k === 'huge' ? JSON.stringify(r.ch.repeat(r.n)) : r.open.repeat(r.n) + r.leaf + r.close.repeat(r.n);
      return Buffer.from(text.slice(0, at) + spliced + text.slice(at + hole.length), 'utf8');
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
type Decoded = { ok: true; value: unknown; text: string } | { ok: false; defect: 'utf8' | 'json' };
const decoded = new WeakMap<Buffer, Decoded>();
/** What a body's bytes are: not UTF-8, not JSON, or this value (decoded once per body). */
export function decodeJson(body: Buffer | undefined): Decoded {
  const bytes = body ?? Buffer.alloc(0);
  let d = decoded.get(bytes);
  if (d) return d;
  let text: string | undefined;
  try {
    text = utf8.decode(bytes);
    d = { ok: true, value: JSON.parse(text), text };
  } catch {
    d = { ok: false, defect: text === undefined ? 'utf8' : 'json' };
  }
  decoded.set(bytes, d);
  return d;
}

/** How deep objects and arrays nest in a JSON value (a scalar: 0). Iterative: any depth. */
export function jsonDepth(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    max = Math.max(max, d + 1);
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
  }
  return max;
}

function signatureHeaders(sign: Signing | undefined, body: Buffer | undefined): Record<string, string> {
  if (!sign) return {};
  // Over the body limit nothing is verified (413 first): sign an empty body, it costs nothing.
  const text = body && body.length <= MAX_BODY ? body.toString('utf8') : '';
  const now = Date.now();
  if (sign.k === 'standard') {
    const id = `msg_${randomUUID()}`;
    const ts = sign.ts === 'now' ? String(Math.floor(now / 1000)) : sign.ts === 'stale' ? String(Math.floor(now / 1000) - 3600) : 'soon';
    const sig = standardSignature(SIGNING_SECRET, id, sign.ts === 'garbage' ? '0' : ts, text);
    return { 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': sign.tamper ? `${sig.slice(0, -4)}AAA=` : sig };
  }
  const ts = {
    http: () => new Date(now).toUTCString(),
    iso: () => new Date(now).toISOString(),
    unix: () => String(Math.floor(now / 1000)),
    stale: () => new Date(now - 10 * 60_000).toUTCString(),
    future: () => new Date(now + 10 * 60_000).toISOString(),
    garbage: () => 'the day after tomorrow',
  }[sign.ts]();
  let sig = klaviyoSignature(sign.secret, text, ts);
  if (sign.mangle === 'upper') sig = sig.toUpperCase();
  if (sign.mangle === 'spaces') sig = ` ${sig}  `;
  if (sign.mangle === 'truncate') sig = sig.slice(0, -1);
  if (sign.mangle === 'flip') sig = (sig[0] === '0' ? '1' : '0') + sig.slice(1);
  const headers: Record<string, string> = { 'klaviyo-timestamp': ts, 'klaviyo-signature': sig };
  if (sign.webhookId !== null) headers['klaviyo-webhook-id'] = sign.webhookId;
  return headers;
}

// ---------------------------------------------------------------------------------------------
// HTTP over keep-alive connections

export interface Reply {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/**
 * A minimal HTTP/1.1 client over one keep-alive socket, one request at a time: it sends the method,
 * path, headers and framing exactly as given (no normalisation, no validation — a raw backslash or
 * Latin-1 byte in the path goes out as is), and costs a third of node:http's CPU per request, which
 * matters at 60,000+ requests. Responses are read by Content-Length, chunked encoding, or until the
 * server closes; `Connection: close` is honoured (the next request opens a new connection).
 */
export class Connection {
  private socket?: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiter?: { head: boolean; resolve: (r: Reply) => void; reject: (e: Error) => void };
  private reused = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  async request(method: string, path: string, headers: Readonly<Record<string, string>>, body?: Buffer, chunked = false): Promise<Reply> {
    try {
      return await this.once(method, path, headers, body, chunked);
    } catch (err) {
      // A kept-alive socket the server closed while idle: the request never reached it. Retry once.
      if ((err as { idleClose?: boolean }).idleClose) return this.once(method, path, headers, body, chunked);
      throw err;
    }
  }

  close(): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
  }

  private once(method: string, path: string, headers: Readonly<Record<string, string>>, body: Buffer | undefined, chunked: boolean): Promise<Reply> {
    const socket = this.open();
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.host}:${this.port}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    if (body !== undefined) head += chunked ? 'transfer-encoding: chunked\r\n' : `content-length: ${body.length}\r\n`;
    head += '\r\n';
    const parts: Buffer[] = [Buffer.from(head, 'latin1')];
    if (body !== undefined && chunked) {
      const cut = body.length >> 1;
      for (const piece of [body.subarray(0, cut), body.subarray(cut)])
        if (piece.length > 0) parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`, 'latin1'), piece, Buffer.from('\r\n', 'latin1'));
      parts.push(Buffer.from('0\r\n\r\n', 'latin1'));
    } else if (body !== undefined) {
      parts.push(body);
    }
    const reused = this.reused;
    this.reused = true;
    return new Promise<Reply>((resolve, reject) => {
      this.waiter = {
        head: method === 'HEAD',
        resolve,
        reject: (e) => reject(Object.assign(e, { idleClose: reused && this.buf.length === 0 && e.message === 'connection closed' })),
      };
      socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    });
  }

  private open(): net.Socket {
    if (this.socket && !this.socket.destroyed) return this.socket;
    const socket = net.connect(this.port, this.host);
    socket.setNoDelay(true);
    this.socket = socket;
    this.buf = Buffer.alloc(0);
    this.reused = false;
    // Events of a socket this connection has moved on from (after `Connection: close`) are ignored:
    // the buffer and the waiter belong to the current one.
    socket.on('data', (d: Buffer) => {
      if (this.socket !== socket) return;
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.parse(false);
    });
    // After a complete response the rest of a body may fail to send (the server answered early and
    // closed): that is the server's right, and not this request's failure.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.parse(true);
      this.socket = undefined;
      const w = this.waiter;
      this.waiter = undefined;
      w?.reject(new Error('connection closed'));
    });
    return socket;
  }

  private parse(closed: boolean): void {
    const w = this.waiter;
    if (!w) return;
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1] ?? NaN);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    let rest = this.buf.subarray(end + 4);
    let body: Buffer;
    if (w.head || status === 204 || status === 304) {
      body = Buffer.alloc(0);
    } else if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const pieces: Buffer[] = [];
      for (;;) {
        const eol = rest.indexOf('\r\n');
        if (eol < 0) return;
        const size = parseInt(rest.subarray(0, eol).toString('latin1'), 16);
        if (rest.length < eol + 2 + size + 2) return;
        if (size === 0) {
          rest = rest.subarray(eol + 4);
          break;
        }
        pieces.push(rest.subarray(eol + 2, eol + 2 + size));
        rest = rest.subarray(eol + 2 + size + 2);
      }
      body = Buffer.concat(pieces);
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (rest.length < n) return;
      body = rest.subarray(0, n);
      rest = rest.subarray(n);
    } else {
      if (!closed) return; // read until the server closes
      body = rest;
      rest = Buffer.alloc(0);
    }
    this.buf = rest;
    this.waiter = undefined;
    if (/close/i.test(headers.connection ?? '')) this.close();
    w.resolve({ status, headers, body });
  }
}

/** One request on a fresh connection (for the checks after the fuzz). */
export async function send(base: string, method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Reply> {
  const url = new URL(base);
  const conn = new Connection(url.hostname, Number(url.port));
  try {
    return await conn.request(method, path, headers, body);
  } finally {
    conn.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Routes

export interface RouteSpec {
  readonly name: string;
  /** The status of an accepted request. */
  readonly ok: number;
  /** Statuses each defect may cause on this route. */
  readonly statusFor: Readonly<Partial<Record<Defect, readonly number[]>>>;
  /** What the body's bytes make wrong with this request (not UTF-8, not JSON, not valid); none = acceptable. */
  classify(c: Case, body: Buffer): Defect[];
  /** Every status `classify`'s defects can map to: when the declared defects allow them all already, it is skipped. */
  readonly classifiedStatuses: readonly number[];
  /** Item ids a 2xx answer may have put in jobs (job items carry them as `id`). */
  accepted(c: Case, body: Buffer | undefined, reply: any): string[];
  /** Statuses a run of this route must have seen (so that no generator is dead). */
  readonly mustSee: readonly number[];
  /** The route's body limit when it is not MAX_BODY (a body over it is `oversize`). */
  readonly maxBody?: number;
  /** A route that acknowledges without queueing anything (the tracking API's alias): no job, ever. */
  readonly makesNoJobs?: boolean;
}

interface JobItem {
  id: string;
  o?: { op: string; listId?: string | null };
  w?: { flow?: string; topic?: string };
  c?: { couponId?: string };
}

const STATES: JobState[] = ['waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed', 'waiting-children'];
const KLAVIYO_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** An item's id belongs to an accepted request: equal, or `<order id>#<suffix>` for orders. */
const attributable = (id: string, accepted: ReadonlySet<string>) => accepted.has(id) || (id.includes('#') && accepted.has(id.slice(0, id.lastIndexOf('#'))));

function preview(b: Buffer | undefined, max = 160): string {
  if (!b) return '(none)';
  const s = JSON.stringify(b.subarray(0, max).toString('latin1'));
  return b.length > max ? `${s}…(${b.length} bytes)` : s;
}

/** Histogram rows of a case: its body generator (`wrong`, `deep`…) and each envelope defect (`+bad`, `+method`…). */
const tagCache = new Map<string, readonly string[]>();
function tagsOf(gen: string): readonly string[] {
  let tags = tagCache.get(gen);
  if (!tags) {
    const [body, ...envelope] = gen.split('+');
    tags = [...new Set([body!.split(':')[0]!, ...envelope.map((t) => `  +${t.split('-')[0]}`)])];
    tagCache.set(gen, tags);
  }
  return tags;
}

export interface FuzzReport {
  readonly cases: number;
  readonly byStatus: Readonly<Record<number, number>>;
  readonly failures: readonly string[];
  readonly histogram: string;
  readonly jobsCreated: number;
}

/**
 * Runs `total` cases against the relay, `CHUNK` at a time: `chunkCases(i)` gives the i-th chunk
 * (generated as needed, so that 10,000 cases are never all in memory). Returns what it saw;
 * assertions are the caller's.
 */
export async function runFuzz(h: Harness, route: RouteSpec, total: number, chunkCases: (i: number, size: number) => readonly Case[]): Promise<FuzzReport> {
  const base = h.service.url!;
  // Every queue of the lane: work is queued per kind, class and source, and a queue appears with
  // its first job (src/queue-catalog.ts), so the list is read again around every chunk.
  const listQueues = async () =>
    (await h.service.queues.catalog.all([DEFAULT_LANE])).map((ref) => ({ kind: ref.kind, name: queueName(ref), q: h.service.queues.get(ref) }));
  const seen = new Map<string, Set<string>>();
  for (const { name, q } of await listQueues()) seen.set(name, new Set(await q.getRanges(STATES, 0, -1)));
  const counts = async () =>
    new Map(
      await Promise.all(
        (await listQueues()).map(async ({ name, q }) => [name, Object.values(await q.getJobCounts(...STATES)).reduce((a, b) => a + b, 0)] as const),
      ),
    );

  const url = new URL(base);
  const conns = Array.from({ length: CONCURRENCY }, () => new Connection(url.hostname, Number(url.port)));
  const failures: string[] = [];
  const byStatus: Record<number, number> = {};
  const hist = new Map<string, Map<number, number>>();
  let jobsCreated = 0;
  const fail = (msg: string) => {
    if (failures.length < 40) failures.push(msg);
    else if (failures.length === 40) failures.push('… (more failures not shown)');
  };

  // Item ids of every accepted request so far. A job normally appears before its 2xx answer, in the
  // same chunk; one spooled (Redis slower than the relay waits) reaches Redis later.
  const accepted = new Set<string>();
  let spooled = false;
  let generated = 0;
  for (let start = 0; start < total; start += CHUNK) {
    const chunk = chunkCases(start / CHUNK, Math.min(CHUNK, total - start));
    generated += chunk.length;
    const before = await counts();
    let any2xx = false;
    let next = 0;
    await Promise.all(
      conns.map(async (conn) => {
        while (next < chunk.length) {
          const index = start + next;
          const c = chunk[next++]!;
          const body = render(c.payload);
          const headers = { ...c.headers, ...signatureHeaders(c.sign, body) };
          const describe = () =>
            `#${index} [${c.gen}] ${c.method} ${JSON.stringify(c.path)} defects=${JSON.stringify(c.defects)}${c.chunked ? ' chunked' : ''}\n    headers=${JSON.stringify(headers).slice(0, 400)}\n    body=${preview(body)}`;

          const defects = new Set<Defect>(c.defects);
          // The relay decodes the body before verifying a signature, and its decoder drops a leading
          // byte order mark: a signature over the exact bytes, BOM included, then does not match.
          if (c.sign && body && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) defects.add(c.sign.k === 'klaviyo' ? 'sig' : 'auth');
          if (body && body.length > (route.maxBody ?? MAX_BODY)) defects.add('oversize');
          const statuses = (ds: Iterable<Defect>) => new Set([...ds].flatMap((d) => route.statusFor[d] ?? []));
          if (body && !defects.has('oversize') && !['GET', 'HEAD'].includes(c.method)) {
            // Classifying only adds statuses to those the declared defects allow: skip it when it cannot.
            const declared = statuses(defects);
            if (defects.size === 0 || !route.classifiedStatuses.every((st) => declared.has(st)))
              for (const d of c.verdict ?? route.classify(c, body)) defects.add(d);
          }
          const allowed = c.transport ? [400] : defects.size > 0 ? [...statuses(defects)] : [route.ok];

          let reply: Reply;
          try {
            reply = await conn.request(c.method, c.path, headers, body, c.chunked ?? false);
          } catch (err) {
            fail(`${describe()}\n    → request failed: ${(err as Error).message} (expected ${allowed.join('|')})`);
            continue;
          }
          byStatus[reply.status] = (byStatus[reply.status] ?? 0) + 1;
          for (const tag of tagsOf(c.gen)) {
            const g = hist.get(tag) ?? new Map<number, number>();
            g.set(reply.status, (g.get(reply.status) ?? 0) + 1);
            hist.set(tag, g);
          }

          const got = () => `${describe()}\n    → ${reply.status} ${reply.headers['content-type'] ?? '(no content-type)'} ${preview(reply.body, 300)}`;
          if (reply.status >= 500) {
            fail(`${got()}\n    ✗ a 5xx (expected ${allowed.join('|')})`);
            continue;
          }
          if (!allowed.includes(reply.status)) fail(`${got()}\n    ✗ expected ${allowed.join('|')} (defects: ${[...defects].join(', ') || 'none'})`);
          if (reply.status >= 200 && reply.status < 300) {
            any2xx = true;
            let parsed: unknown;
            try {
              parsed = JSON.parse(reply.body.toString('utf8'));
            } catch {
              fail(`${got()}\n    ✗ a 2xx whose body is not JSON`);
              continue;
            }
            for (const id of route.accepted(c, body, parsed)) accepted.add(id);
            if ((parsed as { spooled?: unknown }).spooled === true) spooled = true;
            continue;
          }
          if (c.transport) continue;
          if (!/^application\/json\b/i.test(reply.headers['content-type'] ?? '')) {
            fail(`${got()}\n    ✗ an error without Content-Type: application/json`);
            continue;
          }
          if (c.method === 'HEAD') continue;
          try {
            const err = JSON.parse(reply.body.toString('utf8')) as { error?: unknown; message?: unknown };
            if (typeof err.error !== 'string' || err.error === '' || typeof err.message !== 'string')
              fail(`${got()}\n    ✗ the error body has no string "error" and "message"`);
          } catch {
            fail(`${got()}\n    ✗ the error body is not JSON`);
          }
        }
      }),
    );

    // No job for a rejected request: counts unchanged unless something was accepted, and every new
    // job's items belong to an accepted request.
    const after = await counts();
    for (const { kind, name, q } of await listQueues()) {
      const was = before.get(name) ?? 0;
      const now = after.get(name) ?? 0;
      if (now === was) continue;
      if (!any2xx && !spooled)
        fail(`chunk ${start}–${start + chunk.length - 1}: ${name} jobs went from ${was} to ${now}, but every request of the chunk was rejected`);
      let known = seen.get(name);
      if (!known) {
        known = new Set();
        seen.set(name, known);
      }
      const fresh = (await q.getRanges(STATES, 0, -1)).filter((id) => !known.has(id));
      const jobs = await Promise.all(fresh.map((id) => q.getJob(id)));
      for (const [n, id] of fresh.entries()) {
        known.add(id);
        jobsCreated++;
        const job = jobs[n];
        const items = ((job?.data as { items?: JobItem[] } | undefined)?.items ?? []) as JobItem[];
        if (items.length === 0) fail(`${kind} job ${id} has no items`);
        for (const item of items) {
          if (!attributable(item.id, accepted))
            fail(
              `${kind} job ${id} (new in chunk ${start}–${start + chunk.length - 1}) carries item ${JSON.stringify(item.id)}, which no accepted request answered for`,
            );
          // Nothing can steer a path: every list id a job will put in a Klaviyo URL is a Klaviyo id.
          const listId = item.o?.listId;
          if (listId !== undefined && listId !== null && !KLAVIYO_ID.test(listId)) fail(`${kind} job ${id} names list ${JSON.stringify(listId)}`);
          const couponId = item.c?.couponId;
          if (couponId !== undefined && !KLAVIYO_ID.test(couponId)) fail(`${kind} job ${id} names coupon ${JSON.stringify(couponId)}`);
          if (item.w?.flow !== undefined && !Object.hasOwn(FLOWS, item.w.flow)) fail(`${kind} job ${id} names flow ${JSON.stringify(item.w.flow)}`);
        }
      }
    }
  }

  for (const conn of conns) conn.close();
  const histogram = [...hist.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([gen, m]) =>
        `  ${gen.padEnd(24)} ${[...m.entries()]
          .sort(([a], [b]) => a - b)
          .map(([s, n]) => `${s}×${n}`)
          .join(' ')}`,
    )
    .join('\n');
  return { cases: generated, byStatus, failures, histogram, jobsCreated };
}

/**
 * RUNS cases from fast-check for a seed (chunk i is sampled with seed + i, so FUZZ_SEED replays the
 * whole run and `#index` in a failure names the case), and the assertions every route shares.
 */
export async function fuzzRoute(h: Harness, route: RouteSpec, arb: fc.Arbitrary<Case>, seed: number): Promise<FuzzReport> {
  const started = Date.now();
  const cpu0 = process.cpuUsage();
  let generation = 0;
  const report = await runFuzz(h, route, RUNS, (i, size) => {
    const t = performance.now();
    const chunk = fc.sample(arb, { seed: (seed + i) | 0, numRuns: size });
    generation += performance.now() - t;
    return chunk;
  });
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `[fuzz] ${route.name}: ${report.cases} cases (seed ${seed}) in ${((Date.now() - started) / 1000).toFixed(1)} s, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU ` +
      `(generating cases ${(generation / 1000).toFixed(1)} s); statuses ${JSON.stringify(report.byStatus)}; ${report.jobsCreated} jobs from accepted requests\n${report.histogram}`,
  );
  expect(report.failures, `FUZZ_SEED=${seed}: ${report.failures.length} failing cases\n${report.failures.join('\n')}`).toEqual([]);
  expect(report.cases).toBeGreaterThanOrEqual(10_000);
  // The generators are alive: every kind of answer happened, and accepted requests made jobs (which
  // the attribution check above then examined).
  for (const status of route.mustSee) expect(report.byStatus[status] ?? 0, `answers ${status}`).toBeGreaterThan(0);
  if (route.makesNoJobs) expect(report.jobsCreated).toBe(0);
  else expect(report.jobsCreated).toBeGreaterThan(0);
  return report;
}

// ---------------------------------------------------------------------------------------------
// After the storm

/** /healthz and /readyz answer 200, a valid event is accepted, and a worker delivers it to the simulator. */
export async function assertStillServing(h: Harness): Promise<void> {
  const base = h.service.url!;
  const health = await send(base, 'GET', '/healthz', {});
  expect(health.status).toBe(200);
  expect(JSON.parse(health.body.toString())).toEqual({ status: 'ok' });
  const ready = await send(base, 'GET', '/readyz', {});
  expect(ready.status).toBe(200);

  // The fuzz's own accepted jobs were checked above; clear them so the worker delivers just this one.
  for (const ref of await h.service.queues.catalog.all([DEFAULT_LANE])) await h.service.queues.get(ref).obliterate({ force: true });
  const id = `after-fuzz-${randomUUID()}`;
  const email = `${id}@example.com`;
  const body = Buffer.from(JSON.stringify({ id, event: 'Placed Order', profile: { email }, value: 1 }));
  const res = await send(base, 'POST', '/v1/events', { authorization: `Bearer ${RELAY_KEY}`, 'content-type': 'application/json' }, body);
  expect(res.status).toBe(202);
  expect(JSON.parse(res.body.toString())).toEqual({ accepted: 1, ids: [id], duplicates: 0 });

  const workers = await startService({ config: h.config, log: createLogger('silent'), api: false, workers: true, file: FUZZ_FILE });
  try {
    const events = await waitUntil(
      'the event delivered',
      () => {
        const e = h.sim.eventsFor(CONNECTION, { email });
        return e.length > 0 && e;
      },
      { timeoutMs: 15_000 },
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ metric: 'Placed Order', value: 1 });
  } finally {
    await workers.close();
  }
}
