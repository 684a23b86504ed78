import { defineConfig } from 'vitest/config';

// `npm run test:cluster`: everything on Redis Clusters of the tests' own (six redis-servers each,
// 3 masters and 3 replicas, on free loopback ports); never the shared Redis on 6379.
//  - failover: its own cluster, the simulator, 2 API and 3 worker processes; a worker killed and a
//    master failed over under load (test/cluster/failover.cluster.ts).
//  - suites: the end-to-end integration suites, unchanged, and cluster-only checks
//    (test/cluster/*.suite.ts) against one cluster started by test/cluster/global-setup.ts
//    (REDIS_URL=redis+cluster://…).
// One file at a time: the failover test measures the relay against the simulator's rate limits.
const SUITES = [
  'events-pipeline',
  'profile-ops',
  'dead-letters',
  'ops-lanes',
  'taxonomy',
  'webhooks-and-sources',
  'metrics',
  'priority-classification',
  'queue-registry',
  'legacy-queues',
  'source-limits',
  'queued-bytes',
  'profile-promotion-claims',
  'lua-script',
  'dedupe-memory',
].map((name) => `test/integration/${name}.test.ts`);

export default defineConfig({
  test: {
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    projects: [
      {
        test: { name: 'failover', include: ['test/cluster/**/*.cluster.ts'], testTimeout: 240_000, hookTimeout: 60_000, teardownTimeout: 60_000 },
      },
      {
        test: {
          name: 'suites-on-cluster',
          include: [...SUITES, 'test/cluster/**/*.suite.ts'],
          globalSetup: ['test/cluster/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
