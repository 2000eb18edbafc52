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
import { insertMessageWithRaw, storeAttachments } from './message-store.js';
import type { CaseChanges, CaseUpdate, Plan } from './plan.js';

export interface InboundRow {
  id: number;
  raw: Buffer;
  /** Every column of the message row but its status, case and reason (which the plan decides). */
  row: Omit<Insertable<MessagesTable>, 'raw_sha256' | 'id' | 'status' | 'case_id' | 'status_reason'>;
  attachments: readonly ParsedAttachment[];
}

/** Returns whether any outgoing mail was queued (so the dispatcher can be woken after commit). */
export async function applyPlan(trx: Trx, plan: Plan, inbound: InboundRow, ctx: EnqueueContext): Promise<{ queuedMail: boolean; mailsQueued: number }> {
  await insertCases(trx, plan, ctx.now);
  await insertMessageWithRaw(trx, inbound.raw, {
    ...inbound.row, id: inbound.id, status: plan.message.status, case_id: plan.message.caseId, status_reason: plan.message.reason,
  });
  await storeAttachments(trx, inbound.id, inbound.attachments);
  return applyChanges(trx, plan, inbound.id, ctx);
}

/** A plan with no inbound message (the timer sweep's): the case changes, events and mail alone. */
export async function applyCaseChanges(trx: Trx, changes: CaseChanges, ctx: EnqueueContext): Promise<{ queuedMail: boolean; mailsQueued: number }> {
  await insertCases(trx, changes, ctx.now);
  return applyChanges(trx, changes, null, ctx);
}

async function insertCases(trx: Trx, plan: CaseChanges, now: Date): Promise<void> {
  if (plan.openCases.length) {
    await trx.insertInto('cases').values(plan.openCases.map((c) => ({
      id: c.id, number: c.number, organisation_id: c.organisationId, requester_contact_id: c.requesterContactId,
      subject: c.subject, severity: c.severity, severity_source: c.severitySource, severity_reasons: JSON.stringify(c.severityReasons),
      state: 'new' as const, assignee_engineer_id: c.assigneeEngineerId, opened_at: c.openedAt, first_response_due_at: c.firstResponseDueAt,
      sla_warning_due_at: c.slaWarningDueAt, state_entered_at: c.openedAt, split_group: c.splitGroup, updated_at: now,
    }))).execute();
  }
}

/** Everything after the cases and the inbound row; `inboundId` is what events `aboutMessage` name. */
async function applyChanges(trx: Trx, plan: CaseChanges, inboundId: number | null, ctx: EnqueueContext): Promise<{ queuedMail: boolean; mailsQueued: number }> {
  const { now } = ctx;
  for (const u of plan.caseUpdates) await updateCase(trx, u, now);
  if (plan.assignedEngineers.length) {
    await trx.updateTable('engineers').set({ last_assigned_at: now }).where('id', 'in', plan.assignedEngineers).execute();
  }
  for (const m of plan.merges) {
    await trx.updateTable('messages').set({ case_id: m.intoCaseId }).where('case_id', '=', m.fromCaseId).execute();
    await sql`insert into case_participants (case_id, address, contact_id, role)
              select ${m.intoCaseId}::bigint, address, contact_id, role from case_participants where case_id = ${m.fromCaseId}::bigint
              on conflict (case_id, address) do nothing`.execute(trx);
  }
  if (plan.participants.length) {
    await trx.insertInto('case_participants').values(plan.participants.map((p) => ({
      case_id: p.caseId, address: p.address.toLowerCase(), contact_id: p.contactId, role: p.role,
    }))).onConflict((oc) => oc.columns(['case_id', 'address']).doNothing()).execute();
  }
  if (plan.links.length) {
    await trx.insertInto('case_links').values(plan.links.map((l) => ({ case_id: l.caseId, linked_case_id: l.linkedCaseId, kind: l.kind })))
      .onConflict((oc) => oc.doNothing()).execute();
  }
  if (plan.events.length) {
    await trx.insertInto('case_events').values(plan.events.map((e) => ({
      case_id: e.caseId, message_id: e.messageId ?? (e.aboutMessage ? inboundId : null), at: now, actor: e.actor, kind: e.kind, data: JSON.stringify(e.data),
    }))).execute();
  }
  if (plan.markBouncing) {
    await trx.updateTable('contacts').set({ bouncing_since: now, bounce_reason: plan.markBouncing.reason })
      .where('address', 'in', plan.markBouncing.addresses).where('bouncing_since', 'is', null).execute();
  }
  if (plan.clearBouncing) {
    await trx.updateTable('contacts').set({ bouncing_since: null, bounce_reason: null })
      .where('address', '=', plan.clearBouncing.address).where('bouncing_since', 'is not', null).execute();
  }
  if (plan.addContacts?.length) await addContacts(trx, plan.addContacts);
  const inserted = await enqueueMails(trx, plan.mails, ctx);
  return { queuedMail: inserted.size > 0, mailsQueued: inserted.size };
}

async function updateCase(trx: Trx, u: CaseUpdate, now: Date): Promise<void> {
  const s = u.state;
  await trx.updateTable('cases').set({
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
  }).where('id', '=', u.caseId).execute();
}
