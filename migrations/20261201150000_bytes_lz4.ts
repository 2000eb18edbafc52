// Raw messages and attachments are compressed with lz4 instead of pglz where the server has it
// (PostgreSQL 14+ built with lz4, as the Debian, embedded and managed builds are): pglz spent a
// quarter of the server's time on big mail (perf, bench realistic mix), lz4 compresses many times
// faster. Only new values are compressed the new way; existing rows stay as they are.
// Frozen in time: this file never imports from src/.
import { sql, type Kysely } from 'kysely';

const COLUMNS = [['raw_messages', 'bytes'], ['attachments', 'bytes']] as const;

async function setCompression(db: Kysely<unknown>, method: 'lz4' | 'pglz'): Promise<void> {
  const r = await sql<{ lz4: boolean }>`
    select exists (select 1 from pg_settings where name = 'default_toast_compression' and 'lz4' = any(enumvals)) as lz4`.execute(db);
  if (method === 'lz4' && !r.rows[0]?.lz4) return;
  for (const [table, column] of COLUMNS) {
    await sql`alter table ${sql.table(table)} alter column ${sql.ref(column)} set compression ${sql.raw(method)}`.execute(db);
  }
}

export async function up(db: Kysely<unknown>): Promise<void> {
  await setCompression(db, 'lz4');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await setCompression(db, 'pglz');
}
