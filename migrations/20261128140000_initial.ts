// Initial schema: directory (organisations, contracts, contacts, engineers), cases and their
// participants, links and audit events, messages with raw bytes stored once, attachments
// deduplicated by hash, the transactional outbox and mailbox cursors.
// Frozen in time: this file never imports from src/.
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('organisations')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('key', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('time_zone', 'text', (c) => c.notNull().defaultTo('UTC'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('contracts')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('organisation_id', 'bigint', (c) => c.notNull().references('organisations.id').onDelete('cascade'))
    .addColumn('product', 'text', (c) => c.notNull())
    .addColumn('starts_on', 'date', (c) => c.notNull())
    .addColumn('ends_on', 'date', (c) => c.notNull())
    .addUniqueConstraint('contracts_org_product_start', ['organisation_id', 'product', 'starts_on'])
    .addCheckConstraint('contracts_dates', sql`starts_on <= ends_on`)
    .execute();

  await db.schema
    .createTable('contacts')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('organisation_id', 'bigint', (c) => c.notNull().references('organisations.id').onDelete('cascade'))
    .addColumn('address', 'text', (c) => c.notNull().unique()) // stored lower-cased
    .addColumn('name', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('role', 'text', (c) => c.notNull().defaultTo('contact').check(sql`role in ('contact', 'org_admin')`))
    .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('bouncing_since', 'timestamptz')
    .addColumn('bounce_reason', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('contacts_organisation').on('contacts').column('organisation_id').execute();

  await db.schema
    .createTable('engineers')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('address', 'text', (c) => c.notNull().unique()) // stored lower-cased
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('team', 'text', (c) => c.notNull().defaultTo('support'))
    .addColumn('role', 'text', (c) => c.notNull().defaultTo('engineer').check(sql`role in ('engineer', 'supervisor')`))
    .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await sql`create sequence case_number_seq start with 100000 minvalue 1`.execute(db);

  await db.schema
    .createTable('cases')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('number', 'bigint', (c) => c.notNull().unique().defaultTo(sql`nextval('case_number_seq')`))
    .addColumn('organisation_id', 'bigint', (c) => c.notNull().references('organisations.id'))
    .addColumn('requester_contact_id', 'bigint', (c) => c.references('contacts.id'))
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('severity', 'smallint', (c) => c.notNull().check(sql`severity between 1 and 3`))
    // where the severity came from: 'suggested' (from the text), 'default', 'engineer'
    .addColumn('severity_source', 'text', (c) => c.notNull())
    .addColumn('severity_reasons', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('state', 'text', (c) =>
      c.notNull().defaultTo('new').check(sql`state in ('new', 'open', 'awaiting_customer', 'resolution_proposed', 'closed')`))
    .addColumn('assignee_engineer_id', 'bigint', (c) => c.references('engineers.id'))
    .addColumn('opened_at', 'timestamptz', (c) => c.notNull())
    .addColumn('first_response_due_at', 'timestamptz', (c) => c.notNull())
    .addColumn('first_response_at', 'timestamptz')
    .addColumn('sla_warning_due_at', 'timestamptz')
    .addColumn('sla_warned_at', 'timestamptz')
    .addColumn('sla_breached_at', 'timestamptz')
    // the auto-close instant of the current waiting state, and its reason when it fires
    .addColumn('auto_close_at', 'timestamptz')
    .addColumn('auto_close_reason', 'text')
    .addColumn('next_reminder_at', 'timestamptz')
    .addColumn('state_entered_at', 'timestamptz', (c) => c.notNull())
    .addColumn('closed_at', 'timestamptz')
    .addColumn('close_reason', 'text')
    .addColumn('escalated_at', 'timestamptz')
    .addColumn('split_group', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('cases_organisation_state').on('cases').columns(['organisation_id', 'state']).execute();
  // Partial indexes so the timer sweeps read only what can be due.
  await db.schema.createIndex('cases_first_response_due').on('cases').column('first_response_due_at')
    .where(sql.ref('first_response_at'), 'is', null).execute();
  await db.schema.createIndex('cases_auto_close_due').on('cases').column('auto_close_at')
    .where(sql.ref('auto_close_at'), 'is not', null).execute();
  await db.schema.createIndex('cases_next_reminder_due').on('cases').column('next_reminder_at')
    .where(sql.ref('next_reminder_at'), 'is not', null).execute();

  await db.schema
    .createTable('case_links')
    .addColumn('case_id', 'bigint', (c) => c.notNull().references('cases.id').onDelete('cascade'))
    .addColumn('linked_case_id', 'bigint', (c) => c.notNull().references('cases.id').onDelete('cascade'))
    // 'split_sibling', 'reopened_from', 'merged_into'
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('case_links_pk', ['case_id', 'linked_case_id', 'kind'])
    .execute();

  await db.schema
    .createTable('case_participants')
    .addColumn('case_id', 'bigint', (c) => c.notNull().references('cases.id').onDelete('cascade'))
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('contact_id', 'bigint', (c) => c.references('contacts.id'))
    // 'requester', 'cc', 'organisation'
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('added_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('case_participants_pk', ['case_id', 'address'])
    .execute();

  // Raw bytes of every message, stored once per distinct content.
  await db.schema
    .createTable('raw_messages')
    .addColumn('sha256', 'text', (c) => c.primaryKey())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('bytes', 'bytea', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('messages')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('direction', 'text', (c) => c.notNull().check(sql`direction in ('inbound', 'outbound')`))
    .addColumn('case_id', 'bigint', (c) => c.references('cases.id'))
    .addColumn('raw_sha256', 'text', (c) => c.references('raw_messages.sha256'))
    // hash of the message without trace headers: one copy delivered by IMAP and SMTP is one message
    .addColumn('content_hash', 'text', (c) => c.notNull())
    .addColumn('message_id_header', 'text')
    .addColumn('in_reply_to', 'text')
    .addColumn('references', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('from_address', 'text')
    .addColumn('subject', 'text')
    .addColumn('sent_at', 'timestamptz')
    .addColumn('received_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('source', 'text', (c) => c.notNull()) // imap, smtp, pipe, outbox
    .addColumn('mailbox', 'text')
    .addColumn('uid_validity', 'bigint')
    .addColumn('uid', 'bigint')
    .addColumn('kind', 'text') // human, auto-reply, bounce, ...
    .addColumn('classification', 'jsonb')
    .addColumn('sender_role', 'text') // customer, org_admin, engineer, unknown, ...
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('processed', 'held', 'quarantined', 'ignored', 'sent')`))
    .addColumn('status_reason', 'text')
    .addColumn('error', 'text')
    .addColumn('visible_text', 'text')
    .execute();
  await db.schema.createIndex('messages_message_id').on('messages').column('message_id_header').execute();
  await db.schema.createIndex('messages_case').on('messages').column('case_id').execute();
  await db.schema.createIndex('messages_dedup').on('messages').unique()
    .expression(sql`direction, coalesce(message_id_header, ''), content_hash`).execute();
  await db.schema.createIndex('messages_imap_uid').on('messages').unique()
    .columns(['mailbox', 'uid_validity', 'uid']).where(sql.ref('uid'), 'is not', null).execute();
  await db.schema.createIndex('messages_status').on('messages').column('status')
    .where(sql.ref('status'), 'in', sql`('held', 'quarantined')`).execute();

  await db.schema
    .createTable('attachments')
    .addColumn('sha256', 'text', (c) => c.primaryKey())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('bytes', 'bytea', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('message_attachments')
    .addColumn('message_id', 'bigint', (c) => c.notNull().references('messages.id').onDelete('cascade'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('attachment_sha256', 'text', (c) => c.notNull().references('attachments.sha256'))
    .addColumn('filename', 'text')
    .addColumn('content_type', 'text', (c) => c.notNull())
    .addColumn('content_id', 'text')
    .addColumn('inline', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('from_tnef', 'boolean', (c) => c.notNull().defaultTo(false))
    .addPrimaryKeyConstraint('message_attachments_pk', ['message_id', 'position'])
    .execute();

  await db.schema
    .createTable('case_events')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('case_id', 'bigint', (c) => c.references('cases.id').onDelete('cascade'))
    .addColumn('message_id', 'bigint', (c) => c.references('messages.id'))
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull()) // address, 'system' or 'operator'
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('data', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();
  await db.schema.createIndex('case_events_case').on('case_events').columns(['case_id', 'at']).execute();

  await db.schema
    .createTable('outbox')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    // one row per cause, e.g. 'ack:<message id>:<case number>'
    .addColumn('cause_key', 'text', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('case_id', 'bigint', (c) => c.references('cases.id'))
    .addColumn('to_addresses', 'jsonb', (c) => c.notNull())
    .addColumn('cc_addresses', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('reply_to', 'text')
    .addColumn('message_id_header', 'text', (c) => c.notNull().unique())
    .addColumn('in_reply_to', 'text')
    .addColumn('references', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('auto_submitted', 'text') // 'auto-replied', 'auto-generated' or null (engineer relay)
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('template', 'text', (c) => c.notNull())
    .addColumn('data', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c.notNull().defaultTo('pending').check(sql`status in ('pending', 'sent', 'failed')`))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'timestamptz', (c) => c.notNull())
    // a dispatcher's lease on the row while it sends; an expired lease means it died mid-send
    .addColumn('locked_until', 'timestamptz')
    .addColumn('locked_by', 'text')
    .addColumn('last_error', 'text')
    .addColumn('sent_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('outbox_due').on('outbox').column('next_attempt_at')
    .where(sql.ref('status'), '=', 'pending').execute();
  await db.schema.createIndex('outbox_case').on('outbox').column('case_id').execute();

  await db.schema
    .createTable('mailbox_cursors')
    .addColumn('mailbox', 'text', (c) => c.primaryKey())
    .addColumn('uid_validity', 'bigint', (c) => c.notNull())
    .addColumn('last_uid', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['mailbox_cursors', 'outbox', 'case_events', 'message_attachments', 'attachments', 'messages',
    'raw_messages', 'case_participants', 'case_links', 'cases', 'engineers', 'contacts', 'contracts', 'organisations']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
  await sql`drop sequence if exists case_number_seq`.execute(db);
}
