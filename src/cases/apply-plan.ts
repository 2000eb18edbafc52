// Writes a plan in the caller's transaction: new cases, the inbound message row (raw bytes once,
// attachments), case changes, participants, links, merges, audit events and outbox rows. The one
// place a decision's outcome reaches the database; it decides nothing.
import { sql } from 'kysely';
import type { Trx } from '../db/database.js';
import type { Insertable } from 'kysely';
import type { MessagesTable } from '../db/schema.js';
import { enqueueMails, type EnqueueContext } from '../notify/outbox-store.js';
import { addContacts } from '../directory/directory-store.js';
import type { ParsedAttachment } from '../threading/parsed-message.js';
import { bytesHashes, insertMessageWithRaw, type BytesHashes } from './message-store.js';
import type { CaseChanges, Plan } from './plan.js';
import {
  insertAttachmentRows, insertCaseRows, insertEventRows, insertLinkRows, insertParticipantRows, PlanRows, turnUpdate, updateCaseRows, type MessageRowValues,
} from './plan-rows.js';

export interface InboundRow {
  id: number;
  raw: Buffer;
  /** Every column of the message row but its status, case and reason (which the plan decides). */
  row: Omit<Insertable<MessagesTable>, 'raw_sha256' | 'id' | 'status' | 'case_id' | 'status_reason'>;
  attachments: readonly ParsedAttachment[];
  /** The raw bytes were already written in this transaction under these hashes (storeBytesFirst): not sent again. */
  bytesWritten?: BytesHashes;
}

/** Returns whether any outgoing mail was queued (so the dispatcher can be woken after commit). */
export async function applyPlan(trx: Trx, plan: Plan, inbound: InboundRow, ctx: EnqueueContext): Promise<{ queuedMail: boolean; mailsQueued: number }> {
  await writePlanButMail(trx, plan, inbound, ctx.now);
  return queueMails(trx, plan.mails, ctx);
}

/**
 * Everything of an intake plan but its outgoing mail, which the caller queues (queueMails) later in
 * the same transaction: a group of messages committed together queues all its mail at once, so the
 * automatic-mail limit's per-address locks are taken once per group, just before the commit.
 */
export async function writePlanButMail(trx: Trx, plan: Plan, inbound: InboundRow, now: Date): Promise<void> {
  if (fitsOneStatement(plan)) {
    // The common plans (a new request, a reply, a held or ignored message): one statement writes it all.
    const rows = new PlanRows();
    addPlan(rows, trx, plan, inbound, now, hashesOf(inbound));
    await rows.write(trx);
    await applyContactChanges(trx, plan, now);
  } else {
    await insertCaseRows(trx, plan.openCases, now);
    await insertMessageWithRaw(trx, inbound.raw, inboundRow(plan, inbound), [], inbound.bytesWritten?.raw ?? null);
    await insertAttachmentRows(trx, inbound.id, inbound.attachments, hashesOf(inbound).attachments);
    await applyChangesButMail(trx, plan, inbound.id, now);
  }
}

function inboundRow(plan: Plan, inbound: InboundRow): MessageRow {
  return { ...inbound.row, id: inbound.id, status: plan.message.status, case_id: plan.message.caseId, status_reason: plan.message.reason };
}

/**
 * A plan one statement can write: no merge (it moves rows other parts may touch), and each case
 * it updates updated once and not opened by it (one statement does not see its own inserts, and
 * must not change a row twice).
 */
function fitsOneStatement(plan: CaseChanges): boolean {
  if (plan.merges.length !== 0) return false;
  const updated = new Set(plan.caseUpdates.map((u) => u.caseId));
  return updated.size === plan.caseUpdates.length && !plan.openCases.some((c) => updated.has(c.id));
}

/** The SHA-256 of the raw bytes and of each attachment: their keys, worked out once. */
function hashesOf(inbound: InboundRow): BytesHashes {
  return inbound.bytesWritten ?? bytesHashes(inbound.raw, inbound.attachments);
}

/**
 * A plan without merges (fitsOneStatement) into `rows`, for one data-modifying statement: the raw
 * bytes (unless written first) and message row, its attachments, new cases, case updates, the
 * round-robin turn, participants, links and audit events.
 */
