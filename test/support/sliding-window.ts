/**
 * The most of `times` (ms) that any interval [t, t + windowMs) holds, at every alignment, and the
 * first time of that interval: how a sliding-window limit would count them (the gateway tests, the
 * cluster suite's limits, the accounts benchmark).
 */
export function busiestWindow(times: readonly number[], windowMs: number): { count: number; at: number } {
  const t = [...times].sort((a, b) => a - b);
  let count = 0;
  let at = Number.NaN;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= windowMs) j++;
    if (i - j + 1 > count) [count, at] = [i - j + 1, t[j]!];
  }
  return { count, at };
}
