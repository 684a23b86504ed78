/**
 * src/ingest/spool.ts in one process, on real files: append and drain in order, resume after a
 * failure, torn and unreadable lines, files of other processes (live, abandoned, claimed), and the
 * start-up takeover. (Across processes, and file modes: test/security/spool.test.ts.)
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Spool, SpoolFullError, SpoolInUseError, type SpoolRecord, type SpoolTiming } from '../../src/ingest/spool.ts';

// Short enough for quick tests, long enough that a loaded machine does not miss a heartbeat for a whole stale period.
const timing: SpoolTiming = { heartbeatMs: 25, staleMs: 1000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'relay-spool-unit-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
async function open(dir: string, name: string, maxBytes = 1 << 20, t = timing): Promise<Spool> {
  const s = await Spool.open(dir, name, maxBytes, t);
  cleanups.push(() => {
    try {
      s.close();
    } catch {
      /* closed by the test */
    }
  });
  return s;
}
const rec = (id: string): SpoolRecord => ({ m: 'events', o: { id: 'src', lane: 'default' }, items: [id] });
const idOf = (r: SpoolRecord) => r.items[0] as string;
const line = (id: string) => `${JSON.stringify(rec(id))}\n`;
/** Makes a file look abandoned: untouched for longer than staleMs. */
const age = (path: string) => utimesSync(path, new Date(Date.now() - 10 * timing.staleMs), new Date(Date.now() - 10 * timing.staleMs));
/** A file another process left: records as lines, aged. */
function orphan(dir: string, file: string, ids: string[], tail = ''): string {
  const path = join(dir, file);
  writeFileSync(path, ids.map(line).join('') + tail, { mode: 0o600 });
  age(path);
  return path;
}
function collector() {
  const applied: string[] = [];
  return { applied, apply: async (r: SpoolRecord) => void applied.push(idOf(r)) };
}

describe('append and drain, one process', () => {
  it('appends JSON lines and counts their bytes; drains them in order, then is empty and inactive', async () => {
    const dir = tmp();
    const s = await open(dir, 'api-a');
    expect(s.active).toBe(false);
    for (const id of ['1', '2', '3']) s.append(rec(id));
    expect(s.active).toBe(true);
    expect(s.size).toBe(Buffer.byteLength(['1', '2', '3'].map(line).join('')));
    expect(readFileSync(s.file, 'utf8')).toBe(['1', '2', '3'].map(line).join(''));

    const c = collector();
    expect(await s.drain(c.apply)).toBe(3);
    expect(c.applied).toEqual(['1', '2', '3']);
    expect(s.size).toBe(0);
    expect(s.active).toBe(false);
    expect(statSync(s.file).size).toBe(0);
    expect(await s.drain(c.apply)).toBe(0);
  });

  it('refuses a record past maxBytes (SpoolFullError) and writes nothing of it', async () => {
    const dir = tmp();
    const one = Buffer.byteLength(line('1'));
    const s = await open(dir, 'api-a', 2 * one);
    s.append(rec('1'));
    s.append(rec('2'));
    expect(s.hasRoom()).toBe(true);
    expect(s.hasRoom(1)).toBe(false);
    expect(() => s.append(rec('3'))).toThrow(SpoolFullError);
    expect(s.size).toBe(2 * one);
    expect(readFileSync(s.file, 'utf8')).toBe(line('1') + line('2'));
  });

  it('stops at the first failure and resumes there: nothing applied before it is applied again', async () => {
    const dir = tmp();
    const s = await open(dir, 'api-a');
    for (const id of ['1', '2', '3', '4']) s.append(rec(id));
    const applied: string[] = [];
    let redisUp = false;
    const apply = async (r: SpoolRecord) => {
      if (idOf(r) === '3' && !redisUp) throw new Error('Redis away');
      applied.push(idOf(r));
    };
    await expect(s.drain(apply)).rejects.toThrow('Redis away');
    expect(applied).toEqual(['1', '2']);
    expect(s.active).toBe(true); // still to do
    redisUp = true;
    expect(await s.drain(apply)).toBe(2);
    expect(applied).toEqual(['1', '2', '3', '4']);
    expect(s.active).toBe(false);
    expect(existsSync(`${s.file}.offset`)).toBe(false);
  });

  it('applies what is appended while it drains, in the same drain, before emptying the file', async () => {
    const dir = tmp();
    const s = await open(dir, 'api-a');
    s.append(rec('1'));
    const applied: string[] = [];
    const n = await s.drain(async (r) => {
      applied.push(idOf(r));
      await sleep(5);
      if (idOf(r) === '1') s.append(rec('2')); // a request spooled meanwhile
    });
    expect(n).toBe(2);
    expect(applied).toEqual(['1', '2']);
    expect(s.size).toBe(0);
  });

  it('skips a torn last line (a crash mid-write, never acknowledged) and an unreadable line', async () => {
    const dir = tmp();
    const torn = orphan(dir, 'spool-gone.log', [], `${line('1')}{not json\n${line('2')}{"m":"events","o":{"id`);
    // Cut just before its newline: whole JSON, but its append never finished, so never acknowledged.
    const cut = orphan(dir, 'spool-gone2.log', ['3'], JSON.stringify(rec('4')));
    const s = await open(dir, 'api-a');
    expect(s.pendingFiles()).toEqual([torn, cut]);
    const c = collector();
    expect(await s.drain(c.apply)).toBe(3);
    expect(c.applied).toEqual(['1', '2', '3']);
    expect(readdirSync(dir)).toEqual(['spool-api-a.log']);
  });
});

