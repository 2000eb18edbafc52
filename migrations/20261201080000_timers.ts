// Timers and loop-safe sending (issue 9): partial indexes so the sweep reads only SLA instants
// that can still fire, an outbox status for automatic mail the per-address limit held back, and
// the log that limit counts.
// Frozen in time: this file never imports from src/.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // A warning or breach can fire only while nobody answered, it has not fired, and the case is not closed.
  await db.schema.createIndex('cases_sla_warning_due').on('cases').column('sla_warning_due_at')
    .where(sql<boolean>`first_response_at is null and sla_warned_at is null and sla_breached_at is null and state <> 'closed'`).execute();
  await db.schema.createIndex('cases_sla_breach_due').on('cases').column('first_response_due_at')
    .where(sql<boolean>`first_response_at is null and sla_breached_at is null and state <> 'closed'`).execute();

  // 'held_back': automatic mail the per-address hourly limit stopped (a loop with an auto-responder); never sent.
  await sql`alter table outbox drop constraint if exists outbox_status_check`.execute(db);
  await sql`alter table outbox add constraint outbox_status_check check (status in ('pending', 'sent', 'failed', 'held_back'))`.execute(db);
  await db.schema.createIndex('outbox_held_back').on('outbox').column('created_at')
    .where(sql.ref('status'), '=', 'held_back').execute();

  // One row per automatic mail queued to an address: what the hourly limit counts.
  await db.schema
    .createTable('automatic_mail_log')
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('outbox_id', 'bigint', (c) => c.references('outbox.id').onDelete('cascade'))
    .execute();
  await db.schema.createIndex('automatic_mail_log_address_at').on('automatic_mail_log').columns(['address', 'at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('automatic_mail_log').execute();
  await db.schema.dropIndex('outbox_held_back').execute();
  await sql`update outbox set status = 'failed' where status = 'held_back'`.execute(db);
  await sql`alter table outbox drop constraint if exists outbox_status_check`.execute(db);
  await sql`alter table outbox add constraint outbox_status_check check (status in ('pending', 'sent', 'failed'))`.execute(db);
  await db.schema.dropIndex('cases_sla_breach_due').execute();
  await db.schema.dropIndex('cases_sla_warning_due').execute();
}
