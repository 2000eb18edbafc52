// Cases in the database: opening one (number from the sequence, severity, first-response
// deadline from the severity table and business calendar), participants, reopening, and the
// audit trail. Plain functions taking `trx` first; callers own the transaction.
import { sql } from 'kysely';
import type { CasemailSettings } from '../config/config.js';
import type { DbOrTrx } from '../db/database.js';
import { responseDeadline, type BusinessCalendar } from '../calendar/business-calendar.js';

export interface OpenCaseInput {
  organisationId: number;
  requesterContactId: number;
  requesterAddress: string;
  subject: string;
  severity: 1 | 2 | 3;
  severitySource: 'suggested' | 'default' | 'engineer';
  severityReasons: string[];
  openedAt: Date;
  splitGroup: string | null;
  organisationTimeZone: string;
  /** The text of this case's part of the message (for the engineer notification). */
  text?: string;
}

export interface OpenedCase {
  id: number;
  number: number;
  subject: string;
  severity: 1 | 2 | 3;
  severitySource: string;
  firstResponseDueAt: Date;
  text: string | null;
}

const calendars = new WeakMap<CasemailSettings, BusinessCalendar>();

/** The business calendar of these settings; one object per settings, so its memo of days is reused. */
export function calendarOf(settings: CasemailSettings): BusinessCalendar {
  const known = calendars.get(settings);
  if (known) return known;
  const cal: BusinessCalendar = {
    timeZone: settings.calendar.timeZone,
    workingDays: settings.calendar.workingDays,
    workingHours: settings.calendar.workingHours,
    holidays: new Set(settings.calendar.holidays),
    holidayRegion: settings.calendar.holidayRegion,
  };
  calendars.set(settings, cal);
  return cal;
}

export function caseTag(settings: CasemailSettings, number: number): string {
  return `[${settings.caseNumber.prefix} #${number}]`;
}

export function severityMeaning(severity: number): string {
  switch (severity) {
    case 1: return 'production down or inoperable; critical operations halted';
    case 2: return 'mild to medium impact on use or usability';
    default: return 'general inquiry, cosmetic issue or minimal impact';
  }
}

/** First-response deadline and the SLA-warning instant (a share of the target). */
export function slaInstants(settings: CasemailSettings, severity: 1 | 2 | 3, openedAt: Date): { due: Date; warnAt: Date } {
  const target = settings.severities[severity];
  const cal = calendarOf(settings);
  const due = responseDeadline(cal, openedAt, target);
  const warnAt = responseDeadline(cal, openedAt, { ...target, targetMinutes: Math.max(1, Math.floor(target.targetMinutes * settings.timers.slaWarningShare)) });
  return { due, warnAt };
}

export interface NewParticipant {
  address: string;
  contactId: number | null;
  role: 'requester' | 'cc' | 'organisation';
}

/**
 * Opens several cases at once — the cases and their participants in one statement — since a
 * message listing several issues becomes several cases. Returned in input order.
 */
export async function openCases(trx: DbOrTrx, settings: CasemailSettings, inputs: readonly OpenCaseInput[], participants: readonly NewParticipant[]): Promise<OpenedCase[]> {
  if (inputs.length === 0) return [];
  const prepared = inputs.map((input) => ({ input, sla: slaInstants(settings, input.severity, input.openedAt) }));
  const insertCases = trx.insertInto('cases').values(prepared.map(({ input, sla }) => ({
    organisation_id: input.organisationId,
    requester_contact_id: input.requesterContactId,
    subject: input.subject.slice(0, 500),
    severity: input.severity,
    severity_source: input.severitySource,
    severity_reasons: JSON.stringify(input.severityReasons),
    state: 'new' as const,
    opened_at: input.openedAt,
    first_response_due_at: sla.due,
    sla_warning_due_at: sla.warnAt,
    state_entered_at: input.openedAt,
    split_group: input.splitGroup,
    updated_at: input.openedAt,
  }))).returning(['id', 'number']);
  const people = participants.length
    ? sql.join(participants.map((p) => sql`(${p.address.toLowerCase()}::text, ${p.contactId}::bigint, ${p.role}::text)`))
    : sql`(null::text, null::bigint, null::text)`;
  const result = await sql<{ id: number; number: number }>`
    with c as (${insertCases}),
         p as (insert into case_participants (case_id, address, contact_id, role)
               select c.id, v.address, v.contact_id, v.role from c cross join (values ${people}) as v(address, contact_id, role)
               where v.address is not null
               on conflict (case_id, address) do nothing)
    select id, number from c order by id`.execute(trx);
  // Ids come from one sequence in VALUES order within the statement: ordering by id restores input order.
  const rows = result.rows.map((r) => ({ id: Number(r.id), number: Number(r.number) }));
  return prepared.map(({ input, sla }, i) => ({
    id: rows[i]!.id, number: rows[i]!.number, subject: input.subject.slice(0, 500), severity: input.severity,
    severitySource: input.severitySource, firstResponseDueAt: sla.due, text: input.text ?? null,
  }));
}