describe("other processes' files", () => {
  it('recovers abandoned files before its own, oldest name first; deletes them and their progress once applied', async () => {
    const dir = tmp();
    const s = await open(dir, 'api-b');
    s.append(rec('own'));
    const a = orphan(dir, 'spool-api-a.log', ['a1', 'a2']);
    const c2 = orphan(dir, 'spool-api-c.log', ['c1']);
    expect(s.pendingFiles()).toEqual([a, s.file, c2]); // by name…
    const c = collector();
    expect(await s.drain(c.apply)).toBe(4);
    expect(c.applied).toEqual(['a1', 'a2', 'c1', 'own']); // …and its own last
    expect(readdirSync(dir)).toEqual(['spool-api-b.log']);
  });

  it("never touches a live process's file (fresh mtime), nor files that are not spool files", async () => {
    const dir = tmp();
    const s = await open(dir, 'api-b');
    writeFileSync(join(dir, 'spool-api-a.log'), line('live'), { mode: 0o600 });
    for (const f of ['notes.txt', 'spool-api-a.log.offset', 'spool-bad name.log']) {
      writeFileSync(join(dir, f), line('x'));
      age(join(dir, f));
    }
    expect(s.pendingFiles()).toEqual([]);
    const c = collector();
    expect(await s.drain(c.apply)).toBe(0);
    expect(readFileSync(join(dir, 'spool-api-a.log'), 'utf8')).toBe(line('live'));
    expect(readdirSync(dir).sort()).toEqual(['notes.txt', 'spool-api-a.log', 'spool-api-a.log.offset', 'spool-api-b.log', 'spool-bad name.log']);
  });

  it('removes an abandoned empty file, but leaves an empty pid-named one (its writer may predate heartbeats)', async () => {
    const dir = tmp();
    orphan(dir, 'spool-api-a.log', []);
    orphan(dir, 'spool-4242.log', []);
    const legacyWithWork = orphan(dir, 'spool-4343.log', ['old']);
    const s = await open(dir, 'api-b');
    expect(s.pendingFiles()).toEqual([legacyWithWork]);
    expect(readdirSync(dir).sort()).toEqual(['spool-4242.log', 'spool-4343.log', 'spool-api-b.log']);
  });

  it("takes over a dead claimant's file with its progress: records it applied are not applied again", async () => {
    const dir = tmp();
    const claimed = orphan(dir, 'spool-api-a.log.claimed-api-c-0a0b0c0d', ['1', '2', '3']);
    writeFileSync(`${claimed}.offset`, '2');
    const s = await open(dir, 'api-b');
    expect(s.pendingFiles()).toEqual([claimed]);
    const c = collector();
    expect(await s.drain(c.apply)).toBe(1);
    expect(c.applied).toEqual(['3']);
    expect(readdirSync(dir)).toEqual(['spool-api-b.log']);
  });

  it('two processes draining the same abandoned file: one claims it, every record is applied once', async () => {
    const dir = tmp();
    const ids = Array.from({ length: 50 }, (_, i) => `r${i}`);
    orphan(dir, 'spool-api-a.log', ids);
    const [b, c] = [await open(dir, 'api-b'), await open(dir, 'api-c')];
    const applied: string[] = [];
    const apply = async (r: SpoolRecord) => {
      applied.push(idOf(r));
      await sleep(1);
    };
    const counts = await Promise.all([b.drain(apply), c.drain(apply)]);
    expect(counts.sort()).toEqual([0, 50]);
    expect(applied).toEqual(ids);
  });

  it('keeps a file it claimed fresh while it drains it, so that no one else claims it meanwhile', async () => {
    const dir = tmp();
    orphan(dir, 'spool-api-a.log', ['1', '2']);
    const [b, c] = [await open(dir, 'api-b'), await open(dir, 'api-c')];
    let seenByC: string[] | undefined;
    const n = await b.drain(async (r) => {
      if (idOf(r) === '1') {
        await sleep(2 * timing.staleMs); // a slow Redis: longer than a file takes to go stale
        seenByC = c.pendingFiles();
      }
    });
    expect(n).toBe(2);
    expect(seenByC).toEqual([]);
  });

  it('a stalled owner whose file was claimed meanwhile starts a new file for its next record', async () => {
    const dir = tmp();
    const s = await open(dir, 'api-a');
    s.append(rec('before'));
    const claimedAway = join(dir, 'spool-api-a.log.claimed-api-b-00000000');
    renameSync(s.file, claimedAway); // what another process's claim does
    s.append(rec('after'));
    expect(readFileSync(s.file, 'utf8')).toBe(line('after'));
    expect(readFileSync(claimedAway, 'utf8')).toBe(line('before'));
  });
});

