// Engineers working cases by mail (issue 7): held mail can be released or discarded, round-robin
// assignment remembers whom it gave a case last, and a relayed reply carries the engineer's name
// and the attachments of the message it relays.
// Frozen in time: this file never imports from src/.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table messages drop constraint if exists messages_status_check`.execute(db);
  await sql`alter table messages add constraint messages_status_check
    check (status in ('processed', 'held', 'quarantined', 'ignored', 'sent', 'released', 'discarded'))`.execute(db);
  await db.schema.alterTable('engineers').addColumn('last_assigned_at', 'timestamptz').execute();
  // "Erin Example via Support" on a relay; the inbound message whose attachments go with it.
  await db.schema.alterTable('outbox').addColumn('from_name', 'text').execute();
  await db.schema.alterTable('outbox').addColumn('attachments_from', 'bigint', (c) => c.references('messages.id')).execute();
  await db.schema.createIndex('cases_assignee').on('cases').column('assignee_engineer_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('cases_assignee').execute();
  await db.schema.alterTable('outbox').dropColumn('attachments_from').execute();
  await db.schema.alterTable('outbox').dropColumn('from_name').execute();
  await db.schema.alterTable('engineers').dropColumn('last_assigned_at').execute();
  await sql`alter table messages drop constraint if exists messages_status_check`.execute(db);
  await sql`alter table messages add constraint messages_status_check
    check (status in ('processed', 'held', 'quarantined', 'ignored', 'sent'))`.execute(db);
}