function addPlan(rows: PlanRows, trx: Trx, plan: Plan, inbound: InboundRow, now: Date, hashes: BytesHashes): void {
  rows.addMessage(messageValues(plan, inbound, hashes.raw, now), inbound.bytesWritten ? null : inbound.raw, inbound.attachments, hashes.attachments);
  rows.addChanges(plan, inbound.id, now);
}

/** The inbound message's row with what the plan decided, every column given. */
function messageValues(plan: Plan, inbound: InboundRow, rawSha256: string, now: Date): MessageRowValues {
  const r = inbound.row;
  return {
    id: inbound.id, direction: r.direction, case_id: plan.message.caseId, raw_sha256: rawSha256, content_hash: r.content_hash,
    message_id_header: r.message_id_header ?? null, in_reply_to: r.in_reply_to ?? null, references: r.references ?? '[]',
    from_address: r.from_address ?? null, subject: r.subject ?? null, sent_at: r.sent_at ?? null, received_at: r.received_at ?? now,
    source: r.source, mailbox: r.mailbox ?? null, uid_validity: r.uid_validity ?? null, uid: r.uid ?? null, kind: r.kind ?? null,
    classification: r.classification ?? null, sender_role: r.sender_role ?? null, status: plan.message.status, status_reason: plan.message.reason,
    visible_text: r.visible_text ?? null,
  };
}

/** The raw bytes the waiting writes may hold. */
const PENDING_BYTES = 2 * 1024 * 1024;

/**
 * The plans of a group committed together (message-handler.ts handleGroup), written in ONE
 * statement (flush) instead of one each: a group of new requests then costs one round trip for
 * all its writes. A plan is taken only when one statement can write it (fitsOneStatement, no
 * contact change) and it touches no row a plan already taken touches (one statement must not
 * change a row twice, and does not see its own inserts); the engineers whose turn the plans took
 * are moved on by one update. Statements that read what these write must come after flush; the
 * caller flushes before them.
 */
export class PlanWrites {
  private pending = new PlanRows();
  private readonly rows = new Set<string>();
  private now: Date | null = null;
  /** What the waiting writes touch that a later message's facts may name: cases, and the Message-IDs of the rows. */
  private readonly cases = new Set<number>();
  private readonly messageIds = new Set<string>();
  private bytes = 0;

  get size(): number {
    return this.pending.size;
  }

  /** Takes the plan's writes for the next flush; false when they must be written alone (flush first). */
  add(trx: Trx, plan: Plan, inbound: InboundRow, now: Date): boolean {
    if (!fitsOneStatement(plan) || plan.markBouncing || plan.clearBouncing || plan.addContacts?.length) return false;
    if (this.now && this.now.getTime() !== now.getTime()) return false;
    // Bytes go to the server in one message: big mail is written alone, not gathered into one still bigger.
    const bytes = inbound.bytesWritten ? 0 : inbound.raw.length;
    if (this.bytes + bytes > PENDING_BYTES) return false;
    const hashes = hashesOf(inbound);
    const rows = rowsTouched(plan, inbound.bytesWritten ? null : hashes);
    if (rows.some((r) => this.rows.has(r))) return false;
    this.bytes += bytes;
    for (const r of rows) this.rows.add(r);
    for (const id of casesTouched(plan)) this.cases.add(id);
    if (inbound.row.message_id_header) this.messageIds.add(inbound.row.message_id_header);
    this.now = now;
    addPlan(this.pending, trx, plan, inbound, now, hashes);
    return true;
  }

  /** Whether facts read by these cases or Message-IDs may differ once the waiting writes are written. */
  touchesAny(refs: { caseIds: readonly number[]; messageIds: readonly string[] }): boolean {
    return refs.caseIds.some((id) => this.cases.has(id)) || refs.messageIds.some((id) => this.messageIds.has(id));
  }

  async flush(trx: Trx): Promise<void> {
    if (this.pending.size === 0) return;
    const pending = this.pending;
    this.pending = new PlanRows();
    this.rows.clear();
    this.cases.clear();
    this.messageIds.clear();
    this.bytes = 0;
    this.now = null;
    await pending.write(trx);
  }
}

