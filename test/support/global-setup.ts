// Integration tier global setup: the tier's PostgreSQL server is DATABASE_URL when set, else one
// embedded server (disposable: no fsync) in a temp folder for this run. A template database is
// migrated once; every test file then gets its own database cloned from it (test-database.ts).
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { openDatabase, migrateToLatest } from '../../src/db/database.js';
import { acquireEmbeddedServer, embeddedUrl } from '../../src/db/embedded-postgres.js';

export const TEMPLATE_DB = `casemail_template_${process.pid}`;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let url = process.env.DATABASE_URL;
  if (process.env.CASEMAIL_REQUIRE_POSTGRES === '1' && !url) {
    throw new Error('CASEMAIL_REQUIRE_POSTGRES=1 but DATABASE_URL is not set: the PostgreSQL tier would run on the embedded server');
  }
  let stopEmbedded = async () => {};
  if (!url) {
    // A short path: the server's Unix socket lives in this folder.
    const folder = mkdtempSync(path.join(tmpdir(), 'casemail-tier-'));
    chmodSync(folder, 0o755); // under root the server's own user must be able to enter it
    const lease = await acquireEmbeddedServer(path.join(folder, 'pg'), { disposable: true });
    url = embeddedUrl(lease.connection, 'postgres');
    stopEmbedded = async () => {
      await lease.release();
      rmSync(folder, { recursive: true, force: true });
    };
  }
  const admin = new pg.Client({ connectionString: url });
  try {
    await admin.connect();
    await admin.query(`drop database if exists ${TEMPLATE_DB}`);
    await admin.query(`create database ${TEMPLATE_DB}`);
    const handle = await openDatabase({ databaseUrl: withDatabase(url, TEMPLATE_DB), poolSize: 1 });
    await migrateToLatest(handle.db);
    await handle.close();
  } catch (err) {
    // The embedded server is detached: released here, or it would outlive the failed run.
    await admin.end().catch(() => {});
    await stopEmbedded();
    throw err;
  }
  project.provide('databaseUrl', url);
  project.provide('templateDatabase', TEMPLATE_DB);
  return async () => {
    try {
      await admin.query(`drop database if exists ${TEMPLATE_DB} with (force)`);
      await admin.end();
    } finally {
      await stopEmbedded();
    }
  };
}

/** The same server URL naming another database (keeps `?host=` for the embedded server's socket). */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** The tier's server (DATABASE_URL or the embedded one), database `postgres`/as given. */
    databaseUrl: string;
    templateDatabase: string;
  }
}
