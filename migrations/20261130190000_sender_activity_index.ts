// Index for the per-sender hourly caps: the intake counts the `case_opened` events of one
// sender address in the last hour inside every new request's transaction.
// Frozen in time: this file never imports from src/.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('case_events_opened_by_actor').on('case_events').columns(['actor', 'at'])
    .where(sql.ref('kind'), '=', 'case_opened').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('case_events_opened_by_actor').execute();
}
