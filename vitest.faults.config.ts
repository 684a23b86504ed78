import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

/** Scenarios run one at a time, in file-name order (a … f), so the table reads in order. */
class ByName extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => a.moduleId.localeCompare(b.moduleId));
  }
}

// The fault suite (`npm run test:faults`): each scenario starts its own redis-server, simulator,
// API and worker processes and breaks one of them; scenarios must never overlap.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.fault.ts'],
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 240_000,
    hookTimeout: 60_000,
    teardownTimeout: 60_000,
    globalSetup: ['test/faults/global-setup.ts'],
    sequence: { sequencer: ByName, shuffle: false },
  },
});
