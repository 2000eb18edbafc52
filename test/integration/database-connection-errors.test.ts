// A connection of the pool that dies (here: its backend terminated) is told to every listener the
// handle was given (the service counts them as casemail_dependency_errors_total{dependency=
// "database"}), and the next query runs on a fresh connection.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { createTestDatabase, databaseKind, serverUrl, type TestDatabase } from '../support/test-database.js';

describe(`database handle on ${databaseKind()}: lost connections reach the listeners`, () => {
  let tdb: TestDatabase;
  let handle: DatabaseHandle;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    handle = await openDatabase({ databaseUrl: tdb.url, poolSize: 2 });
  });
  afterAll(async () => {
    await handle?.close();
    await tdb?.close();
  });

  it('tells the listeners when a backend is terminated, and recovers', async () => {
    const seen: Error[] = [];
    handle.onConnectionError((error) => seen.push(error));
    const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(handle.db);
    const backend = rows[0]!.pid;

    const admin = new pg.Client({ connectionString: serverUrl() });
    await admin.connect();
    try {
      await admin.query('select pg_terminate_backend($1)', [backend]);
    } finally {
      await admin.end();
    }

    await expect.poll(() => seen.length, { timeout: 10_000, interval: 20 }).toBeGreaterThan(0);
    expect(seen[0]!.message).toMatch(/terminat/i);
    const again = await sql<{ one: number }>`select 1 as one`.execute(handle.db);
    expect(again.rows[0]!.one).toBe(1);
  });
});
