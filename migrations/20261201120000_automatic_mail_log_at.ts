// The automatic-mail log is pruned by the sweep (rows older than the limit's hour are never read
// again); an index on the instant keeps that delete from reading the whole table.
// Frozen in time: this file never imports from src/.
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('automatic_mail_log_at').on('automatic_mail_log').column('at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('automatic_mail_log_at').execute();
}
