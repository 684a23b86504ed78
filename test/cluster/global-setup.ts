/**
 * For the integration suites that `npm run test:cluster` runs on a cluster: one Redis Cluster
 * (3 masters with a replica each) for all of them, handed over as TEST_REDIS_URL
 * (test/support/redis.ts), which the forked test processes inherit. Each suite still works
 * under its own key prefix and deletes its keys.
 */
import { ClusterScenario } from './cluster-scenario.ts';

export default async function setup(): Promise<() => Promise<void>> {
  const sc = await ClusterScenario.redisOnly('suites');
  process.env.TEST_REDIS_URL = sc.redisUrl;
  console.log(`[cluster] integration suites on ${sc.redisUrl}`);
  return async () => {
    await sc.cleanup();
  };
}
