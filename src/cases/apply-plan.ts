// Writes a plan in the caller's transaction: new cases, the inbound message row (raw bytes once,
// attachments), case changes, participants, links, merges, audit events and outbox rows. The one
// place a decision's outcome reaches the database; it decides nothing.
import { sql } from 'kysely';
import type { Trx } from '../db/database.js';
import type { Compilable, Insertable } from 'kysely';
import type { MessagesTable } from '../db/schema.js';
import { enqueueMails, type EnqueueContext } from '../notify/outbox-store.js';
import { addContacts } from '../directory/directory-store.js';
import type { ParsedAttachment } from '../threading/parsed-message.js';
import { attachmentRows, bytesHashes, bytesInsert, insertMessageWithRaw, storeAttachments, type BytesHashes } from './message-store.js';
import type { CaseChanges, CaseUpdate, Plan } from './plan.js';

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
  const row = inboundRow(plan, inbound);
  if (fitsOneStatement(plan)) {
    // The common plans (a new request, a reply, a held or ignored message): one statement writes it all.
    await writeInserts(trx, plan, inbound, row, now);
    await applyContactChanges(trx, plan, now);
  } else {
    await insertCases(trx, plan, now);
    await insertMessageWithRaw(trx, inbound.raw, row, [], inbound.bytesWritten?.raw ?? null);
    await storeAttachments(trx, inbound.id, inbound.attachments, inbound.bytesWritten?.attachments ?? null);
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

/**
 * A plan without merges in ONE data-modifying statement (fitsOneStatement): new cases, the raw
 * bytes and message row, its attachments, case updates, participants, links, audit events and the
 * round-robin turn. Foreign keys are checked at the end of the statement, so the order of its
 * parts does not matter; no two parts touch the same row.
 */
async function writeInserts(trx: Trx, plan: Plan, inbound: InboundRow, row: MessageRow, now: Date): Promise<void> {
  await sql`with ${sql.join(planParts(trx, plan, inbound, row, now, ''))} select 1`.execute(trx);
}

/** The SHA-256 of the raw bytes and of each attachment: their keys, worked out once. */
function hashesOf(inbound: InboundRow): BytesHashes {
  return inbound.bytesWritten ?? bytesHashes(inbound.raw, inbound.attachments);
}

/** The parts (CTEs, named with `prefix`) of a plan's one statement. */
function planParts(
  trx: Trx, plan: Plan, inbound: InboundRow, row: MessageRow, now: Date, prefix: string,
  opts: { turn: boolean; hashes: BytesHashes } = { turn: true, hashes: hashesOf(inbound) },
) {
  const raw = inbound.raw;
  const hash = opts.hashes.raw;
  const written = inbound.bytesWritten !== undefined;
  const parts: StatementPart[] = [];
  if (!written) parts.push({ name: 'raw', query: bytesInsert(trx, new Map([[hash, raw]])) });
  parts.push({ name: 'm', query: trx.insertInto('messages').values({ ...row, raw_sha256: hash }) });
  if (inbound.attachments.length) parts.push({ name: 'ma', query: attachmentRows(trx, inbound.id, inbound.attachments, opts.hashes.attachments) });
  parts.push(...changeParts(trx, plan, row.id ?? null, now, opts.turn));
  return withClauses(parts, prefix);
}

/** One part of a data-modifying statement: a CTE's name and its query. */
type StatementPart = { name: string; query: Compilable };

/** `<prefix><name> as (<query>)` for each part, to join after `with`. */
function withClauses(parts: readonly StatementPart[], prefix = '') {
  return parts.map((p) => sql`${sql.raw(prefix + p.name)} as (${p.query})`);
}

/** The parts of one statement that write a plan's case changes (fitsOneStatement): new cases, updates, turn, participants, links, events. */
function changeParts(trx: Trx, plan: CaseChanges, inboundId: number | null, now: Date, turn: boolean): StatementPart[] {
  const parts: StatementPart[] = [];
  if (plan.openCases.length) parts.push({ name: 'c', query: casesInsert(trx, plan, now) });
  plan.caseUpdates.forEach((u, k) => parts.push({ name: `u${k}`, query: caseUpdate(trx, u, now) }));
  if (turn && plan.assignedEngineers.length) parts.push({ name: 'turn', query: turnUpdate(trx, plan.assignedEngineers, now) });
  if (plan.participants.length) parts.push({ name: 'p', query: participantsInsert(trx, plan) });
  if (plan.links.length) parts.push({ name: 'l', query: linksInsert(trx, plan) });
  if (plan.events.length) parts.push({ name: 'e', query: eventsInsert(trx, plan, inboundId, now) });
  return parts;
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
  private parts: ReturnType<typeof sql>[] = [];
  private readonly rows = new Set<string>();
  /** The engineers whose turn the plans took, moved on by one update at `now` (the group's one instant). */
  private readonly turns = new Set<number>();
  private now: Date | null = null;
  /** What the waiting writes touch that a later message's facts may name: cases, and the Message-IDs of the rows. */
  private readonly cases = new Set<number>();
  private readonly messageIds = new Set<string>();
  private bytes = 0;

  get size(): number {
    return this.parts.length;
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
    for (const id of plan.assignedEngineers) this.turns.add(id);
    for (const id of casesTouched(plan)) this.cases.add(id);
    if (inbound.row.message_id_header) this.messageIds.add(inbound.row.message_id_header);
    this.now = now;
    this.parts.push(...planParts(trx, plan, inbound, inboundRow(plan, inbound), now, `w${this.parts.length}_`, { turn: false, hashes }));
    return true;
  }

  /** Whether facts read by these cases or Message-IDs may differ once the waiting writes are written. */
  touchesAny(refs: { caseIds: readonly number[]; messageIds: readonly string[] }): boolean {
    return refs.caseIds.some((id) => this.cases.has(id)) || refs.messageIds.some((id) => this.messageIds.has(id));
  }

  async flush(trx: Trx): Promise<void> {
    if (this.parts.length === 0) return;
    const parts = this.parts;
    if (this.turns.size) parts.push(sql`turn as (${turnUpdate(trx, [...this.turns], this.now!)})`);
    this.parts = [];
    this.rows.clear();
    this.turns.clear();
    this.cases.clear();
    this.messageIds.clear();
    this.bytes = 0;
    this.now = null;
    await sql`with ${sql.join(parts)} select 1`.execute(trx);
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
    const parts = changeParts(trx, changes, null, ctx.now, true);
    if (parts.length) await sql`with ${sql.join(withClauses(parts))} select 1`.execute(trx);
    await applyContactChanges(trx, changes, ctx.now);
  } else {
    await insertCases(trx, changes, ctx.now);
    await applyChangesButMail(trx, changes, null, ctx.now);
  }
  return queueMails(trx, changes.mails, ctx);
}

async function insertCases(trx: Trx, plan: CaseChanges, now: Date): Promise<void> {
  if (plan.openCases.length) await casesInsert(trx, plan, now).execute();
}

function casesInsert(trx: Trx, plan: CaseChanges, now: Date) {
  return trx.insertInto('cases').values(plan.openCases.map((c) => ({
    id: c.id, number: c.number, organisation_id: c.organisationId, requester_contact_id: c.requesterContactId,
    subject: c.subject, severity: c.severity, severity_source: c.severitySource, severity_reasons: JSON.stringify(c.severityReasons),
    state: 'new' as const, assignee_engineer_id: c.assigneeEngineerId, opened_at: c.openedAt, first_response_due_at: c.firstResponseDueAt,
    sla_warning_due_at: c.slaWarningDueAt, state_entered_at: c.openedAt, split_group: c.splitGroup, updated_at: now,
  })));
}

function turnUpdate(trx: Trx, engineerIds: readonly number[], now: Date) {
  return trx.updateTable('engineers').set({ last_assigned_at: now }).where('id', 'in', engineerIds);
}

function participantsInsert(trx: Trx, plan: CaseChanges) {
  return trx.insertInto('case_participants').values(plan.participants.map((p) => ({
    case_id: p.caseId, address: p.address.toLowerCase(), contact_id: p.contactId, role: p.role,
  }))).onConflict((oc) => oc.columns(['case_id', 'address']).doNothing());
}

function linksInsert(trx: Trx, plan: CaseChanges) {
  return trx.insertInto('case_links').values(plan.links.map((l) => ({ case_id: l.caseId, linked_case_id: l.linkedCaseId, kind: l.kind })))
    .onConflict((oc) => oc.doNothing());
}

function eventsInsert(trx: Trx, plan: CaseChanges, inboundId: number | null, now: Date) {
  return trx.insertInto('case_events').values(plan.events.map((e) => ({
    case_id: e.caseId, message_id: e.messageId ?? (e.aboutMessage ? inboundId : null), at: now, actor: e.actor, kind: e.kind, data: JSON.stringify(e.data),
  })));
}

/** Everything after the cases and the inbound row but the mail; `inboundId` is what events `aboutMessage` name. */
async function applyChangesButMail(trx: Trx, plan: CaseChanges, inboundId: number | null, now: Date): Promise<void> {
  for (const u of plan.caseUpdates) await updateCase(trx, u, now);
  if (plan.assignedEngineers.length) await turnUpdate(trx, plan.assignedEngineers, now).execute();
  for (const m of plan.merges) {
    await trx.updateTable('messages').set({ case_id: m.intoCaseId }).where('case_id', '=', m.fromCaseId).execute();
    await sql`insert into case_participants (case_id, address, contact_id, role)
              select ${m.intoCaseId}::bigint, address, contact_id, role from case_participants where case_id = ${m.fromCaseId}::bigint
              on conflict (case_id, address) do nothing`.execute(trx);
  }
  if (plan.participants.length) await participantsInsert(trx, plan).execute();
  if (plan.links.length) await linksInsert(trx, plan).execute();
  if (plan.events.length) await eventsInsert(trx, plan, inboundId, now).execute();
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

async function updateCase(trx: Trx, u: CaseUpdate, now: Date): Promise<void> {
  await caseUpdate(trx, u, now).execute();
}

function caseUpdate(trx: Trx, u: CaseUpdate, now: Date) {
  const s = u.state;
  return trx.updateTable('cases').set({
    updated_at: now,
    ...(s ? {
      state: s.state, state_entered_at: s.stateEnteredAt,
      ...(s.closedAt !== undefined ? { closed_at: s.closedAt } : {}),
      ...(s.closeReason !== undefined ? { close_reason: s.closeReason } : {}),
      ...(s.autoCloseAt !== undefined ? { auto_close_at: s.autoCloseAt } : {}),
      ...(s.autoCloseReason !== undefined ? { auto_close_reason: s.autoCloseReason } : {}),
      ...(s.nextReminderAt !== undefined ? { next_reminder_at: s.nextReminderAt } : {}),
    } : {}),
    ...(u.severity ? {
      severity: u.severity.severity, severity_source: u.severity.source,
      first_response_due_at: u.severity.firstResponseDueAt, sla_warning_due_at: u.severity.slaWarningDueAt,
      // New instants: the warning and breach of the new target are still to come.
      sla_warned_at: null, sla_breached_at: null,
    } : {}),
    ...(u.slaWarnedAt ? { sla_warned_at: u.slaWarnedAt } : {}),
    ...(u.slaBreachedAt ? { sla_breached_at: u.slaBreachedAt } : {}),
    ...(u.nextReminderAt !== undefined ? { next_reminder_at: u.nextReminderAt } : {}),
    ...(u.assigneeEngineerId !== undefined ? { assignee_engineer_id: u.assigneeEngineerId } : {}),
    ...(u.firstResponseAt ? { first_response_at: u.firstResponseAt } : {}),
    ...(u.escalatedAt ? { escalated_at: sql<Date>`coalesce(escalated_at, ${u.escalatedAt})` } : {}),
  }).where('id', '=', u.caseId);
}
