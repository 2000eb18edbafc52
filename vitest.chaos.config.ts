import { defineConfig } from 'vitest/config';

// `npm run test:chaos`: the promises of support-process.md section 9 under fire (crashes,
// dependency faults, two instances, fuzz, abuse). Each file records its figures; the chaos
// global setup prints them as one table at the end. CHAOS_SHORT=1 is CI's bounded version.
// One file at a time: several parts restart servers and kill processes.
export default defineConfig({
  test: {
    name: 'chaos',
    include: ['test/chaos/**/*.chaos.ts'],
    environment: 'node',
    setupFiles: ['test/support/temp-dirs-setup.ts'],
    testTimeout: 900_000,
    hookTimeout: 120_000,
    globalSetup: ['test/support/global-setup.ts', 'test/chaos/figures-setup.ts'],
    fileParallelism: false,
    maxWorkers: 1,
  },
});