/** Every case a plan writes to: opened, updated, or given a message, participant, link or event. */
function casesTouched(plan: Plan): number[] {
  return [
    ...plan.openCases.map((c) => c.id), ...plan.caseUpdates.map((u) => u.caseId), ...(plan.message.caseId !== null ? [plan.message.caseId] : []),
    ...plan.participants.map((p) => p.caseId), ...plan.links.flatMap((l) => [l.caseId, l.linkedCaseId]),
    ...plan.events.flatMap((e) => (e.caseId !== null ? [e.caseId] : [])),
  ];
}

/**
 * The rows a plan's statement writes that another plan's might too (new rows of their own ids
 * cannot collide); `bytes`: the hashes of the raw row it writes (none when written first).
 */
function rowsTouched(plan: Plan, bytes: BytesHashes | null): string[] {
  return [
    ...(bytes ? [`raw:${bytes.raw}`] : []),
    ...plan.caseUpdates.map((u) => `case:${u.caseId}`),
    ...plan.openCases.map((c) => `case:${c.id}`),
    ...plan.participants.map((p) => `participant:${p.caseId}:${p.address.toLowerCase()}`),
    ...plan.links.map((l) => `link:${l.caseId}:${l.linkedCaseId}:${l.kind}`),
  ];
}

type MessageRow = Omit<Insertable<MessagesTable>, 'raw_sha256'>;

/** Queues outgoing mail (enqueueMails); returns whether any row was written and the causes that were. */
export async function queueMails(trx: Trx, mails: CaseChanges['mails'], ctx: EnqueueContext): Promise<{ queuedMail: boolean; mailsQueued: number; causes: Set<string> }> {
  const inserted = await enqueueMails(trx, mails, ctx);
  return { queuedMail: inserted.size > 0, mailsQueued: inserted.size, causes: inserted };
}

/** A plan with no inbound message (the timer sweep's): the case changes, events and mail alone. */
export async function applyCaseChanges(trx: Trx, changes: CaseChanges, ctx: EnqueueContext): Promise<{ queuedMail: boolean; mailsQueued: number }> {
  if (fitsOneStatement(changes)) {
    // The sweep's groups: every case's update, the events and the rest in one statement, not one each
    // (a statement's round trip costs more client CPU than its work: see the sweep bench).
    const rows = new PlanRows();
    rows.addChanges(changes, null, ctx.now);
    await rows.write(trx);
    await applyContactChanges(trx, changes, ctx.now);
  } else {
    await insertCaseRows(trx, changes.openCases, ctx.now);
    await applyChangesButMail(trx, changes, null, ctx.now);
  }
  return queueMails(trx, changes.mails, ctx);
}

/** Everything after the cases and the inbound row but the mail; `inboundId` is what events `aboutMessage` name. */
async function applyChangesButMail(trx: Trx, plan: CaseChanges, inboundId: number | null, now: Date): Promise<void> {
  await updateCaseRows(trx, plan.caseUpdates, now);
  if (plan.assignedEngineers.length) await turnUpdate(trx, plan.assignedEngineers, now).execute();
  for (const m of plan.merges) {
    await trx.updateTable('messages').set({ case_id: m.intoCaseId }).where('case_id', '=', m.fromCaseId).execute();
    await sql`insert into case_participants (case_id, address, contact_id, role)
              select ${m.intoCaseId}::bigint, address, contact_id, role from case_participants where case_id = ${m.fromCaseId}::bigint
              on conflict (case_id, address) do nothing`.execute(trx);
  }
  await insertParticipantRows(trx, plan.participants);
  await insertLinkRows(trx, plan.links);
  await insertEventRows(trx, plan.events, inboundId, now);
  await applyContactChanges(trx, plan, now);
}

/** Bounce marks and contacts an org admin adds. */
async function applyContactChanges(trx: Trx, plan: CaseChanges, now: Date): Promise<void> {
  if (plan.markBouncing) {
    await trx.updateTable('contacts').set({ bouncing_since: now, bounce_reason: plan.markBouncing.reason })
      .where('address', 'in', plan.markBouncing.addresses).where('bouncing_since', 'is', null).execute();
  }
  if (plan.clearBouncing) {
    await trx.updateTable('contacts').set({ bouncing_since: null, bounce_reason: null })
      .where('address', '=', plan.clearBouncing.address).where('bouncing_since', 'is not', null).execute();
  }
  if (plan.addContacts?.length) await addContacts(trx, plan.addContacts);
}
