// The outbox table: enqueueing a mail inside the caller's transaction (one row per cause), and
// the dispatcher's claim / finish / retry / fail / release steps, each one short statement or
// transaction. All I/O is the database handle passed first; time always comes in as `now`.
// Every row is bounded on the way in (mail-bounds.ts): no 200 KB subject or 14 MB text is stored,
// and automatic mail passes the per-address hourly limit (loops with auto-responders) here, so
// every path that queues mail is covered.
import { createHash, randomUUID } from 'node:crypto';
import { sql, type Insertable, type Selectable } from 'kysely';
import { PLAN_EACH_RUN, type Db, type DbOrTrx } from '../db/database.js';
import type { Logger } from '../log/logger.js';
import type { OutboxTable } from '../db/schema.js';
import type { MailKind, OutgoingMail } from './mail-kinds.js';
import { boundMailData, boundMessageId, boundName, boundReferences, boundSubject } from './mail-bounds.js';
import { parseMessage } from '../ingest/parse-message.js';
import { sha256 } from '../ingest/content-hash.js';
import { insertRows, type Table } from '../db/insert-rows.js';
import { RAW_MESSAGES } from '../cases/plan-rows.js';

export { stripHeaderBreaks } from './mail-bounds.js';

/**
 * Generates one of our own Message-IDs: `<random UUID@messageIdDomain>`, angle brackets included.
 * randomUUID (122 random bits) draws its randomness in batches: ~0.2 µs a call against ~5 µs
 * for randomBytes(16), and every outgoing mail needs one.
 */
export function generateMessageId(messageIdDomain: string): string {
  return `<${randomUUID()}@${messageIdDomain}>`;
}

const MAX_CAUSE_KEY_CHARS = 200;

/**
 * Cause keys carry input (e.g. the sender's address) and sit in a unique btree index, whose
 * entries PostgreSQL limits to about 2.7 KB: a long key keeps its start and gets a hash of the whole.
 */