describe('open and close', () => {
  it('refuses a name that is not letters, digits, _ and -', async () => {
    const dir = tmp();
    for (const name of ['', 'a/b', '../x', 'a.b', 'x'.repeat(129)]) await expect(Spool.open(dir, name, 1000, timing)).rejects.toThrow(/spool name/);
  });

  it('a clean close with nothing spooled removes its file; with work spooled it keeps it, backdated, and the next start takes it over at once', async () => {
    const dir = tmp();
    const empty = await open(dir, 'api-a');
    empty.close();
    expect(readdirSync(dir)).toEqual([]);

    const first = await open(dir, 'api-a');
    first.append(rec('1'));
    first.close();
    expect(statSync(first.file).mtimeMs).toBe(0);
    const t0 = Date.now();
    const second = await open(dir, 'api-a');
    expect(Date.now() - t0).toBeLessThan(timing.staleMs);
    expect(second.active).toBe(true);
    expect(second.size).toBe(Buffer.byteLength(line('1')));
    const c = collector();
    expect(await second.drain(c.apply)).toBe(1);
    expect(c.applied).toEqual(['1']);
  });

  it("a file under its name written moments ago (a previous life's, killed): it waits until it is stale, then takes it over", async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'spool-api-a.log'), line('1'), { mode: 0o600 });
    const t0 = Date.now();
    const s = await open(dir, 'api-a');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(timing.staleMs - 50);
    expect(s.active).toBe(true);
  });

  it('another live process under the same name: SpoolInUseError', async () => {
    const dir = tmp();
    await open(dir, 'api-a'); // its heartbeat keeps the file fresh
    await expect(Spool.open(dir, 'api-a', 1000, timing)).rejects.toThrow(SpoolInUseError);
  });

  it('a torn last line left by a previous life does not swallow the records appended after it', async () => {
    const dir = tmp();
    const path = orphan(dir, 'spool-api-a.log', ['1'], '{"m":"events","o":{"id');
    const s = await open(dir, 'api-a');
    s.append(rec('2'));
    s.append(rec('3'));
    expect(s.size).toBe(statSync(path).size);
    const c = collector();
    expect(await s.drain(c.apply)).toBe(3);
    expect(c.applied).toEqual(['1', '2', '3']);
  });

  it('a progress file left without its spool file is dropped: it must not skip records of a new file', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'spool-api-a.log.offset'), '5');
    const s = await open(dir, 'api-a');
    s.append(rec('1'));
    s.append(rec('2'));
    const c = collector();
    expect(await s.drain(c.apply)).toBe(2);
    expect(c.applied).toEqual(['1', '2']);
  });

  it("the heartbeat keeps its own file's mtime fresh", async () => {
    const dir = tmp();
    const s = await open(dir, 'api-a');
    s.append(rec('1'));
    age(s.file);
    await sleep(5 * timing.heartbeatMs);
    expect(Date.now() - statSync(s.file).mtimeMs).toBeLessThan(timing.staleMs);
  });
});

describe('scrub (erasure, issue 16)', () => {
  it("drops the picked items from its own file and others', keeps line numbers, and drain applies only what is left", async () => {
    const dir = tmp();
    const s = await open(dir, 'api-a');
    for (const id of ['keep-1', 'gone-2', 'keep-3']) s.append(rec(id));
    const other = orphan(dir, 'spool-api-b.log', ['gone-4', 'keep-5']);
    writeFileSync(`${other}.offset`, '1'); // its first record was applied already
    age(other);
    const dropped = s.scrub((_m, item) => String(item).startsWith('gone'));
    expect(dropped).toBe(2);
    expect(readFileSync(s.file, 'utf8').split('\n')).toHaveLength(4); // three lines and the final newline's empty tail
    expect(readFileSync(s.file, 'utf8')).not.toContain('gone');
    expect(readFileSync(other, 'utf8')).not.toContain('gone');
    expect(s.size).toBe(Buffer.byteLength(readFileSync(s.file, 'utf8')));
    age(other);
    const c = collector();
    await s.drain(c.apply);
    // The other file resumes after its applied first line (now empty): its second record comes in.
    expect(c.applied).toEqual(['keep-5', 'keep-1', 'keep-3']);
    // Appends after a scrub go on at the end of the own file.
    s.append(rec('keep-6'));
    const c2 = collector();
    await s.drain(c2.apply);
    expect(c2.applied).toEqual(['keep-6']);
  });
});
