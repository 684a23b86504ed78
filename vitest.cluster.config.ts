import { defineConfig } from 'vitest/config';

// The Redis Cluster test (`npm run test:cluster`): starts six redis-servers of its own (3 masters,
// 3 replicas), the simulator, 2 API and 3 worker processes; never the shared Redis on 6379.
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.cluster.ts'],
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 240_000,
    hookTimeout: 60_000,
    teardownTimeout: 60_000,
  },
});
