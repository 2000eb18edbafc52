// What a sender caused in the last hour, from the audit trail (the per-sender caps); read while
// the intake gathers facts. Plans are written by apply-plan.ts.
// Plain functions taking `trx` first; callers own the transaction.
import { sql, type RawBuilder } from 'kysely';
import type { DbOrTrx } from '../db/database.js';

/**
 * What a sender caused in the rolling hour before `now`, from the audit trail (durable, so the
 * caps hold across restarts and between processes): cases opened for them, and how many of
 * those were acknowledged. Each count stops at its cap (`upTo`): reaching it is all the caps
 * need, and a flood from one address then costs a bounded index read per message, not a
 * count of everything it sent.
 */
export async function senderActivity(
  trx: DbOrTrx, address: string, now: Date, upTo: { newCases: number; acknowledgements: number },
): Promise<{ newCases: number; acknowledgements: number }> {
  await lockSender(trx, address);
  const r = await sql<{ cases: string; acks: string }>`select ${senderActivityColumns(trx, address, now, upTo)}`.execute(trx);
  return { newCases: Number(r.rows[0]?.cases ?? 0), acknowledgements: Number(r.rows[0]?.acks ?? 0) };
}

/**
 * One sender's new requests queue here until the holder commits, so parallel deliveries (IMAP
 * batch, several SMTP sessions) cannot all read the same count and overshoot the caps. The counts
 * (senderActivityColumns) must then be read by a LATER statement: one statement's snapshot is
 * taken before it waits for the lock, and would miss what the holder committed.
 */
export async function lockSender(trx: DbOrTrx, address: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`casemail-sender:${address.toLowerCase()}`}))`.execute(trx);
}

/** lockSender without waiting: false when another transaction holds the lock. */
export async function tryLockSender(trx: DbOrTrx, address: string): Promise<boolean> {
  const r = await sql<{ ok: boolean }>`select pg_try_advisory_xact_lock(hashtext(${`casemail-sender:${address.toLowerCase()}`})) as ok`.execute(trx);
  return r.rows[0]?.ok === true;
}

/** The select-list columns `cases` and `acks` of senderActivity, to read along with other facts after lockSender. */
export function senderActivityColumns(trx: DbOrTrx, address: string | RawBuilder<string>, now: Date, upTo: { newCases: number; acknowledgements: number }) {
  // An expression (a column of the caller's query) counts for each of several senders at once.
  const actor = typeof address === 'string' ? address.toLowerCase() : address;
  const from = new Date(now.getTime() - 60 * 60 * 1000);
  const recent = (acknowledged: boolean, limit: number) => {
    let q = trx.selectFrom('case_events').select('id')
      .where('kind', '=', 'case_opened').where('actor', '=', actor).where('at', '>', from).where('at', '<=', now);
    if (acknowledged) q = q.where(sql<boolean>`(data->>'acknowledged') = 'true'`);
    return q.limit(Math.max(0, limit));
  };
  return sql`(select count(*) from (${recent(false, upTo.newCases)}) c) as cases,
             (select count(*) from (${recent(true, upTo.acknowledgements)}) a) as acks`;
}
