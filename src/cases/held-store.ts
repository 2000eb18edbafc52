// Held mail for operators (`casemail held list|show|discard`): messages the intake kept aside
// (status 'held') and what became of them. Plain functions over `db`; discarding is one
// transaction that changes the row and records who did it. Nothing is ever deleted.
import type { DbOrTrx, Db } from '../db/database.js';
import { addressHeaders } from './case-view.js';

export interface HeldListItem {
  id: number;
  receivedAt: string;
  from: string | null;
  subject: string | null;
  reason: string | null;
  caseNumber: number | null;
}

export interface HeldDetail extends HeldListItem {
  /** 'held', or what an operator made of it: 'released' / 'discarded'. */
  status: string;
  to: string[];
  cc: string[];
  visibleText: string | null;
  attachments: { name: string | null; size: number }[];
  events: { at: string; actor: string; kind: string; caseNumber: number | null; data: Record<string, unknown> }[];
}

/** Statuses `held show` answers for: a held message, and one an operator already dealt with. */
const SHOWN = ['held', 'released', 'discarded'] as const;

export async function listHeld(db: DbOrTrx, limit = 500): Promise<HeldListItem[]> {
  const rows = await db.selectFrom('messages').leftJoin('cases', 'cases.id', 'messages.case_id')
    .select(['messages.id', 'messages.received_at', 'messages.from_address', 'messages.subject', 'messages.status_reason', 'cases.number'])
    .where('messages.status', '=', 'held').where('messages.direction', '=', 'inbound')
    .orderBy('messages.received_at').orderBy('messages.id').limit(limit).execute();
  return rows.map((r) => ({
    id: r.id, receivedAt: r.received_at.toISOString(), from: r.from_address, subject: r.subject, reason: r.status_reason, caseNumber: r.number,
  }));
}

export async function showHeld(db: DbOrTrx, id: number): Promise<HeldDetail | null> {
  const m = await db.selectFrom('messages').leftJoin('cases', 'cases.id', 'messages.case_id')
    .leftJoin('raw_messages', 'raw_messages.sha256', 'messages.raw_sha256')
    .select(['messages.id', 'messages.received_at', 'messages.from_address', 'messages.subject', 'messages.status', 'messages.status_reason',
      'messages.visible_text', 'cases.number', 'raw_messages.bytes'])
    .where('messages.id', '=', id).where('messages.direction', '=', 'inbound').where('messages.status', 'in', SHOWN)
    .executeTakeFirst();
  if (!m) return null;
  const [attachments, events] = await Promise.all([
    db.selectFrom('message_attachments').select(['filename', 'size']).where('message_id', '=', id).orderBy('position').execute(),
    db.selectFrom('case_events').leftJoin('cases', 'cases.id', 'case_events.case_id')
      .select(['case_events.id', 'case_events.at', 'case_events.actor', 'case_events.kind', 'case_events.data', 'cases.number'])
      .where('case_events.message_id', '=', id).orderBy('case_events.at').orderBy('case_events.id').execute(),
  ]);
  const { to, cc } = addressHeaders(m.bytes);
  return {
    id: m.id, receivedAt: m.received_at.toISOString(), from: m.from_address, subject: m.subject, reason: m.status_reason, caseNumber: m.number,
    status: m.status, to, cc, visibleText: m.visible_text,
    attachments: attachments.map((a) => ({ name: a.filename, size: a.size })),
    events: events.map((e) => ({ at: e.at.toISOString(), actor: e.actor, kind: e.kind, caseNumber: e.number, data: e.data })),
  };
}

/** Why a held-mail command did nothing: no such (inbound) message, or it is not held (any more). */
export type NotHeld = { ok: false; why: 'not_found' } | { ok: false; why: 'not_held'; status: string };

/** The message row when it is inbound and held, else why not. */
export async function heldMessage(db: DbOrTrx, id: number): Promise<{ ok: true; source: 'imap' | 'smtp' | 'pipe' | 'outbox'; rawSha256: string | null; reason: string | null } | NotHeld> {
  const m = await db.selectFrom('messages').select(['status', 'source', 'raw_sha256', 'status_reason'])
    .where('id', '=', id).where('direction', '=', 'inbound').executeTakeFirst();
  if (!m) return { ok: false, why: 'not_found' };
  if (m.status !== 'held') return { ok: false, why: 'not_held', status: m.status };
  return { ok: true, source: m.source, rawSha256: m.raw_sha256, reason: m.status_reason };
}

/**
 * Discards a held message: status 'discarded' with the operator's reason, and an audit event,
 * in one transaction. The raw message and the row stay. The row is locked first, so a release
 * or discard racing this one waits and then finds it no longer held.
 */
export async function discardHeld(db: Db, id: number, opts: { reason: string; actor: string; now: Date }): Promise<{ ok: true } | NotHeld> {
  return db.transaction().execute(async (trx) => {
    const m = await trx.selectFrom('messages').select(['status', 'case_id'])
      .where('id', '=', id).where('direction', '=', 'inbound').forUpdate().executeTakeFirst();
    if (!m) return { ok: false, why: 'not_found' } as const;
    if (m.status !== 'held') return { ok: false, why: 'not_held', status: m.status } as const;
    await trx.updateTable('messages').set({ status: 'discarded', status_reason: `discarded: ${opts.reason}` }).where('id', '=', id).execute();
    await trx.insertInto('case_events').values({
      case_id: m.case_id, message_id: id, at: opts.now, actor: opts.actor, kind: 'held_message_discarded',
      data: JSON.stringify({ reason: opts.reason }),
    }).execute();
    return { ok: true } as const;
  });
}

/** Numbers of the cases a stored message opened (its `case_opened` events): more than one when it was split. */
export async function casesOpenedBy(db: DbOrTrx, messageRowId: number): Promise<number[]> {
  const rows = await db.selectFrom('case_events').innerJoin('cases', 'cases.id', 'case_events.case_id')
    .select('cases.number').where('case_events.message_id', '=', messageRowId).where('case_events.kind', '=', 'case_opened')
    .orderBy('cases.number').execute();
  return rows.map((r) => r.number);
}

export async function rawBytes(db: DbOrTrx, sha256: string): Promise<Buffer | null> {
  const r = await db.selectFrom('raw_messages').select('bytes').where('sha256', '=', sha256).executeTakeFirst();
  return r ? Buffer.from(r.bytes) : null;
}
