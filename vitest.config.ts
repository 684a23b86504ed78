import { defineConfig } from 'vitest/config';
import { LongestFirst } from './test/support/longest-first.ts';

// Integration tests talk to the real Redis on 127.0.0.1:6379 (each under its own key prefix)
// and to the Klaviyo simulator over real sockets, so they get generous timeouts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/faults/**', 'test/cluster/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 3,
    // Longest files first (test/support/longest-first.ts): a fresh checkout has no timings of its own.
    sequence: { sequencer: LongestFirst },
  },
});
