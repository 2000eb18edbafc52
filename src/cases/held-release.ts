// Releasing a held message (`casemail held release ID`): the stored raw bytes go through the
// intake again, as if they had just arrived, e.g. after the sender was added to the directory.
// The intake itself retires the old row inside its own transaction (`releasing`); this module
// checks the message first, reads its bytes and says what the release made of it.
import type { Db } from '../db/database.js';
import type { IntakeResult, IntakeSource } from '../ingest/intake-types.js';
import { casesOpenedBy, heldMessage, rawBytes, type NotHeld } from './held-store.js';

/** The intake as a release needs it (MessageHandler): `releasing` names the held row it replaces. */
export interface ReleaseIntake {
  handleAt(raw: Buffer, source: IntakeSource, now: Date, opts?: { releasing?: number }): Promise<IntakeResult>;
  /** The configured escalation address: a message held as an escalation is released as one. */
  readonly escalationAddress?: string;
}

export type ReleaseOutcome =
  | NotHeld
  | { ok: false; why: 'raw_missing' }
  | { ok: true; result: IntakeResult; opened: number[] };

export async function releaseHeld(db: Db, intake: ReleaseIntake, id: number, now: Date): Promise<ReleaseOutcome> {
  const held = await heldMessage(db, id);
  if (!held.ok) return held;
  return rerunStored(db, intake, id, held, now);
}

/**
 * Runs a stored inbound message (held, or quarantined: `casemail quarantine retry`) through the
 * intake again; the intake retires the old row as `released` pointing at the new one.
 */
export async function rerunStored(
  db: Db, intake: ReleaseIntake, id: number, held: { source: 'imap' | 'smtp' | 'pipe' | 'outbox'; rawSha256: string | null; reason?: string | null }, now: Date,
): Promise<{ ok: false; why: 'raw_missing' } | { ok: true; result: IntakeResult; opened: number[] }> {
  const raw = held.rawSha256 ? await rawBytes(db, held.rawSha256) : null;
  if (!raw) return { ok: false, why: 'raw_missing' };
  // Where it first came from; the IMAP position and SMTP envelope belong to the first delivery.
  // The first delivery's envelope is not stored; a message held as an escalation (before escalations
  // were handled) may have named the escalation address only there (a Bcc), so it is named again.
  const envelopeRecipients = held.reason === 'escalation' && intake.escalationAddress ? [intake.escalationAddress] : [];
  const source: IntakeSource = { kind: held.source === 'outbox' ? 'pipe' : held.source, mailbox: null, uidValidity: null, uid: null, envelopeRecipients };
  const result = await intake.handleAt(raw, source, now, { releasing: id });
  const newId = Number(result.messageId);
  const opened = result.status === 'processed' && Number.isInteger(newId) && newId > 0 ? await casesOpenedBy(db, newId) : [];
  return { ok: true, result, opened };
}

const caseList = (numbers: readonly number[]) => numbers.map((n) => `#${n}`).join(', ');

/** One line for the operator: "message 17 released: case #100123 opened", "... held again (unknown_sender)". */
export function describeRelease(id: number, outcome: ReleaseOutcome): string {
  if (!outcome.ok) {
    if (outcome.why === 'not_found') return `no held message ${id}`;
    if (outcome.why === 'not_held') return `message ${id} is not held (it is ${outcome.status})`;
    return `message ${id}: its raw message is not stored; nothing to release`;
  }
  const { result, opened } = outcome;
  const why = result.reason ? ` (${result.reason})` : '';
  const joined = result.caseNumbers.filter((n) => !opened.includes(n));
  switch (result.status) {
    case 'processed': {
      const parts = [
        ...(opened.length ? [`${opened.length > 1 ? 'cases' : 'case'} ${caseList(opened)} opened`] : []),
        ...(joined.length ? [`added to ${joined.length > 1 ? 'cases' : 'case'} ${caseList(joined)}`] : []),
      ];
      return `message ${id} released: ${parts.length ? parts.join('; ') : 'processed'}`;
    }
    case 'held':
      return `message ${id} released: held again${why}`;
    case 'quarantined':
      return `message ${id} released: quarantined${why}`;
    case 'ignored':
      return `message ${id} released: ignored${why}`;
    case 'duplicate':
      return `message ${id} not released: the intake found it already stored as message ${result.messageId}`;
  }
}
