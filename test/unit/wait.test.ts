/** The one polling helper every test, fault scenario and benchmark waits with (test/support/wait.ts). */
import { describe, expect, it } from 'vitest';
import { StopWaiting, waitUntil } from '../support/wait.ts';

describe('waitUntil', () => {
  it('returns the first truthy value, polling until it comes', async () => {
    let calls = 0;
    const got = await waitUntil('the third call', async () => ++calls >= 3 && { calls }, { intervalMs: 1 });
    expect(got).toEqual({ calls: 3 });
    expect(calls).toBe(3);
  });

  it('takes a throw for "not yet"', async () => {
    let calls = 0;
    const got = await waitUntil(
      'a condition that throws twice',
      () => {
        if (++calls < 3) throw new Error('not yet');
        return 'ok';
      },
      { intervalMs: 1 },
    );
    expect(got).toBe('ok');
  });

  it('on timeout names what was awaited and the last value seen', async () => {
    let n = 0;
    const t0 = Date.now();
    const err = await waitUntil('the counter to reach 1000', () => ++n >= 1000 && n, { timeoutMs: 60, intervalMs: 5 }).catch((e: Error) => e);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(60);
    expect(n).toBeGreaterThan(1);
    expect((err as Error).message).toBe('timed out after 60 ms waiting for the counter to reach 1000 (last seen: false)');
  });

  it('on timeout after a throw, shows that error', async () => {
    const err = await waitUntil(
      'the server',
      () => {
        throw new TypeError('connection refused');
      },
      { timeoutMs: 20, intervalMs: 5 },
    ).catch((e: Error) => e);
    expect((err as Error).message).toBe('timed out after 20 ms waiting for the server (last seen: TypeError: connection refused)');
  });

  it('shows the last value as it is (an empty string, 0) and cuts a long one short', async () => {
    const empty = await waitUntil('a name', () => '', { timeoutMs: 10, intervalMs: 5 }).catch((e: Error) => e);
    expect((empty as Error).message).toMatch(/\(last seen: ''\)$/);
    const long = await waitUntil(
      'a quiet log',
      () => {
        throw new Error('x'.repeat(2000));
      },
      { timeoutMs: 10, intervalMs: 5 },
    ).catch((e: Error) => e);
    expect((long as Error).message).toMatch(/\(last seen: Error: x{493}…\)$/);
  });

  it('StopWaiting ends the wait at once, naming what was awaited', async () => {
    let calls = 0;
    const t0 = Date.now();
    const err = await waitUntil(
      'the process to be ready',
      () => {
        calls++;
        throw new StopWaiting('the process exited (1)');
      },
      { timeoutMs: 5000, intervalMs: 5 },
    ).catch((e: Error) => e);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(calls).toBe(1);
    expect((err as Error).message).toBe('gave up waiting for the process to be ready: the process exited (1)');
    expect((err as Error).cause).toBeInstanceOf(StopWaiting);
  });
});
