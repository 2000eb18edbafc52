import { defineConfig } from 'vitest/config';

// Two tiers: `unit` (pure modules, no I/O) and `integration` (real PostgreSQL or PGlite,
// real Dovecot, real smtp-server sink). `npm test` runs both.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          globalSetup: ['test/support/global-setup.ts'],
          // PGlite needs ~0.7 GiB per instance; two workers fit the 2-core machine.
          maxWorkers: 2,
          // Runs after the unit tier.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
