import { defineConfig } from 'vitest/config';

// Integration tests talk to the real Redis on 127.0.0.1:6379 (each under its own key prefix)
// and to the Klaviyo simulator over real sockets, so they get generous timeouts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/faults/**', 'test/cluster/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Three files at a time on two cores: most integration tests wait on timers, retries and the
    // network, so a third worker fills the idle CPU (with two the suite took ~580 s).
    maxWorkers: 3,
  },
});
