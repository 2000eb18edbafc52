// An attachment's bytes are no longer stored a second time, decoded, next to the raw message that
// carries them: a message's attachments are rows of metadata (position, name, type, SHA-256 and
// now size), and their bytes are read from the raw message when a relay needs them. The decoded
// copy was ~40% of the bytes PostgreSQL wrote for mail with attachments. Rows written before keep
// their `attachments` row, which is still read first.
// Frozen in time: this file never imports from src/.
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('message_attachments').addColumn('size', 'integer').execute();
  await sql`update message_attachments ma set size = a.size from attachments a where a.sha256 = ma.attachment_sha256`.execute(db);
  await sql`alter table message_attachments alter column size set not null`.execute(db);
  await sql`alter table message_attachments drop constraint if exists message_attachments_attachment_sha256_fkey`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  // Rows written since have no `attachments` row: the key comes back unchecked for them (NOT VALID).
  await sql`alter table message_attachments add constraint message_attachments_attachment_sha256_fkey
            foreign key (attachment_sha256) references attachments (sha256) not valid`.execute(db);
  await db.schema.alterTable('message_attachments').dropColumn('size').execute();
}