export async function addParticipant(trx: DbOrTrx, caseId: number, p: { address: string; contactId: number | null; role: 'requester' | 'cc' | 'organisation' }): Promise<void> {
  await trx.insertInto('case_participants').values({ case_id: caseId, address: p.address.toLowerCase(), contact_id: p.contactId, role: p.role })
    .onConflict((oc) => oc.columns(['case_id', 'address']).doNothing()).execute();
}

export interface NewEvent {
  caseId: number | null;
  messageId?: number | null;
  at: Date;
  actor: string;
  kind: string;
  data?: Record<string, unknown>;
}

/** Several audit events in one statement. */
export async function recordEvents(trx: DbOrTrx, events: readonly NewEvent[]): Promise<void> {
  if (events.length === 0) return;
  await trx.insertInto('case_events').values(events.map((e) => ({
    case_id: e.caseId, message_id: e.messageId ?? null, at: e.at, actor: e.actor, kind: e.kind, data: JSON.stringify(e.data ?? {}),
  }))).execute();
}

export async function recordEvent(trx: DbOrTrx, e: { caseId: number | null; messageId?: number | null; at: Date; actor: string; kind: string; data?: Record<string, unknown> }): Promise<void> {
  await trx.insertInto('case_events').values({
    case_id: e.caseId, message_id: e.messageId ?? null, at: e.at, actor: e.actor, kind: e.kind, data: JSON.stringify(e.data ?? {}),
  }).execute();
}

/** A customer reply within the reopen window reopens a closed case. */
export async function reopenCase(trx: DbOrTrx, caseId: number, now: Date, actor: string, messageRowId: number): Promise<void> {
  await trx.updateTable('cases').set({
    state: 'open', closed_at: null, close_reason: null, auto_close_at: null, auto_close_reason: null, next_reminder_at: null,
    state_entered_at: now, updated_at: now,
  }).where('id', '=', caseId).execute();
  await recordEvent(trx, { caseId, messageId: messageRowId, at: now, actor, kind: 'reopened', data: {} });
}

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
  const actor = address.toLowerCase();
  // One sender's new requests queue here until the holder commits, so parallel deliveries (IMAP
  // batch, several SMTP sessions) cannot all read the same count and overshoot the caps.
  await sql`select pg_advisory_xact_lock(hashtext(${`casemail-sender:${actor}`}))`.execute(trx);
  const from = new Date(now.getTime() - 60 * 60 * 1000);
  const recent = (acknowledged: boolean, limit: number) => {
    let q = trx.selectFrom('case_events').select('id')
      .where('kind', '=', 'case_opened').where('actor', '=', actor).where('at', '>', from).where('at', '<=', now);
    if (acknowledged) q = q.where(sql<boolean>`(data->>'acknowledged') = 'true'`);
    return q.limit(Math.max(0, limit));
  };
  const r = await sql<{ cases: string; acks: string }>`
    select (select count(*) from (${recent(false, upTo.newCases)}) c) as cases,
           (select count(*) from (${recent(true, upTo.acknowledgements)}) a) as acks`.execute(trx);
  return { newCases: Number(r.rows[0]?.cases ?? 0), acknowledgements: Number(r.rows[0]?.acks ?? 0) };
}
