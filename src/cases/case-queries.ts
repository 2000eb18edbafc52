// Read-only views of cases for operators (`casemail case list|show`).
import type { DbOrTrx } from '../db/database.js';

export interface CaseListRow {
  number: number;
  subject: string;
  severity: number;
  state: string;
  organisation: string;
  openedAt: Date;
  firstResponseDueAt: Date;
}

export async function listCases(db: DbOrTrx, filter: { state: string | null; limit?: number }): Promise<CaseListRow[]> {
  let q = db.selectFrom('cases').innerJoin('organisations', 'organisations.id', 'cases.organisation_id')
    .select(['cases.number', 'cases.subject', 'cases.severity', 'cases.state', 'organisations.name as organisation', 'cases.opened_at', 'cases.first_response_due_at'])
    .orderBy('cases.number', 'desc').limit(filter.limit ?? 500);
  if (filter.state) q = q.where('cases.state', '=', filter.state as never);
  const rows = await q.execute();
  return rows.map((r) => ({
    number: r.number, subject: r.subject, severity: r.severity, state: r.state, organisation: r.organisation,
    openedAt: r.opened_at, firstResponseDueAt: r.first_response_due_at,
  }));
}

export async function showCase(db: DbOrTrx, number: number) {
  const c = await db.selectFrom('cases').innerJoin('organisations', 'organisations.id', 'cases.organisation_id')
    .leftJoin('engineers', 'engineers.id', 'cases.assignee_engineer_id')
    .selectAll('cases').select(['organisations.name as organisation', 'engineers.address as assignee'])
    .where('cases.number', '=', number).executeTakeFirst();
  if (!c) return null;
  const participants = await db.selectFrom('case_participants').select(['address', 'role']).where('case_id', '=', c.id).orderBy('added_at').execute();
  const links = await db.selectFrom('case_links').innerJoin('cases as other', 'other.id', 'case_links.linked_case_id')
    .select(['case_links.kind', 'other.number']).where('case_links.case_id', '=', c.id).execute();
  const events = await db.selectFrom('case_events').select(['at', 'actor', 'kind', 'data']).where('case_id', '=', c.id).orderBy('id').execute();
  // status_reason shows why a message was held and which intake caps it ran into.
  const messages = await db.selectFrom('messages').select(['id', 'direction', 'from_address', 'subject', 'received_at', 'status', 'status_reason', 'kind'])
    .where('case_id', '=', c.id).orderBy('id').execute();
  const outbox = await db.selectFrom('outbox').select(['kind', 'to_addresses', 'subject', 'status', 'attempts', 'last_error', 'sent_at'])
    .where('case_id', '=', c.id).orderBy('id').execute();
  return {
    number: c.number, subject: c.subject, organisation: c.organisation, state: c.state, severity: c.severity,
    severitySource: c.severity_source, assignee: c.assignee, openedAt: c.opened_at, firstResponseDueAt: c.first_response_due_at,
    firstResponseAt: c.first_response_at, closedAt: c.closed_at, closeReason: c.close_reason,
    participants, links, events, messages, outbox,
  };
}
