/** Human output: aligned tables, durations (`3m 12s`), ages, times, and ✓/✗ marks. */

export interface Column {
  readonly header: string;
  /** Numbers read best right-aligned. */
  readonly align?: 'left' | 'right';
}

/** Display width, close enough for a terminal: code points, not UTF-16 units. */
function width(s: string): number {
  return [...s].length;
}

function pad(s: string, n: number, align: 'left' | 'right' = 'left'): string {
  const fill = ' '.repeat(Math.max(0, n - width(s)));
  return align === 'right' ? fill + s : s + fill;
}

/** Columns separated by two spaces, headers in capitals, no trailing blanks. */
export function table(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((c, i) => Math.max(width(c.header), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: readonly string[]) =>
    columns
      .map((c, i) => pad(cells[i] ?? '', i === columns.length - 1 && c.align !== 'right' ? 0 : widths[i]!, c.align))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header.toUpperCase())), ...rows.map(line)].join('\n');
}

/** `850ms`, `45s`, `3m 12s`, `2h 5m`, `3d 4h`. */
export function duration(ms: number): string {
  const neg = ms < 0;
  ms = Math.abs(ms);
  let s: string;
  if (ms < 1000) s = `${Math.round(ms)}ms`;
  else {
    const total = Math.floor(ms / 1000);
    const d = Math.floor(total / 86_400);
    const h = Math.floor((total % 86_400) / 3600);
    const m = Math.floor((total % 3600) / 60);
    const sec = total % 60;
    if (d > 0) s = h > 0 ? `${d}d ${h}h` : `${d}d`;
    else if (h > 0) s = m > 0 ? `${h}h ${m}m` : `${h}h`;
    else if (m > 0) s = sec > 0 ? `${m}m ${sec}s` : `${m}m`;
    else s = `${sec}s`;
  }
  return neg ? `-${s}` : s;
}

/** `3m 12s ago`, or `—` for no time. */
export function ago(at: number | undefined, now = Date.now()): string {
  if (!at) return '—';
  const d = now - at;
  return d < 1000 ? 'just now' : `${duration(d)} ago`;
}

/** `2026-11-27 22:31:26Z` */
export function time(at: number | string | undefined): string {
  if (at === undefined || at === '' || at === 0) return '—';
  const ms = typeof at === 'number' ? at : Date.parse(at);
  if (!Number.isFinite(ms)) return String(at);
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** Shortens to `max` characters with an ellipsis; newlines become spaces. */
export function clip(s: string, max: number): string {
  const flat = s.replace(/\s+/g, ' ').trim();
  return width(flat) <= max ? flat : `${[...flat].slice(0, max - 1).join('')}…`;
}

const useColor = (stream: NodeJS.WriteStream) => stream.isTTY === true && !process.env['NO_COLOR'] && process.env['TERM'] !== 'dumb';

function paint(code: number, s: string, stream: NodeJS.WriteStream = process.stdout): string {
  return useColor(stream) ? `\x1b[${code}m${s}\x1b[0m` : s;
}

export const mark = {
  ok: (stream?: NodeJS.WriteStream) => paint(32, '✓', stream),
  fail: (stream?: NodeJS.WriteStream) => paint(31, '✗', stream),
  warn: (stream?: NodeJS.WriteStream) => paint(33, '!', stream),
  skip: (stream?: NodeJS.WriteStream) => paint(2, '-', stream),
};

/** Writes a line to stdout. */
export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Writes JSON to stdout: the whole of a command's output under --json. */
export function outJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Writes a line to stderr (progress, hints that must not pollute --json output). */
export function note(line = ''): void {
  process.stderr.write(`${line}\n`);
}
