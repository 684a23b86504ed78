/**
 * The local spool: where ingest puts accepted work while Redis cannot take it.
 *
 * A 2xx must mean the work is durable. When Redis is unreachable, each request's work is
 * appended to a file and fsync'ed before the answer; once Redis answers again the records are
 * moved into it in the order they came, and until the spool is empty new work joins the end of
 * the spool rather than overtaking it. Past RELAY_SPOOL_MAX_BYTES the API answers 503.
 *
 * One file per API process (`spool-<name>.log`, JSON lines), so processes never interleave
 * writes. The name is stable across restarts (instance id + API process index, see config.ts):
 * naming by pid lost work in containers, where the pid is always 1 — a restarted process took its
 * predecessor's file for its own, empty one and skipped it.
 *
 * Which files are whose, without pids (they mean nothing across containers sharing a volume):
 *   - a live process keeps its file's mtime fresh (a heartbeat every `heartbeatMs`); a file whose
 *     mtime is older than `staleMs` has no live writer. A clean close with work still spooled
 *     backdates the mtime, so the next process need not wait.
 *   - an abandoned file is claimed by renaming it to a name of the claimant's own (atomic: one
 *     claimant wins), kept fresh while it is drained, then deleted. A claimant that dies mid-drain
 *     leaves a claimed file that goes stale and is claimed again.
 *   - at start a process takes over a file under its own name (its previous life's) the same way:
 *     if the mtime is fresh it waits `staleMs` — a file that keeps changing is another live process
 *     with the same name, a configuration error reported at start.
 *   - before each append the owner checks that its path still names its file: a stalled owner
 *     (no heartbeat for `staleMs`) may have been claimed, and then starts a new file.
 * Every spool directory must be local to one machine (mtimes are compared with this clock).
 *
 * Replaying a record twice is harmless — ingest dedupes on item keys — so progress is recorded
 * without fsync. Files are 0600 and the directory 0700: the spool holds customers' data.
 */
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  fchmodSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  futimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import type { PriorityClass } from '../priority.ts';

export class SpoolFullError extends Error {
  override readonly name = 'SpoolFullError';
}

/** Another live process writes the spool file under this process's name. */
export class SpoolInUseError extends Error {
  override readonly name = 'SpoolInUseError';
}

export interface SpoolRecord {
  /** Which Ingest method the items go to. */
  readonly m: 'events' | 'profileOps' | 'webhooks' | 'backInStock' | 'couponCodes';
  /** The origin: source, lane and class (records spooled before classes existed have none: live). */
  readonly o: { readonly id: string; readonly lane: string; readonly cls?: PriorityClass };
  readonly items: readonly unknown[];
  /** The request's body size, for queued-bytes limits (absent in records of older versions). */
  readonly b?: number;
}

export interface SpoolTiming {
  /** How often a live process refreshes the mtime of the files it holds. */
  readonly heartbeatMs: number;
  /** A file untouched this long has no live writer. Many heartbeats, so a busy event loop is not mistaken for death. */
  readonly staleMs: number;
}

export const DEFAULT_SPOOL_TIMING: SpoolTiming = { heartbeatMs: 1000, staleMs: 10_000 };

export const SPOOL_NAME = /^[A-Za-z0-9_-]{1,128}$/;
const OWNED = /^spool-[A-Za-z0-9_-]+\.log$/;
const CLAIMED = /^(spool-[A-Za-z0-9_-]+\.log)\.claimed-[A-Za-z0-9_-]+$/;
/** Named by pid, by versions before instance ids: recovered, but an empty one is left alone (its writer may predate heartbeats). */
const LEGACY = /^spool-\d+\.log$/;
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

const offsetOf = (file: string) => `${file}.offset`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function unlinkIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function endsWithNewline(path: string, size: number): boolean {
  const fd = openSync(path, 'r');
  try {
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] === 0x0a;
  } finally {
    closeSync(fd);
  }
}

export class Spool {
  readonly file: string;
  private fd!: number;
  private ino!: number;
  private bytes = 0;
  /** Records in this process's file not yet moved into Redis. */
  private pending = false;
  /** Claimed files being drained now: kept fresh by the heartbeat. */
  private readonly held = new Set<string>();
  private heartbeat: NodeJS.Timeout | undefined;

  /**
   * Opens (or takes over) the spool file named `name` in `dir`. Waits up to `staleMs` when a file
   * under that name was written moments ago; throws SpoolInUseError if it is still being written.
   */
  static async open(dir: string, name: string, maxBytes: number, timing: SpoolTiming = DEFAULT_SPOOL_TIMING): Promise<Spool> {
    if (!SPOOL_NAME.test(name)) throw new Error(`spool name ${JSON.stringify(name)}: use letters, digits, _ and - (at most 128)`);
    mkdirSync(dir, { recursive: true, mode: DIR_MODE });
    chmodSync(dir, DIR_MODE); // mkdir's mode is masked by the umask, and the directory may predate us
    const spool = new Spool(dir, name, maxBytes, timing);
    await spool.waitUntilAbandoned();
    spool.openOwn();
    spool.heartbeat = setInterval(() => spool.beat(), timing.heartbeatMs);
    spool.heartbeat.unref();
    return spool;
  }

