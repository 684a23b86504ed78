/** The CLI's shared helpers: durations, times given on the command line, tables. */
import { describe, expect, it } from 'vitest';
import { parseDuration, pointInTime } from '../../src/cli/args.ts';
import { UsageError } from '../../src/cli/errors.ts';
import { ago, duration, table } from '../../src/cli/format.ts';

describe('CLI formatting and parsing', () => {
  it('writes durations like 3m 12s', () => {
    expect(duration(850)).toBe('850ms');
    expect(duration(45_000)).toBe('45s');
    expect(duration(192_000)).toBe('3m 12s');
    expect(duration(180_000)).toBe('3m');
    expect(duration(7_500_000)).toBe('2h 5m');
    expect(duration(4 * 86_400_000 + 3_600_000)).toBe('4d 1h');
    expect(ago(Date.now() - 65_000)).toBe('1m 5s ago');
    expect(ago(undefined)).toBe('—');
  });

  it('reads durations and points in time', () => {
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('yesterday')).toBeUndefined();
    const now = Date.UTC(2026, 10, 27, 12, 0, 0);
    expect(pointInTime('1h', '--since', 'dlq list', now)).toBe(now - 3_600_000);
    expect(pointInTime('2026-11-27T10:00:00Z', '--since', 'dlq list', now)).toBe(Date.UTC(2026, 10, 27, 10));
    expect(pointInTime('2026-11-27T10:00:00+01:00', '--since', 'dlq list', now)).toBe(Date.UTC(2026, 10, 27, 9));
    expect(pointInTime('2026-11-27', '--since', 'dlq list', now)).toBe(Date.UTC(2026, 10, 27));
    expect(pointInTime('2026-11-27 10:00', '--since', 'dlq list', now)).toBe(Date.UTC(2026, 10, 27, 10));
    expect(pointInTime(undefined, '--since', 'dlq list', now)).toBeUndefined();
    expect(() => pointInTime('last week', '--since', 'dlq list', now)).toThrow(UsageError);
  });

  it('aligns tables: numbers to the right, no trailing blanks', () => {
    const t = table(
      [{ header: 'queue' }, { header: 'waiting', align: 'right' }, { header: 'note' }],
      [
        ['events.default', '1,200', ''],
        ['profiles.eu', '3', 'paused'],
      ],
    );
    expect(t.split('\n')).toEqual(['QUEUE           WAITING  NOTE', 'events.default    1,200', 'profiles.eu           3  paused']);
  });
});
