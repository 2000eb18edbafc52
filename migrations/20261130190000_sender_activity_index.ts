// Indexes for the per-sender hourly caps: inside every new request's transaction the intake
// reads up to the cap of one sender address's `case_opened` events in the last hour, and up to
// the cap of those that were acknowledged.
// Frozen in time: this file never imports from src/.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('case_events_opened_by_actor').on('case_events').columns(['actor', 'at'])
    .where(sql.ref('kind'), '=', 'case_opened').execute();
  await db.schema.createIndex('case_events_acknowledged_by_actor').on('case_events').columns(['actor', 'at'])
    .where(sql<boolean>`kind = 'case_opened' and (data->>'acknowledged') = 'true'`).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('case_events_acknowledged_by_actor').execute();
  await db.schema.dropIndex('case_events_opened_by_actor').execute();
}
