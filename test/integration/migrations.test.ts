// Migrations run from an empty scratch database on the tier's server (the embedded one, or DATABASE_URL).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { openDatabase, migrateToLatest, pendingMigrations, type DatabaseHandle } from '../../src/db/database.js';
import { withDatabase } from '../support/global-setup.js';
import { databaseKind, serverUrl } from '../support/test-database.js';

describe(`migrations on ${databaseKind()}`, () => {
  let handle: DatabaseHandle;
  let dropScratch = async () => {};

  beforeAll(async () => {
    const url = serverUrl();
    const name = `casemail_m_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    handle = await openDatabase({ databaseUrl: withDatabase(url, name), poolSize: 2 });
    dropScratch = async () => {
      const a = new pg.Client({ connectionString: url });
      await a.connect();
      await a.query(`drop database if exists ${name} with (force)`);
      await a.end();
    };
  });
  afterAll(async () => {
    await handle?.close();
    await dropScratch();
  });

  it('applies every migration to an empty database and reports none pending', async () => {
    expect((await pendingMigrations(handle.db)).length).toBeGreaterThan(0);
    await migrateToLatest(handle.db, 500000);
    expect(await pendingMigrations(handle.db)).toEqual([]);
    const tables = await sql<{ table_name: string }>`
      select table_name from information_schema.tables where table_schema = current_schema() order by 1`.execute(handle.db);
    expect(tables.rows.map((r) => r.table_name)).toEqual(expect.arrayContaining([
      'attachments', 'case_events', 'case_links', 'case_participants', 'cases', 'contacts', 'contracts',
      'engineers', 'mailbox_cursors', 'message_attachments', 'messages', 'organisations', 'outbox', 'raw_messages',
    ]));
  });

  it('allocates case numbers from the sequence, starting at the configured start, never reusing one', async () => {
    const org = await handle.db.insertInto('organisations').values({ key: 'm', name: 'M' }).returning('id').executeTakeFirstOrThrow();
    const now = new Date('2026-11-28T12:00:00Z');
    const insert = () => handle.db.insertInto('cases').values({
      organisation_id: org.id, subject: 's', severity: 3, severity_source: 'default', severity_reasons: '[]',
      opened_at: now, first_response_due_at: now, state_entered_at: now,
    }).returning('number').executeTakeFirstOrThrow();
    const a = await insert();
    await handle.db.deleteFrom('cases').execute();
    const b = await insert();
    expect(a.number).toBe(500000);
    expect(b.number).toBe(500001);
    // Running migrate again with a lower start never moves the sequence back.
    await migrateToLatest(handle.db, 100);
    expect((await insert()).number).toBe(500002);
  });

  it('keeps one inbound row per Message-ID and content hash', async () => {
    const row = { direction: 'inbound' as const, content_hash: 'h1', message_id_header: '<a@b>', source: 'smtp' as const, status: 'processed' as const };
    await handle.db.insertInto('messages').values(row).execute();
    await expect(handle.db.insertInto('messages').values(row).execute()).rejects.toThrow(/duplicate key|unique/i);
  });
});