export function boundCauseKey(key: string): string {
  if (key.length <= MAX_CAUSE_KEY_CHARS) return key;
  return `${key.slice(0, 120)}…sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** The outbox row for one mail, with its own Message-ID fixed now (every delivery carries it). */
function outboxRow(mail: OutgoingMail, ctx: EnqueueContext): Insertable<OutboxTable> {
  if (mail.to.length === 0) {
    throw Object.assign(new Error(`outbox: mail for cause ${boundCauseKey(mail.causeKey)} has no recipient`), { code: 'outbox_no_recipient' });
  }
  return {
    cause_key: boundCauseKey(mail.causeKey),
    kind: mail.kind,
    template: mail.kind,
    case_id: mail.caseId,
    to_addresses: JSON.stringify(mail.to),
    cc_addresses: JSON.stringify(mail.cc ?? []),
    reply_to: mail.replyTo ? boundName(mail.replyTo) : null,
    from_name: mail.fromName ? boundName(mail.fromName) : null,
    attachments_from: mail.attachmentsFrom ?? null,
    message_id_header: generateMessageId(ctx.messageIdDomain),
    in_reply_to: boundMessageId(mail.inReplyTo),
    references: JSON.stringify(boundReferences(mail.references ?? [])),
    auto_submitted: mail.autoSubmitted,
    subject: boundSubject(mail.subject),
    data: JSON.stringify(boundMailData(mail.kind, mail.data)),
    next_attempt_at: ctx.now,
    // The instant of the change that caused it (as its event's), not the database's clock: the case timeline orders by both.
    created_at: ctx.now,
  };
}

/** Default of `limits.maxAutomaticMailPerAddressPerHour`: a caller that passes no limit still gets one. */
export const DEFAULT_MAX_AUTOMATIC_MAIL_PER_ADDRESS_PER_HOUR = 10;
export const DEFAULT_MAX_AUTOMATIC_MAIL_PER_ENGINEER_PER_HOUR = 200;
const HOUR_MS = 3_600_000;

export interface EnqueueContext {
  messageIdDomain: string;
  now: Date;
  /** Automatic mail (autoSubmitted set) queued to one address per rolling hour before `now`; default 10. */
  maxAutomaticPerAddressPerHour?: number;
  /** The same for our engineers' addresses (notifications are their work queue); default 200. */
  maxAutomaticPerEngineerPerHour?: number;
  /** Gets one warn line per mail the limit held back or cut down. */
  logger?: Pick<Logger, 'warn'>;
}

/**
 * Writes one outbox row for `mail` unless its cause already has one. Call it inside the
 * transaction that makes the change causing the mail, so both commit or neither does. The
 * Message-ID is fixed here, so every delivery attempt of this row carries the same one.
 * Automatic mail passes the per-address hourly limit (see enqueueMails).
 */
export async function enqueueMail<K extends MailKind>(
  trx: DbOrTrx,
  mail: OutgoingMail<K>,
  ctx: EnqueueContext,
): Promise<{ inserted: boolean; messageIdHeader: string }> {
  const [inserted] = await insertMails(trx, [mail as OutgoingMail], ctx);
  if (inserted) return { inserted: true, messageIdHeader: inserted.message_id_header };
  const existing = await trx
    .selectFrom('outbox')
    .select('message_id_header')
    .where('cause_key', '=', boundCauseKey(mail.causeKey))
    .executeTakeFirstOrThrow();
  return { inserted: false, messageIdHeader: existing.message_id_header };
}

/**
 * enqueueMail for several mails in one statement: rows whose cause already has one are skipped.
 * Returns the causes that were inserted. Automatic mail (autoSubmitted set) is limited per
 * recipient address: an address that got `maxAutomaticPerAddressPerHour` automatic mails in the
 * hour before `now` is dropped from the mail; a mail with nobody left is written `held_back`
 * (never sent) with the reason in last_error. Human relays (autoSubmitted null) are never limited.
 */
export async function enqueueMails(
  trx: DbOrTrx,
  mails: readonly OutgoingMail[],
  ctx: EnqueueContext,
): Promise<Set<string>> {
  return new Set((await insertMails(trx, mails, ctx)).map((r) => r.cause_key));
}

/** The recipients of a mail, lower-cased, each once. */
function recipientsOf(mail: OutgoingMail): string[] {
  return [...new Set([...mail.to, ...(mail.cc ?? [])].map((a) => a.trim().toLowerCase()).filter((a) => a !== ''))];
}

interface LimitedMail {
  row: Insertable<OutboxTable>;
  /** Addresses the automatic-mail log gets a row for once the outbox row is in; empty for human mail. */
  logged: string[];
  note: { dropped: string[]; heldBack: boolean } | null;
}

async function insertMails(trx: DbOrTrx, mails: readonly OutgoingMail[], ctx: EnqueueContext): Promise<{ id: number; cause_key: string; message_id_header: string }[]> {
  if (mails.length === 0) return [];
  const limited = await limitAutomaticMail(trx, mails, ctx);
  // One statement: the outbox rows, and for each row actually inserted (a cause that already had
  // one inserts nothing) a log row per address the hourly limit counts.
  const logPairs = limited.flatMap((l) => l.logged.map((address) => ({ cause: l.row.cause_key, address })));
  const insert = trx.insertInto('outbox').values(limited.map((l) => l.row))
    .onConflict((oc) => oc.column('cause_key').doNothing())
    .returning(['id', 'cause_key', 'message_id_header']);
  const rows = logPairs.length === 0
    ? await insert.execute()
    : (await sql<{ id: string; cause_key: string; message_id_header: string }>`
        with ins as (${insert}),
        logged as (
          insert into automatic_mail_log (address, at, outbox_id)
          select l.address, ${ctx.now}::timestamptz, ins.id
            from ins join unnest(${logPairs.map((p) => p.cause)}::text[], ${logPairs.map((p) => p.address)}::text[]) as l(cause_key, address)
              on l.cause_key = ins.cause_key)
        select id, cause_key, message_id_header from ins`.execute(trx)).rows;
  const inserted = new Set(rows.map((r) => r.cause_key));
  for (const l of limited) {
    if (!l.note || !inserted.has(l.row.cause_key)) continue;
    ctx.logger?.warn(
      { causeKey: l.row.cause_key, kind: l.row.kind, caseId: l.row.case_id, dropped: l.note.dropped },
      l.note.heldBack ? 'automatic mail held back: every recipient reached the hourly limit' : 'automatic mail limited: recipients at the hourly limit dropped',
    );
  }
  return rows.map((r) => ({ id: Number(r.id), cause_key: r.cause_key, message_id_header: r.message_id_header }));
}

/**
 * The per-address hourly limit on automatic mail. Each address outside the team is serialised with
 * a transaction advisory lock (taken in sorted order, so two writers cannot deadlock), then its log
 * rows in the rolling hour before `now` are counted: a second writer for the same address waits
 * and sees the first one's rows. Our engineers' addresses are counted without the lock: every new
 * case notifies one of a few engineers, so their locks held every concurrent intake transaction in
 * one queue to its commit (pg_stat_statements: the lock was the database's largest cost in the
 * intake bench). Their limit is a brake on loops with an auto-responder, which go one mail at a
 * time; transactions committing at once may pass it by what they add together.
 * Mails whose cause already has a row are left alone (their insert does nothing).
 */
async function limitAutomaticMail(trx: DbOrTrx, mails: readonly OutgoingMail[], ctx: EnqueueContext): Promise<LimitedMail[]> {
  const customerLimit = ctx.maxAutomaticPerAddressPerHour ?? DEFAULT_MAX_AUTOMATIC_MAIL_PER_ADDRESS_PER_HOUR;
  const engineerLimit = ctx.maxAutomaticPerEngineerPerHour ?? DEFAULT_MAX_AUTOMATIC_MAIL_PER_ENGINEER_PER_HOUR;
  const plain = (mail: OutgoingMail): LimitedMail => ({ row: outboxRow(mail, ctx), logged: [], note: null });
  const automatic = mails.filter((m) => m.autoSubmitted);
  if (automatic.length === 0) return mails.map(plain);
  const addresses = [...new Set(automatic.flatMap(recipientsOf))].sort();
  if (addresses.length === 0) return mails.map(plain);
  // Every recipient's lock but the engineers', taken in sorted order so two writers cannot deadlock.
  // A mail whose cause already has a row is limited like the others; its insert then does nothing and logs nothing.
  await sql`select count(pg_advisory_xact_lock(hashtextextended('casemail-automatic:' || s.address, 0)))
              from (select a.address from unnest(${addresses}::text[]) as a(address)
                     where not exists (select 1 from engineers e where lower(e.address) = a.address) order by a.address) s`.execute(trx);
  const since = new Date(ctx.now.getTime() - HOUR_MS);
  // One round trip: each address's count in the hour, and whether it is one of our engineers (who get a higher limit).
  const counted = await sql<{ address: string; n: string; engineer: boolean }>`
    select a.address,
           (select count(*) from automatic_mail_log l where l.address = a.address and l.at > ${since} and l.at <= ${ctx.now}) as n,
           exists (select 1 from engineers e where lower(e.address) = a.address) as engineer
      from unnest(${addresses}::text[]) as a(address)`.execute(trx);
  const sent = new Map(counted.rows.map((c) => [c.address, Number(c.n)]));
  const engineers = new Set(counted.rows.filter((c) => c.engineer).map((c) => c.address));
  const limitFor = (a: string) => (engineers.has(a) ? engineerLimit : customerLimit);
  const settingFor = (a: string) => (engineers.has(a) ? 'maxAutomaticMailPerEngineerPerHour' : 'maxAutomaticMailPerAddressPerHour');
  return mails.map((mail) => {
    if (!mail.autoSubmitted) return plain(mail);
    const all = recipientsOf(mail);
    const kept = all.filter((a) => (sent.get(a) ?? 0) < limitFor(a));
    const dropped = all.filter((a) => !kept.includes(a));
    if (kept.length === 0) {
      // Kept with its recipients as written, so an operator sees whom it was for.
      const why = `held back: ${dropped.map((a) => `${a} got ${limitFor(a)} automatic mails in the hour before ${ctx.now.toISOString()} (limits.${settingFor(a)})`).join('; ')}`;
      return { row: { ...outboxRow(mail, ctx), status: 'held_back', last_error: why.slice(0, 1000) }, logged: [], note: { dropped, heldBack: true } };
    }
    for (const a of kept) sent.set(a, (sent.get(a) ?? 0) + 1);
    if (dropped.length === 0) return { row: outboxRow(mail, ctx), logged: kept, note: null };
    const keep = (list: readonly string[]) => list.filter((a) => kept.includes(a.trim().toLowerCase()));
    const to = keep(mail.to);
    const cc = keep(mail.cc ?? []);
    if (to.length === 0) to.push(cc.shift()!);
    return { row: outboxRow({ ...mail, to, cc }, ctx), logged: kept, note: { dropped, heldBack: false } };
  });
}

/** Drops automatic-mail log rows from before `before`: the hourly limit never reads them again. Returns how many went. */
export async function pruneAutomaticMailLog(db: DbOrTrx, before: Date): Promise<number> {
  const r = await db.deleteFrom('automatic_mail_log').where('at', '<', before).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** A claimed row, as the dispatcher needs it. */
export interface ClaimedMail {
  id: number;
  causeKey: string;
  kind: string;
  template: string;
  caseId: number | null;
  caseNumber: number | null;
  to: string[];
  cc: string[];
  replyTo: string | null;
  /** Display name on our From; null: the dispatcher's own. */
  fromName: string | null;
  /** Inbound message row whose non-inline attachments go with this mail. */
  attachmentsFrom: number | null;
  messageIdHeader: string;
  inReplyTo: string | null;
  references: string[];
  autoSubmitted: string | null;
  subject: string;
  data: Record<string, unknown>;
  /** Attempts including this one. */
  attempts: number;
}

type OutboxRow = Selectable<OutboxTable> & { case_number: number | null };

function toClaimed(row: OutboxRow): ClaimedMail {
  return {
    id: row.id,
    causeKey: row.cause_key,
    kind: row.kind,
    template: row.template,
    caseId: row.case_id,
    caseNumber: row.case_number,
    to: row.to_addresses,
    cc: row.cc_addresses,
    replyTo: row.reply_to,
    fromName: row.from_name,
    attachmentsFrom: row.attachments_from,
    messageIdHeader: row.message_id_header,
    inReplyTo: row.in_reply_to,
    references: row.references,
    autoSubmitted: row.auto_submitted,
    subject: row.subject,
    data: row.data,
    attempts: row.attempts,
  };
}

/**
 * Leases up to `limit` due rows to `owner` until `now + leaseMs` and counts the attempt, in one
 * statement. SKIP LOCKED lets several dispatchers claim side by side; an expired lease (a
 * dispatcher died mid-send) makes the row due again, and it goes out with the same Message-ID.
 */
export async function claimDueMail(
  db: DbOrTrx,
  opts: { now: Date; leaseMs: number; owner: string; limit: number },
): Promise<ClaimedMail[]> {
  const { now } = opts;
  const lockedUntil = new Date(now.getTime() + opts.leaseMs);
  const rows = await db
    .updateTable('outbox')
    .set({ locked_until: lockedUntil, locked_by: opts.owner, attempts: sql<number>`attempts + 1` })
    .where('id', 'in', (eb) =>
      eb.selectFrom('outbox')
        .select('id')
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', now)
        .where((w) => w.or([w('locked_until', 'is', null), w('locked_until', '<', now)]))
        .orderBy('next_attempt_at')
        .orderBy('id')
        .limit(opts.limit)
        .forUpdate()
        .skipLocked())
    .returningAll()
    .returning((eb) =>
      eb.selectFrom('cases').select('cases.number').whereRef('cases.id', '=', 'outbox.case_id').as('case_number'))
    .execute();
  return (rows as OutboxRow[]).map(toClaimed).sort((a, b) => a.id - b.id);
}

/** One attachment going out with a mail. */
export interface OutgoingAttachment {
  filename: string;
  contentType: string;
  content: Buffer;
  /** Set for an inline part the HTML shows (`cid:`), without angle brackets; null for a plain attachment. */
  contentId: string | null;
}

/** The attachments of a stored message that go with a mail, or what was left out and why. */
export interface MailAttachments {
  attachments: OutgoingAttachment[];
  /** Left out because together they exceed the bound: named in the mail instead. */
  omitted: { filename: string; size: number }[];
}

/** base64 makes 3 bytes 4, and the lines end in CRLF every 76 characters. */
function encodedSize(bytes: number): number {
  const b64 = Math.ceil(bytes / 3) * 4;
  return b64 + Math.ceil(b64 / 76) * 2;
}

function bareContentId(contentId: string | null): string | null {
  if (!contentId) return null;
  const bare = contentId.trim().replace(/^<(.*)>$/, '$1').trim();
  return bare === '' ? null : bare;
}

/**
 * The attachments of message row `messageRowId` (a relayed engineer reply) that go with a mail, in
 * their order, read for this one mail: every non-inline one, and the inline parts whose Content-ID
 * is in `shownCids` (the relayed HTML shows them as `cid:` images: a pasted screenshot). Other
 * inline parts stay behind. When their encoded size together exceeds `maxEncodedBytes` (the
 * message size limit), none is read and all are listed as omitted: a mail the receiving server
 * would refuse helps nobody, and a partial set would look complete.
 */
export async function loadMailAttachments(
  db: DbOrTrx,
  messageRowId: number,
  opts: { maxEncodedBytes: number; shownCids?: ReadonlySet<string> },
): Promise<MailAttachments> {
  const rows = await db
    .selectFrom('message_attachments as ma')
    .select(['ma.position', 'ma.filename', 'ma.content_type', 'ma.content_id', 'ma.inline', 'ma.attachment_sha256 as sha256', 'ma.size'])
    .where('ma.message_id', '=', messageRowId)
    .orderBy('ma.position')
    .execute();
  const shown = opts.shownCids ?? new Set<string>();
  const meta = rows
    .map((m) => ({ ...m, name: attachmentName(m.filename, m.position), cid: m.inline ? bareContentId(m.content_id) : null }))
    .filter((m) => !m.inline || (m.cid !== null && shown.has(m.cid)));
  if (meta.length === 0) return { attachments: [], omitted: [] };
  const total = meta.reduce((sum, m) => sum + encodedSize(Number(m.size)), 0);
  if (total > opts.maxEncodedBytes) return { attachments: [], omitted: meta.map((m) => ({ filename: m.name, size: Number(m.size) })) };
  const bySha = await attachmentBytes(db, messageRowId, new Set(meta.map((m) => m.sha256)));
  const missing = meta.filter((m) => !bySha.has(m.sha256));
  if (missing.length > 0) throw new Error(`attachment ${missing[0]!.name} of message ${messageRowId} is not in its raw message (SHA-256 ${missing[0]!.sha256})`);
  return {
    attachments: meta.map((m) => ({
      filename: m.name, contentType: m.content_type || 'application/octet-stream', content: bySha.get(m.sha256)!, contentId: m.cid,
    })),
    omitted: [],
  };
}

/**
 * The decoded bytes of these attachments of a stored message, by SHA-256: from `attachments`, where
 * rows written before 2026-12-02 keep them, else parsed out of the message's raw bytes again (the
 * same MIME walker and TNEF reading the intake ran) and matched by hash.
 */
async function attachmentBytes(db: DbOrTrx, messageRowId: number, wanted: ReadonlySet<string>): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  const stored = await db.selectFrom('attachments').select(['sha256', 'bytes']).where('sha256', 'in', [...wanted]).execute();
  for (const b of stored) found.set(b.sha256, Buffer.isBuffer(b.bytes) ? b.bytes : Buffer.from(b.bytes));
  if (found.size === wanted.size) return found;
  const raw = await db.selectFrom('messages as m').innerJoin('raw_messages as r', 'r.sha256', 'm.raw_sha256')
    .select('r.bytes').where('m.id', '=', messageRowId).executeTakeFirst();
  if (!raw) return found;
  const parsed = await parseMessage(Buffer.isBuffer(raw.bytes) ? raw.bytes : Buffer.from(raw.bytes));
  for (const a of parsed.attachments) {
    if (found.size === wanted.size) break;
    const hash = sha256(a.content);
    if (wanted.has(hash) && !found.has(hash)) found.set(hash, a.content);
  }
  return found;
}

/** The stored file name without control characters or path parts; "attachment-N" when there is none. */
function attachmentName(filename: string | null, position: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = (filename ?? '').replace(/[\u0000-\u001f\u007f]/g, '').split(/[\\/]/).pop()?.trim().slice(0, 200) ?? '';
  return clean === '' ? `attachment-${position + 1}` : clean;
}

/** What the dispatcher records about a delivered mail, in the same transaction that marks it sent. */
export interface SentRecord {
  raw: Buffer;
  sha256: string;
  fromAddress: string;
  /** The rendered text body, kept as the message's visible text in the case history. */
  text: string;
  /** Recipients the server refused while accepting the others; noted in last_error. */
  rejected: string[];
}

/** Marks the row sent and stores the outbound message (raw bytes once by hash) for the case history. */
export async function markMailSent(db: DbOrTrx, mail: ClaimedMail, record: SentRecord, now: Date): Promise<void> {
  await markMailsSent(db, [{ mail, record, now }]);
}

/**
 * markMailSent for several rows in one statement (atomic as a transaction, one round trip)
 * whatever their number: the rows, their raw bytes (once per hash), and their outbound messages.
 * The dispatcher records the mails the relay accepted meanwhile together, so neither a commit nor
 * a round trip is paid per mail.
 */
export async function markMailsSent(db: DbOrTrx, sent: readonly SentRow[]): Promise<void> {
  if (sent.length === 0) return;
  const raws = [...new Map(sent.map(({ record }) => [record.sha256, { sha256: record.sha256, bytes: record.raw }])).values()];
  const col = <T>(f: (s: SentRow) => T): T[] => sent.map(f);
  // The messages' foreign key to raw_messages is checked at the end of the statement, after both inserts.
  // A second dispatcher that raced past an expired lease may record the same mail: keep one (on conflict).
  // Planned at each run (PLAN_EACH_RUN): a generic plan made while the outbox was small scans all of it.
  await sql`${sql.raw(PLAN_EACH_RUN)}
    with marked as (
      update outbox o
         set status = 'sent', sent_at = v.sent_at, locked_until = null, locked_by = null, last_error = v.last_error
        from unnest(${col((s) => s.mail.id)}::bigint[], ${col((s) => s.now)}::timestamptz[], ${col((s) => sentNote(s.record))}::text[])
             as v(id, sent_at, last_error)
       where o.id = v.id),
    raw as (${insertRows(RAW_MESSAGES, raws)})
    ${insertRows(OUTBOUND_MESSAGES, sent)}`.execute(db);
}

type SentRow = { mail: ClaimedMail; record: SentRecord; now: Date };

/** The message row of a mail that went out: its text is what the recipient read, its raw what the server got. */
const OUTBOUND_MESSAGES: Table<SentRow> = {
  name: 'messages',
  columns: [
    ['direction', 'text', () => 'outbound'], ['case_id', 'bigint', (s) => s.mail.caseId], ['raw_sha256', 'text', (s) => s.record.sha256],
    ['content_hash', 'text', (s) => s.record.sha256], ['message_id_header', 'text', (s) => s.mail.messageIdHeader],
    ['in_reply_to', 'text', (s) => s.mail.inReplyTo], ['references', 'jsonb', (s) => JSON.stringify(s.mail.references)],
    ['from_address', 'text', (s) => s.record.fromAddress], ['subject', 'text', (s) => s.mail.subject], ['sent_at', 'timestamptz', (s) => s.now],
    ['received_at', 'timestamptz', (s) => s.now], ['source', 'text', () => 'outbox'], ['kind', 'text', (s) => s.mail.kind],
    ['status', 'text', () => 'sent'], ['visible_text', 'long text', (s) => s.record.text],
  ],
  onConflict: 'on conflict do nothing',
};

/** last_error of a sent row: the recipients the server refused while accepting the others, or null. */
function sentNote(record: SentRecord): string | null {
  return record.rejected.length > 0 ? `accepted except: ${record.rejected.join(', ')}` : null;
}

/** A temporary failure: the row waits until `nextAttemptAt`; the lease is released. */
export async function scheduleMailRetry(db: DbOrTrx, id: number, nextAttemptAt: Date, error: string): Promise<void> {
  await db
    .updateTable('outbox')
    .set({ next_attempt_at: nextAttemptAt, last_error: error, locked_until: null, locked_by: null })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}

/** A permanent failure (or attempts used up): visible to operators with the reason. */
export async function markMailFailed(db: DbOrTrx, id: number, error: string): Promise<void> {
  await db
    .updateTable('outbox')
    .set({ status: 'failed', last_error: error, locked_until: null, locked_by: null })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .execute();
}

/** Gives a claimed-but-not-attempted row back (graceful stop), without counting the attempt. */
export async function releaseMail(db: DbOrTrx, id: number, owner: string): Promise<void> {
  await db
    .updateTable('outbox')
    .set({ locked_until: null, locked_by: null, attempts: sql<number>`greatest(attempts - 1, 0)` })
    .where('id', '=', id)
    .where('locked_by', '=', owner)
    .where('status', '=', 'pending')
    .execute();
}

/**
 * Frees rows leased by a dispatcher on this host whose process is gone (it was killed mid-send):
 * their mail goes out again at once, with the same Message-ID, instead of after the lease. Leases
 * of other hosts, and of live processes here, are left to expire. Returns the rows freed.
 */
export async function releaseAbandonedLeases(db: DbOrTrx, host: string, isAlive: (pid: number) => boolean): Promise<number> {
  const owners = await db.selectFrom('outbox').select('locked_by').distinct()
    .where('status', '=', 'pending').where('locked_until', 'is not', null).where('locked_by', 'like', `${host}:%`)
    .execute();
  const dead = owners.map((o) => o.locked_by ?? '').filter((owner) => {
    const pid = Number(owner.slice(host.length + 1).split(':')[0]);
    return Number.isInteger(pid) && pid > 0 && pid !== process.pid && !isAlive(pid);
  });
  if (dead.length === 0) return 0;
  const r = await db.updateTable('outbox').set({ locked_until: null, locked_by: null })
    .where('status', '=', 'pending').where('locked_by', 'in', dead).executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** Operators: puts failed rows back in the queue (after fixing an address or the relay). */
export async function requeueFailedMail(db: DbOrTrx, opts: { ids?: number[]; now: Date }): Promise<number> {
  let q = db
    .updateTable('outbox')
    .set({ status: 'pending', attempts: 0, next_attempt_at: opts.now, locked_until: null, locked_by: null })
    .where('status', '=', 'failed');
  if (opts.ids) {
    if (opts.ids.length === 0) return 0;
    q = q.where('id', 'in', opts.ids);
  }
  const result = await q.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Counts by status, and the oldest pending row's due time, for `doctor` and logs. */
export async function outboxSummary(db: DbOrTrx): Promise<{ pending: number; sent: number; failed: number; held_back: number; oldestPendingAt: Date | null }> {
  const rows = await db
    .selectFrom('outbox')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.min('next_attempt_at').as('oldest')])
    .groupBy('status')
    .execute();
  const out = { pending: 0, sent: 0, failed: 0, held_back: 0, oldestPendingAt: null as Date | null };
  for (const r of rows) {
    out[r.status] = Number(r.n);
    if (r.status === 'pending' && r.oldest) out.oldestPendingAt = new Date(r.oldest);
  }
  return out;
}

/** Which of `addresses` are contacts marked bouncing (a permanent bounce of our mail), with the bounce's reason. */
export async function bouncingAddresses(db: DbOrTrx, addresses: readonly string[]): Promise<Map<string, string>> {
  const wanted = [...new Set(addresses.map((a) => a.trim().toLowerCase()).filter((a) => a !== ''))];
  if (wanted.length === 0) return new Map();
  const rows = await db.selectFrom('contacts').select(['address', 'bounce_reason'])
    .where('address', 'in', wanted).where('bouncing_since', 'is not', null).execute();
  return new Map(rows.map((r) => [r.address, r.bounce_reason ?? 'permanent bounce']));
}

/** One outbox row as `casemail outbox list` shows it (docs/operator-json.md). */
export interface OutboxListItem {
  id: number;
  createdAt: string;
  status: 'pending' | 'sent' | 'failed' | 'held_back';
  kind: string;
  caseNumber: number | null;
  to: string[];
  subject: string;
  attempts: number;
  lastError: string | null;
  /** When the dispatcher tries next (pending rows); for other rows the last value it had. */
  nextAttemptAt: string;
  sentAt: string | null;
}

/** Newest first, at most `limit` rows; `failed` keeps the rows that need an operator (failed, held_back). */
export async function listOutbox(db: DbOrTrx, opts: { failed?: boolean; limit?: number } = {}): Promise<OutboxListItem[]> {
  let q = db.selectFrom('outbox').leftJoin('cases', 'cases.id', 'outbox.case_id')
    .select(['outbox.id', 'outbox.created_at', 'outbox.status', 'outbox.kind', 'cases.number', 'outbox.to_addresses', 'outbox.cc_addresses',
      'outbox.subject', 'outbox.attempts', 'outbox.last_error', 'outbox.next_attempt_at', 'outbox.sent_at'])
    // Newest by id: the primary key serves the bounded scan (created_at is the cause's instant, in the same order).
    .orderBy('outbox.id', 'desc').limit(opts.limit ?? 100);
  if (opts.failed) q = q.where('outbox.status', 'in', ['failed', 'held_back']);
  const rows = await q.execute();
  return rows.map((r) => ({
    id: r.id, createdAt: r.created_at.toISOString(), status: r.status, kind: r.kind, caseNumber: r.number,
    to: [...r.to_addresses, ...r.cc_addresses], subject: r.subject, attempts: r.attempts, lastError: r.last_error,
    nextAttemptAt: r.next_attempt_at.toISOString(), sentAt: r.sent_at ? r.sent_at.toISOString() : null,
  }));
}

export type OutboxRetryOutcome =
  | { ok: true; previous: 'failed' | 'held_back'; caseId: number | null }
  | { ok: false; why: 'not_found' }
  | { ok: false; why: 'not_retryable'; status: 'pending' | 'sent' };

/**
 * An operator's retry of one row (`casemail outbox retry ID`): a failed or held_back row goes back
 * to pending, due now, attempts reset, its last error kept until the next attempt overwrites it.
 * A sent row is refused (it would go out twice), and so is a pending one (it is already queued).
 * The change and an `outbox_retried` event on its case are one transaction; the row is locked first.
 */
export async function retryOutboxRow(db: Db, id: number, opts: { now: Date; actor: string }): Promise<OutboxRetryOutcome> {
  return db.transaction().execute(async (trx): Promise<OutboxRetryOutcome> => {
    const row = await trx.selectFrom('outbox').select(['status', 'case_id', 'kind', 'attempts', 'last_error']).where('id', '=', id).forUpdate().executeTakeFirst();
    if (!row) return { ok: false, why: 'not_found' };
    if (row.status !== 'failed' && row.status !== 'held_back') return { ok: false, why: 'not_retryable', status: row.status };
    await trx.updateTable('outbox')
      .set({ status: 'pending', attempts: 0, next_attempt_at: opts.now, locked_until: null, locked_by: null })
      .where('id', '=', id).execute();
    if (row.case_id !== null) {
      await trx.insertInto('case_events').values({
        case_id: row.case_id, message_id: null, at: opts.now, actor: opts.actor, kind: 'outbox_retried',
        data: JSON.stringify({ outboxId: id, mailKind: row.kind, previous: row.status, attempts: row.attempts, lastError: row.last_error }),
      }).execute();
    }
    return { ok: true, previous: row.status, caseId: row.case_id };
  });
}