  private constructor(
    readonly dir: string,
    readonly name: string,
    readonly maxBytes: number,
    private readonly timing: SpoolTiming,
  ) {
    this.file = join(dir, `spool-${name}.log`);
  }

  /** Bytes waiting in this process's spool file. */
  get size(): number {
    return this.bytes;
  }

  /** While anything is spooled here, new work must queue behind it. */
  get active(): boolean {
    return this.pending;
  }

  hasRoom(bytes = 0): boolean {
    return this.bytes + bytes <= this.maxBytes;
  }

  /** Appends and fsyncs; throws SpoolFullError past the limit. */
  append(rec: SpoolRecord): void {
    const line = `${JSON.stringify(rec)}\n`;
    const n = Buffer.byteLength(line);
    this.ensureOwn();
    if (!this.hasRoom(n)) throw new SpoolFullError(`the local spool is full (${this.bytes} of ${this.maxBytes} bytes)`);
    writeSync(this.fd, line);
    fsyncSync(this.fd);
    this.bytes += n;
    this.pending = true;
  }

  /**
   * Spool files with work in them that this process may drain: its own, and every file no live
   * process writes (a sibling's that died, a previous life's, a claimant's that died mid-drain).
   * Abandoned empty files are removed.
   */
  pendingFiles(): string[] {
    const out: string[] = [];
    const now = Date.now();
    for (const f of readdirSync(this.dir).sort()) {
      const path = join(this.dir, f);
      if (path === this.file) {
        if (this.pending) out.push(path);
        continue;
      }
      if (!OWNED.test(f) && !CLAIMED.test(f)) continue;
      if (this.held.has(path)) continue;
      const st = statOrUndefined(path);
      if (!st || now - st.mtimeMs < this.timing.staleMs) continue;
      if (st.size > 0) out.push(path);
      else if (OWNED.test(f) && !LEGACY.test(f)) unlinkIfThere(path);
    }
    return out;
  }

  /**
   * Applies every pending record in order (own file last, so older orphans go first). Stops at the
   * first failure (Redis still away) and resumes there next time. Returns how many were applied.
   */
  async drain(apply: (rec: SpoolRecord) => Promise<void>): Promise<number> {
    let applied = 0;
    const files = this.pendingFiles().sort((a, b) => (a === this.file ? 1 : b === this.file ? -1 : 0));
    for (const found of files) {
      const own = found === this.file;
      if (own) this.ensureOwn();
      const file = own ? found : this.claim(found);
      if (!file) continue; // another process claimed it first
      try {
        applied += await this.applyFile(file, apply);
      } finally {
        this.held.delete(file);
      }
      if (own) {
        // Nothing was appended since the last read (this runs without yielding): empty it.
        ftruncateSync(this.fd, 0);
        this.bytes = 0;
        this.pending = false;
      } else {
        unlinkIfThere(file);
      }
      unlinkIfThere(offsetOf(file));
    }
    return applied;
  }

