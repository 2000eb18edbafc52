import { defineConfig } from 'vitest/config';

// Two tiers: `unit` (pure modules, no I/O) and `integration` (real PostgreSQL: the embedded server or DATABASE_URL,
// real Dovecot, real smtp-server sink). `npm test` runs both.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          setupFiles: ['test/support/temp-dirs-setup.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          setupFiles: ['test/support/temp-dirs-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          globalSetup: ['test/support/global-setup.ts'],
          // Every worker shares one PostgreSQL server; two workers fit the 2-core machine.
          maxWorkers: 2,
          // Runs after the unit tier.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
