// One isolated, migrated database per test file, cloned from the migrated template on the tier's
// server: DATABASE_URL when set, else the embedded server global setup started.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { withDatabase } from './global-setup.js';

export interface TestDatabase extends DatabaseHandle {
  /** The connection string of this test's own database. */
  url: string;
}

/** Which server the tier runs on: 'postgres' (DATABASE_URL) or 'embedded'. */
export function databaseKind(): 'postgres' | 'embedded' {
  return process.env.DATABASE_URL ? 'postgres' : 'embedded';
}

/** The tier's server URL (database `postgres` on the embedded server, or DATABASE_URL). */
export function serverUrl(): string {
  return inject('databaseUrl');
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const url = serverUrl();
  const template = inject('templateDatabase');
  const name = `casemail_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${template}`);
  } finally {
    await admin.end();
  }
  const ownUrl = withDatabase(url, name);
  const handle = await openDatabase({ databaseUrl: ownUrl, poolSize: 5 });
  return {
    ...handle,
    url: ownUrl,
    close: async () => {
      await handle.close();
      const a = new pg.Client({ connectionString: url });
      await a.connect();
      try {
        await a.query(`drop database if exists ${name} with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}
