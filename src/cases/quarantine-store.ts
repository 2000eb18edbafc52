// Quarantined mail for operators (`casemail quarantine list|show|retry`): inbound messages the
// intake could not handle (status 'quarantined': unparseable, a handling error, oversize), with
// the error and the stored raw bytes. Retry re-runs the bytes through the intake the way a held
// release does (held-release.ts). I/O: the database `db`, and the intake passed in.
import { sql } from 'kysely';
import type { Db, DbOrTrx } from '../db/database.js';
import { decodeRawHeader, parseAddressList, splitHeaderBlock } from '../ingest/parse-header.js';
import { rerunStored, type ReleaseIntake, type ReleaseOutcome } from './held-release.js';

export interface QuarantineListItem {
  id: number;
  receivedAt: string;
  source: string;
  from: string | null;
  subject: string | null;
  /** 'error' (unparseable or a handling failure) or 'oversize'. */
  reason: string | null;
  error: string | null;
  size: number | null;
}

export interface QuarantineDetail extends QuarantineListItem {
  /** 'quarantined', or 'released' once retried (statusReason then names the new message). */
  status: string;
  statusReason: string | null;
  mailbox: string | null;
  /** The stored header fields, decoded, in their order (at most 200). */
  headers: { name: string; value: string }[];
  /** Oversize messages keep only their headers: there is nothing to retry. */
  headersOnly: boolean;
}

/** Only the header block is read: a quarantined message can be large. */
const HEADER_BYTES = 64 * 1024;

export async function listQuarantined(db: DbOrTrx, limit = 500): Promise<QuarantineListItem[]> {
  const rows = await db.selectFrom('messages').leftJoin('raw_messages', 'raw_messages.sha256', 'messages.raw_sha256')
    .select(['messages.id', 'messages.received_at', 'messages.source', 'messages.from_address', 'messages.subject', 'messages.status_reason',
      'messages.error', 'raw_messages.size', sql<Uint8Array | null>`substring(raw_messages.bytes from 1 for ${HEADER_BYTES})`.as('head')])
    .where('messages.status', '=', 'quarantined').where('messages.direction', '=', 'inbound')
    .orderBy('messages.received_at', 'desc').orderBy('messages.id', 'desc').limit(limit).execute();
  return rows.map((r) => {
    // A message quarantined before parsing has no From or Subject columns: read them from its headers.
    const h = r.from_address === null || r.subject === null ? headerFields(r.head) : [];
    return {
      id: r.id, receivedAt: r.received_at.toISOString(), source: r.source,
      from: r.from_address ?? senderOf(h), subject: r.subject ?? firstHeader(h, 'subject'),
      reason: r.status_reason, error: r.error, size: r.size === null ? null : Number(r.size),
    };
  });
}

export async function showQuarantined(db: DbOrTrx, id: number): Promise<QuarantineDetail | null> {
  const m = await db.selectFrom('messages').leftJoin('raw_messages', 'raw_messages.sha256', 'messages.raw_sha256')
    .select(['messages.id', 'messages.received_at', 'messages.source', 'messages.mailbox', 'messages.from_address', 'messages.subject', 'messages.status',
      'messages.status_reason', 'messages.error', 'raw_messages.size', sql<Uint8Array | null>`substring(raw_messages.bytes from 1 for ${HEADER_BYTES})`.as('head')])
    .where('messages.id', '=', id).where('messages.direction', '=', 'inbound')
    // A retried one stays visible with what became of it; other statuses are not quarantine's business.
    .where((w) => w.or([w('messages.status', '=', 'quarantined'), w.and([w('messages.status', '=', 'released'), w('messages.error', 'is not', null)])]))
    .executeTakeFirst();
  if (!m) return null;
  const headers = headerFields(m.head);
  const reason = m.status === 'quarantined' ? m.status_reason : null;
  return {
    id: m.id, receivedAt: m.received_at.toISOString(), source: m.source, from: m.from_address ?? senderOf(headers),
    subject: m.subject ?? firstHeader(headers, 'subject'), reason, error: m.error, size: m.size === null ? null : Number(m.size),
    status: m.status, statusReason: m.status_reason, mailbox: m.mailbox, headers, headersOnly: m.status_reason === 'oversize',
  };
}

export type NotQuarantined =
  | { ok: false; why: 'not_found' }
  | { ok: false; why: 'not_quarantined'; status: string }
  | { ok: false; why: 'headers_only' };

export type QuarantineRetryOutcome = NotQuarantined | Exclude<ReleaseOutcome, { why: 'not_found' | 'not_held' }>;

/**
 * Retries a quarantined message: its stored bytes through the intake again at `now` (after a fix
 * of whatever failed). The old row becomes `released as message N` in the intake's transaction; a
 * message that fails again is recognised as the same quarantined one and stays as it is. An
 * oversize message kept only its headers and is refused: retrying them would open an empty case.
 */
export async function retryQuarantined(db: Db, intake: ReleaseIntake, id: number, now: Date): Promise<QuarantineRetryOutcome> {
  const m = await db.selectFrom('messages').select(['status', 'status_reason', 'source', 'raw_sha256'])
    .where('id', '=', id).where('direction', '=', 'inbound').executeTakeFirst();
  if (!m) return { ok: false, why: 'not_found' };
  if (m.status !== 'quarantined') return { ok: false, why: 'not_quarantined', status: m.status };
  if (m.status_reason === 'oversize') return { ok: false, why: 'headers_only' };
  return rerunStored(db, intake, id, { source: m.source, rawSha256: m.raw_sha256 }, now);
}

function headerFields(head: Uint8Array | null): { name: string; value: string }[] {
  if (!head) return [];
  const text = Buffer.from(head).toString('latin1');
  const end = /\r?\n\r?\n/.exec(text);
  return splitHeaderBlock(end ? text.slice(0, end.index) : text).slice(0, 200)
    .map((f) => ({ name: f.name, value: decodeRawHeader(f.raw, null).replace(/\s+/g, ' ').trim() }));
}

function firstHeader(fields: { name: string; value: string }[], name: string): string | null {
  return fields.find((f) => f.name === name)?.value ?? null;
}

/** The From address (as the intake would store it), else the header as written, else null. */
function senderOf(fields: { name: string; value: string }[]): string | null {
  const value = firstHeader(fields, 'from');
  if (value === null) return null;
  return parseAddressList(value, 1)[0]?.address || value;
}
