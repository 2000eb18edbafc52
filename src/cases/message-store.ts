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
 * it, in one statement. Returns the message row's id. `rawWritten`: the hash under which the raw
 * bytes were already written in this transaction (storeBytesFirst); they are not sent again.
 */
export async function insertMessageWithRaw(
  trx: DbOrTrx, bytes: Buffer, row: Omit<Insertable<MessagesTable>, 'raw_sha256'>, events: readonly MessageEvent[] = [], rawWritten: string | null = null,
): Promise<number> {
  const hash = rawWritten ?? sha256(bytes);
  const rawInsert = rawWritten === null ? sql`raw as (${bytesInsert(trx, new Map([[hash, bytes]]))}),` : sql``;
  const messageInsert = trx.insertInto('messages').values({ ...row, raw_sha256: hash }).returning('id');
  const eventValues = events.length
    ? sql.join(events.map((e) => sql`(${e.caseId}::bigint, ${e.at}::timestamptz, ${e.actor}::text, ${e.kind}::text, ${JSON.stringify(e.data)}::jsonb)`))
    : sql`(null::bigint, null::timestamptz, null::text, null::text, null::jsonb)`;
  const r = await sql<{ id: number }>`
    with ${rawInsert}
         m as (${messageInsert}),
         e as (insert into case_events (case_id, message_id, at, actor, kind, data)
               select v.case_id, m.id, v.at, v.actor, v.kind, v.data from m cross join (values ${eventValues}) as v(case_id, at, actor, kind, data)
               where v.kind is not null)
    select id from m`.execute(trx);
  return Number(r.rows[0]!.id);
}

/** Raw messages keyed by their SHA-256, each stored once: a row already there is left as it is. */
export function bytesInsert(trx: DbOrTrx, rows: ReadonlyMap<string, Buffer>) {
  return trx.insertInto('raw_messages').values([...rows].map(([hash, bytes]) => ({ sha256: hash, size: bytes.length, bytes })))
    .onConflict((oc) => oc.column('sha256').doNothing());
}

/** The SHA-256 of a message's raw bytes and of each of its attachments: the keys of their rows. */
export interface BytesHashes {
  raw: string;
  attachments: string[];
}

export function bytesHashes(raw: Buffer, attachments: readonly ParsedAttachment[]): BytesHashes {
  return { raw: sha256(raw), attachments: attachments.map((a) => sha256(a.content)) };
}

/** Messages of at least this many bytes have them written first (storeBytesFirst). */
const BYTES_FIRST_MIN = 64 * 1024;
/** The bytes one statement of storeBytesFirst carries at most (a bigger message goes alone). */
const BYTES_FIRST_PER_STATEMENT = 8 * 1024 * 1024;

/**
 * Writes the raw bytes of the big messages among these (64 KiB and more) at the start of their
 * transaction, before it takes the senders' locks. The rows are keyed by content (once per hash)
 * and nothing the transaction reads depends on them; written first, the megabytes cross to the
 * server while no lock is held, and the locks are held only for the decision and the small rows.
 * They commit or roll back with the messages. Several messages share a statement, up to 8 MiB of
 * bytes. Returns per message the hashes its later writes refer to the bytes (and its attachments)
 * by, or undefined for a small one (its bytes go with its row).
 */
export async function storeBytesFirst(trx: DbOrTrx, messages: readonly { raw: Buffer; attachments: readonly ParsedAttachment[] }[]): Promise<(BytesHashes | undefined)[]> {
  const hashes = messages.map((m) => (m.raw.length >= BYTES_FIRST_MIN ? bytesHashes(m.raw, m.attachments) : undefined));
  let raws = new Map<string, Buffer>();
  let bytes = 0;
  const write = async () => {
    if (raws.size === 0) return;
    await bytesInsert(trx, raws).execute();
    raws = new Map();
    bytes = 0;
  };
  for (const [k, m] of messages.entries()) {
    const h = hashes[k];
    if (!h) continue;
    if (bytes > 0 && bytes + m.raw.length > BYTES_FIRST_PER_STATEMENT) await write();
    raws.set(h.raw, m.raw);
    bytes += m.raw.length;
  }
  await write();
  return hashes;
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
