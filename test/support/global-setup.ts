// Integration tier global setup. On PostgreSQL (DATABASE_URL set) it migrates a template database
// once; every test file then gets its own database cloned from it (see test-database.ts).
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { openDatabase, migrateToLatest } from '../../src/db/database.js';

export const TEMPLATE_DB = `casemail_template_${process.pid}`;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const url = process.env.DATABASE_URL;
  if (process.env.CASEMAIL_REQUIRE_POSTGRES === '1' && !url) {
    throw new Error('CASEMAIL_REQUIRE_POSTGRES=1 but DATABASE_URL is not set: the PostgreSQL tier would be skipped');
  }
  if (!url) {
    project.provide('templateDatabase', null);
    return async () => {};
  }
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`drop database if exists ${TEMPLATE_DB}`);
  await admin.query(`create database ${TEMPLATE_DB}`);
  const handle = await openDatabase({ databaseUrl: withDatabase(url, TEMPLATE_DB), pgliteDir: null, poolSize: 1 });
  await migrateToLatest(handle.db);
  await handle.close();
  project.provide('templateDatabase', TEMPLATE_DB);
  return async () => {
    await admin.query(`drop database if exists ${TEMPLATE_DB} with (force)`);
    await admin.end();
  };
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string | null;
  }
}
