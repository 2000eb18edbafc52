// Where each IMAP intake remembers how far it got (UIDVALIDITY and last UID), in the database.
// Advanced by the intake only after the messages up to that UID committed.
import { sql } from 'kysely';
import type { DbOrTrx } from '../db/database.js';
import type { MailboxCursorStore } from '../ingest/intake-types.js';

export function databaseCursorStore(db: DbOrTrx): MailboxCursorStore {
  return {
    async get(mailbox) {
      const row = await db.selectFrom('mailbox_cursors').select(['uid_validity', 'last_uid']).where('mailbox', '=', mailbox).executeTakeFirst();
      return row ? { uidValidity: row.uid_validity, lastUid: row.last_uid } : null;
    },
    async set(mailbox, cursor) {
      await db.insertInto('mailbox_cursors')
        .values({ mailbox, uid_validity: cursor.uidValidity, last_uid: cursor.lastUid, updated_at: sql`now()` })
        .onConflict((oc) => oc.column('mailbox').doUpdateSet({ uid_validity: cursor.uidValidity, last_uid: cursor.lastUid, updated_at: sql`now()` }))
        .execute();
    },
  };
}
