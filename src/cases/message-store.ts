// Storing messages: raw bytes once per content, one row per distinct inbound message
// (Message-ID + content hash, and mailbox/UIDVALIDITY/UID), attachments once per hash, and
// the lookups threading needs (which case a Message-ID belongs to, which of our mails a report is about).
import { sql } from 'kysely';
import type { DbOrTrx } from '../db/database.js';
import type { MessageStatus, MessagesTable } from '../db/schema.js';
import type { Insertable } from 'kysely';
import type { ParsedAttachment } from '../threading/parsed-message.js';
import { sha256 } from '../ingest/content-hash.js';
import type { OurMail } from '../threading/bounce-trust.js';

export interface ExistingMessage {
  id: number;
  status: MessageStatus;
  caseId: number | null;
}

/** An inbound message we already hold: same Message-ID and content, or the same IMAP UID. */
export async function findInboundDuplicate(
  db: DbOrTrx,
  key: { messageIdHeader: string | null; contentHash: string; mailbox: string | null; uidValidity: number | null; uid: number | null },
): Promise<ExistingMessage | null> {
  const byContent = await db.selectFrom('messages').select(['id', 'status', 'case_id'])
    .where('direction', '=', 'inbound')
    .where(sql`coalesce(message_id_header, '')`, '=', key.messageIdHeader ?? '')
    .where('content_hash', '=', key.contentHash)
    .executeTakeFirst();
  if (byContent) return { id: byContent.id, status: byContent.status, caseId: byContent.case_id };
  if (key.mailbox && key.uidValidity !== null && key.uid !== null) {
    const byUid = await db.selectFrom('messages').select(['id', 'status', 'case_id'])
      .where('mailbox', '=', key.mailbox).where('uid_validity', '=', key.uidValidity).where('uid', '=', key.uid)
      .executeTakeFirst();
    if (byUid) return { id: byUid.id, status: byUid.status, caseId: byUid.case_id };
  }
  return null;
}

/** An audit event written together with the message it is about (the message id is filled in). */
export interface MessageEvent {
  caseId: number;
  at: Date;
  actor: string;
  kind: string;
  data: Record<string, unknown>;
}

/**
 * Stores the raw bytes (once per content), inserts the message row and the audit events about
 * it, in one statement. Returns the message row's id.
 */
export async function insertMessageWithRaw(trx: DbOrTrx, bytes: Buffer, row: Omit<Insertable<MessagesTable>, 'raw_sha256'>, events: readonly MessageEvent[] = []): Promise<number> {
  const hash = sha256(bytes);
  const rawInsert = trx.insertInto('raw_messages').values({ sha256: hash, size: bytes.length, bytes })
    .onConflict((oc) => oc.column('sha256').doNothing());
  const messageInsert = trx.insertInto('messages').values({ ...row, raw_sha256: hash }).returning('id');
  const eventValues = events.length
    ? sql.join(events.map((e) => sql`(${e.caseId}::bigint, ${e.at}::timestamptz, ${e.actor}::text, ${e.kind}::text, ${JSON.stringify(e.data)}::jsonb)`))
    : sql`(null::bigint, null::timestamptz, null::text, null::text, null::jsonb)`;
  const r = await sql<{ id: number }>`
    with raw as (${rawInsert}),
         m as (${messageInsert}),
         e as (insert into case_events (case_id, message_id, at, actor, kind, data)
               select v.case_id, m.id, v.at, v.actor, v.kind, v.data from m cross join (values ${eventValues}) as v(case_id, at, actor, kind, data)
               where v.kind is not null)
    select id from m`.execute(trx);
  return Number(r.rows[0]!.id);
}

export async function storeAttachments(trx: DbOrTrx, messageRowId: number, attachments: readonly ParsedAttachment[]): Promise<void> {
  if (attachments.length === 0) return;
  const q = attachmentInserts(trx, messageRowId, attachments);
  await q.bytes.execute();
  await q.links.execute();
}

/**
 * The two inserts that store a message's attachments: the bytes once per hash, and the message's
 * list of them. To run in this order, or as parts of one statement (apply-plan.ts); each hash is
 * hashed and sent once however often the message carries it.
 */
export function attachmentInserts(
  trx: DbOrTrx, messageRowId: number, attachments: readonly ParsedAttachment[], hashes = attachments.map((a) => sha256(a.content)),
) {
  const once = new Map<string, Buffer>();
  attachments.forEach((a, k) => { if (!once.has(hashes[k]!)) once.set(hashes[k]!, a.content); });
  return {
    bytes: trx.insertInto('attachments').values([...once].map(([hash, bytes]) => ({ sha256: hash, size: bytes.length, bytes })))
      .onConflict((oc) => oc.column('sha256').doNothing()),
    links: trx.insertInto('message_attachments').values(attachments.map((a, position) => ({
      message_id: messageRowId, position, attachment_sha256: hashes[position]!, filename: a.filename, content_type: a.contentType,
      content_id: a.contentId, inline: a.inline, from_tnef: a.fromTnef,
    }))),
  };
}

/** The case that any of these Message-IDs (ours in the outbox, or stored inbound/outbound) belongs to; the newest wins. */
export async function caseIdForMessageIds(db: DbOrTrx, messageIds: readonly string[]): Promise<number | null> {
  const ids = [...new Set(messageIds.filter(Boolean))].slice(0, 200);
  if (ids.length === 0) return null;
  const fromMessages = await db.selectFrom('messages').select(['case_id', 'id'])
    .where('message_id_header', 'in', ids).where('case_id', 'is not', null)
    .orderBy('id', 'desc').limit(1).executeTakeFirst();
  if (fromMessages?.case_id) return fromMessages.case_id;
  const fromOutbox = await db.selectFrom('outbox').select(['case_id'])
    .where('message_id_header', 'in', ids).where('case_id', 'is not', null)
    .orderBy('id', 'desc').limit(1).executeTakeFirst();
  return fromOutbox?.case_id ?? null;
}

/**
 * Our outgoing mails a report refers to: the outbox row its VERP return path names, and rows
 * whose Message-ID it quotes (in its returned headers, In-Reply-To or References).
 */
export async function findOurMail(db: DbOrTrx, ref: { outboxId: number | null; messageIds: readonly string[] }): Promise<OurMail[]> {
  const ids = [...new Set(ref.messageIds.filter(Boolean))].slice(0, 200);
  if (ref.outboxId === null && ids.length === 0) return [];
  const rows = await db.selectFrom('outbox').select(['id', 'case_id', 'to_addresses', 'cc_addresses'])
    .where((eb) => eb.or([
      ...(ref.outboxId !== null ? [eb('id', '=', ref.outboxId)] : []),
      ...(ids.length > 0 ? [eb('message_id_header', 'in', ids)] : []),
    ]))
    .limit(50).execute();
  return rows.map((r) => ({
    outboxId: Number(r.id), caseId: r.case_id === null ? null : Number(r.case_id),
    recipients: [...r.to_addresses, ...r.cc_addresses].map((a) => a.toLowerCase()),
  }));
}
