/**
 * The local spool: where ingest puts accepted work while Redis cannot take it.
 *
 * A 2xx must mean the work is durable. When Redis is unreachable, each request's work is
 * appended to a file and fsync'ed before the answer; once Redis answers again the records are
 * moved into it in the order they came, and until the spool is empty new work joins the end of
 * the spool rather than overtaking it. Past RELAY_SPOOL_MAX_BYTES the API answers 503.
 *
 * One file per process (`spool-<pid>.log`, JSON lines) so processes never interleave writes;
 * a file left by a process that died is drained by the next one that looks. Replaying a record
 * twice is harmless — ingest dedupes on item keys — so progress is recorded without fsync.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';

export class SpoolFullError extends Error {
  override readonly name = 'SpoolFullError';
}

export interface SpoolRecord {
  /** Which Ingest method the items go to. */
  readonly m: 'events' | 'profileOps' | 'webhooks';
  readonly o: { readonly id: string; readonly lane: string };
  readonly items: readonly unknown[];
}

const FILE = /^spool-(\d+)\.log$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class Spool {
  readonly file: string;
  private fd: number | undefined;
  private bytes = 0;
  private records = 0;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, `spool-${process.pid}.log`);
  }

  /** Bytes waiting in this process's spool file. */
  get size(): number {
    return this.bytes;
  }

  /** While anything is spooled here, new work must queue behind it. */
  get active(): boolean {
    return this.records > 0;
  }

  hasRoom(bytes = 0): boolean {
    return this.bytes + bytes <= this.maxBytes;
  }

  /** Appends and fsyncs; throws SpoolFullError past the limit. */
  append(rec: SpoolRecord): void {
    const line = `${JSON.stringify(rec)}\n`;
    const n = Buffer.byteLength(line);
    if (!this.hasRoom(n)) throw new SpoolFullError(`the local spool is full (${this.bytes} of ${this.maxBytes} bytes)`);
    this.fd ??= openSync(this.file, 'a');
    writeSync(this.fd, line);
    fsyncSync(this.fd);
    this.bytes += n;
    this.records++;
  }

  /** Spool files with something in them: this process's, and those of processes that are gone. */
  pendingFiles(): string[] {
    return readdirSync(this.dir)
      .filter((f) => {
        const m = FILE.exec(f);
        if (!m) return false;
        const path = join(this.dir, f);
        if (path === this.file) return this.records > 0;
        return !alive(Number(m[1])) && statSync(path).size > 0;
      })
      .map((f) => join(this.dir, f));
  }

  /**
   * Applies every pending record in order (own file last, so older orphans go first). Stops at the
   * first failure (Redis still away) and resumes there next time. Returns how many were applied.
   */
  async drain(apply: (rec: SpoolRecord) => Promise<void>): Promise<number> {
    let applied = 0;
    const files = this.pendingFiles().sort((a, b) => (a === this.file ? 1 : b === this.file ? -1 : 0));
    for (const file of files) {
      const offsetFile = `${file}.offset`;
      let done = existsSync(offsetFile) ? Number(readFileSync(offsetFile, 'utf8')) || 0 : 0;
      for (;;) {
        const lines = readFileSync(file, 'utf8').split('\n');
        // The last line may be a torn write from a crash: it was never acknowledged, so it is skipped.
        const complete = lines.slice(0, -1);
        if (done >= complete.length) break;
        for (; done < complete.length; done++) {
          let rec: SpoolRecord;
          try {
            rec = JSON.parse(complete[done]!) as SpoolRecord;
          } catch {
            continue;
          }
          await apply(rec);
          applied++;
          writeFileSync(offsetFile, String(done + 1));
        }
        // Appends may have landed while we applied: go round again before declaring it empty.
      }
      if (file === this.file) {
        // Nothing was appended since the last read (this runs without yielding): empty it.
        if (this.fd !== undefined) ftruncateSync(this.fd, 0);
        this.bytes = 0;
        this.records = 0;
        if (existsSync(offsetFile)) unlinkSync(offsetFile);
      } else {
        unlinkSync(file);
        if (existsSync(offsetFile)) unlinkSync(offsetFile);
      }
    }
    return applied;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    if (this.records === 0 && existsSync(this.file)) unlinkSync(this.file);
  }
}