  /**
   * Erasure (issue 16): rewrites every spool file in the directory — this process's, siblings',
   * claimed ones — without the items `drop` picks, and returns how many it dropped. A record left
   * with no items becomes an empty line: drain's progress files count lines, so lines never move.
   * Files are rewritten in place (same inode): an owner's heartbeat and its `ownsPath` check hold.
   * A sibling process appending to its own file at the same moment may lose the race (its record
   * written into the old length); erasure is rare and a multi-process spool is per machine.
   */
  scrub(drop: (m: SpoolRecord['m'], item: unknown) => boolean): number {
    let dropped = 0;
    for (const f of readdirSync(this.dir).sort()) {
      if (!OWNED.test(f) && !CLAIMED.test(f)) continue;
      const path = join(this.dir, f);
      const before = readFileSync(path, 'utf8');
      let changed = false;
      const lines = before.split('\n').map((line) => {
        if (line === '') return line;
        let rec: SpoolRecord;
        try {
          rec = JSON.parse(line) as SpoolRecord;
        } catch {
          return line; // a torn last line: never acknowledged, skipped by drain anyway
        }
        const items = rec.items.filter((it) => !drop(rec.m, it));
        if (items.length === rec.items.length) return line;
        dropped += rec.items.length - items.length;
        changed = true;
        return items.length === 0 ? '' : JSON.stringify({ ...rec, items });
      });
      if (!changed) continue;
      const after = lines.join('\n');
      if (path === this.file) {
        ftruncateSync(this.fd, 0);
        writeSync(this.fd, after);
        fsyncSync(this.fd);
        this.bytes = Buffer.byteLength(after);
      } else {
        writeFileSync(path, after, { mode: FILE_MODE });
      }
    }
    return dropped;
  }

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    if (this.pending) {
      // Work is still spooled (Redis is away): backdate the file so that the next process — this
      // one restarted, or a sibling — takes it over at once instead of waiting for it to go stale.
      try {
        futimesSync(this.fd, 0, 0);
      } catch {
        /* it stays fresh a while longer; it is still recovered */
      }
      closeSync(this.fd);
    } else {
      closeSync(this.fd);
      if (this.ownsPath()) {
        unlinkIfThere(this.file);
        unlinkIfThere(offsetOf(this.file));
      }
    }
  }

  /** A file under this name written moments ago may be a previous life's, or a live duplicate: wait and see. */
  private async waitUntilAbandoned(): Promise<void> {
    const deadline = Date.now() + this.timing.staleMs + this.timing.heartbeatMs;
    let seen = statOrUndefined(this.file)?.mtimeMs;
    while (seen !== undefined && Date.now() - seen < this.timing.staleMs) {
      if (Date.now() > deadline) break;
      await sleep(Math.min(this.timing.heartbeatMs, Math.max(10, seen + this.timing.staleMs - Date.now())));
      const now = statOrUndefined(this.file)?.mtimeMs;
      if (now !== undefined && now > seen) {
        throw new SpoolInUseError(
          `another live process is writing ${this.file}: every API process needs its own spool name (RELAY_INSTANCE_ID, or RELAY_SPOOL_DIR)`,
        );
      }
      seen = now;
    }
  }

  private openOwn(): void {
    // A progress file without its spool file belongs to a file that is gone: it must not skip records of a new one.
    if (!existsSync(this.file)) unlinkIfThere(offsetOf(this.file));
    this.fd = openSync(this.file, 'a', FILE_MODE);
    fchmodSync(this.fd, FILE_MODE); // a file from a previous life may have been created with another mode
    const st = fstatSync(this.fd);
    this.ino = st.ino;
    this.bytes = st.size;
    // A previous life that died mid-append left a torn last line (never acknowledged): end it, or
    // the next record would be glued to it and skipped with it — a record already answered 2xx.
    if (st.size > 0 && !endsWithNewline(this.file, st.size)) {
      writeSync(this.fd, '\n');
      fsyncSync(this.fd);
      this.bytes++;
    }
    this.pending = st.size > 0;
    const now = new Date();
    futimesSync(this.fd, now, now);
  }

  private ownsPath(): boolean {
    return statOrUndefined(this.file)?.ino === this.ino;
  }

  /** A stalled process's file may have been claimed by another: then this process starts a new one. */
  private ensureOwn(): void {
    if (this.ownsPath()) return;
    closeSync(this.fd);
    this.openOwn();
  }

  private beat(): void {
    const now = new Date();
    try {
      this.ensureOwn();
      futimesSync(this.fd, now, now);
      for (const path of this.held) utimesSync(path, now, now);
    } catch {
      /* a missed beat: the next one retries, and staleMs spans many */
    }
  }

  /** Renames an abandoned file to a name of this process's own; undefined if another process won. */
  private claim(path: string): string | undefined {
    const f = path.slice(this.dir.length + 1);
    const base = CLAIMED.exec(f)?.[1] ?? f;
    const claimed = join(this.dir, `${base}.claimed-${this.name}-${randomBytes(4).toString('hex')}`);
    try {
      renameSync(path, claimed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    this.held.add(claimed);
    const now = new Date();
    utimesSync(claimed, now, now);
    chmodSync(claimed, FILE_MODE); // a file from a version that created them 0644
    try {
      renameSync(offsetOf(path), offsetOf(claimed));
    } catch (err) {
      // No progress recorded (or lost to a crash between the renames): replayed from the start, deduped at ingest.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return claimed;
  }

  private async applyFile(file: string, apply: (rec: SpoolRecord) => Promise<void>): Promise<number> {
    const offsetFile = offsetOf(file);
    let done = existsSync(offsetFile) ? Number(readFileSync(offsetFile, 'utf8')) || 0 : 0;
    let applied = 0;
    for (;;) {
      const lines = readFileSync(file, 'utf8').split('\n');
      // The last line may be a torn write from a crash: it was never acknowledged, so it is skipped.
      const complete = lines.slice(0, -1);
      if (done >= complete.length) return applied;
      for (; done < complete.length; done++) {
        let rec: SpoolRecord;
        try {
          rec = JSON.parse(complete[done]!) as SpoolRecord;
        } catch {
          continue;
        }
        await apply(rec);
        applied++;
        writeFileSync(offsetFile, String(done + 1), { mode: FILE_MODE });
      }
      // Appends may have landed while we applied: go round again before declaring it empty.
    }
  }
}
