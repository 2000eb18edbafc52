// One isolated, migrated database per test file: on PostgreSQL a database cloned from the
// migrated template (fast, real server); without DATABASE_URL an in-memory PGlite.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { openDatabase, migrateToLatest, type DatabaseHandle } from '../../src/db/database.js';
import { withDatabase } from './global-setup.js';

export interface TestDatabase extends DatabaseHandle {
  /** The connection string of this test's own database (PostgreSQL only). */
  url: string | null;
}

export function databaseKind(): 'postgres' | 'pglite' {
  return process.env.DATABASE_URL ? 'postgres' : 'pglite';
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const handle = await openDatabase({ databaseUrl: null, pgliteDir: null });
    await migrateToLatest(handle.db);
    return { ...handle, url: null };
  }
  const template = inject('templateDatabase');
  if (!template) throw new Error('global setup did not create the template database');
  const name = `casemail_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${template}`);
  } finally {
    await admin.end();
  }
  const ownUrl = withDatabase(url, name);
  const handle = await openDatabase({ databaseUrl: ownUrl, pgliteDir: null, poolSize: 5 });
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
