// The rows a plan (or several) writes, gathered per table and written as arrays: each table's rows
// are one `insert ... select * from unnest($1::type[], ...)`, all of them one data-modifying
// statement. Its text depends on which tables get rows (and on the case updates), not on how many:
// the pool prepares it once per connection, PostgreSQL parses it once, and no query-builder node is
// made per value. Case updates that set the same columns are one `update ... from unnest(...)`.
// Foreign keys are checked at the end of the statement, so the order of its parts does not
// matter; the caller makes sure no two parts touch the same row (apply-plan.ts).
import { sql, type Compilable, type RawBuilder } from 'kysely';
import { PLAN_EACH_RUN, type Trx } from '../db/database.js';
import { insertRows, type ColumnType, type Table } from '../db/insert-rows.js';
import type { ParsedAttachment } from '../threading/parsed-message.js';
import type { CaseChanges, CaseUpdate, PlannedCase, PlannedEvent, PlannedLink, PlannedParticipant } from './plan.js';

/** The message row as the intake writes it (every column but `error`, which only quarantine sets). */
export interface MessageRowValues {
  id: number;
  direction: 'inbound' | 'outbound';
  case_id: number | null;
  raw_sha256: string;
  content_hash: string;
  message_id_header: string | null;
  in_reply_to: string | null;
  /** JSON text. */
  references: string;
  from_address: string | null;
  subject: string | null;
  sent_at: Date | string | null;
  received_at: Date | string;
  source: string;
  mailbox: string | null;
  uid_validity: number | null;
  uid: number | null;
  kind: string | null;
  /** JSON text, or null. */
  classification: string | null;
  sender_role: string | null;
  status: string;
  status_reason: string | null;
  visible_text: string | null;
}

type RawRow = { sha256: string; bytes: Buffer };
type AttachmentRow = { messageId: number; position: number; sha256: string; attachment: ParsedAttachment };
type CaseRow = { c: PlannedCase; now: Date };
type EventRow = { e: PlannedEvent; messageId: number | null; at: Date };

/** Raw bytes, once per SHA-256 (the intake's messages, and the dispatcher's sent mail). */
export const RAW_MESSAGES: Table<RawRow> = {
  name: 'raw_messages',
  columns: [['sha256', 'text', (r) => r.sha256], ['size', 'int', (r) => r.bytes.length], ['bytes', 'bytea', (r) => r.bytes]],
  onConflict: 'on conflict (sha256) do nothing',
};

const MESSAGES: Table<MessageRowValues> = {
  name: 'messages',
  columns: ([
    ['id', 'bigint'], ['direction', 'text'], ['case_id', 'bigint'], ['raw_sha256', 'text'], ['content_hash', 'text'], ['message_id_header', 'text'],
    ['in_reply_to', 'text'], ['references', 'jsonb'], ['from_address', 'text'], ['subject', 'text'], ['sent_at', 'timestamptz'], ['received_at', 'timestamptz'],
    ['source', 'text'], ['mailbox', 'text'], ['uid_validity', 'bigint'], ['uid', 'bigint'], ['kind', 'text'], ['classification', 'jsonb'],
    ['sender_role', 'text'], ['status', 'text'], ['status_reason', 'text'], ['visible_text', 'long text'],
  ] as const).map(([column, type]) => [column, type, (r: MessageRowValues) => r[column]] as const),
};

const MESSAGE_ATTACHMENTS: Table<AttachmentRow> = {
  name: 'message_attachments',
  columns: [
    ['message_id', 'bigint', (r) => r.messageId], ['position', 'int', (r) => r.position], ['attachment_sha256', 'text', (r) => r.sha256],
    ['size', 'int', (r) => r.attachment.content.length], ['filename', 'text', (r) => r.attachment.filename], ['content_type', 'text', (r) => r.attachment.contentType],
    ['content_id', 'text', (r) => r.attachment.contentId], ['inline', 'boolean', (r) => r.attachment.inline], ['from_tnef', 'boolean', (r) => r.attachment.fromTnef],
  ],
};

const CASES: Table<CaseRow> = {
  name: 'cases',
  columns: [
    ['id', 'bigint', (r) => r.c.id], ['number', 'bigint', (r) => r.c.number], ['organisation_id', 'bigint', (r) => r.c.organisationId],
    ['requester_contact_id', 'bigint', (r) => r.c.requesterContactId], ['subject', 'text', (r) => r.c.subject], ['severity', 'smallint', (r) => r.c.severity],
    ['severity_source', 'text', (r) => r.c.severitySource], ['severity_reasons', 'jsonb', (r) => JSON.stringify(r.c.severityReasons)],
    ['state', 'text', () => 'new'], ['assignee_engineer_id', 'bigint', (r) => r.c.assigneeEngineerId], ['opened_at', 'timestamptz', (r) => r.c.openedAt],
    ['first_response_due_at', 'timestamptz', (r) => r.c.firstResponseDueAt], ['sla_warning_due_at', 'timestamptz', (r) => r.c.slaWarningDueAt],
    ['state_entered_at', 'timestamptz', (r) => r.c.openedAt], ['split_group', 'text', (r) => r.c.splitGroup], ['updated_at', 'timestamptz', (r) => r.now],
  ],
};

const PARTICIPANTS: Table<PlannedParticipant> = {
  name: 'case_participants',
  columns: [['case_id', 'bigint', (p) => p.caseId], ['address', 'text', (p) => p.address.toLowerCase()], ['contact_id', 'bigint', (p) => p.contactId], ['role', 'text', (p) => p.role]],
  onConflict: 'on conflict (case_id, address) do nothing',
};

const LINKS: Table<PlannedLink> = {
  name: 'case_links',
  columns: [['case_id', 'bigint', (l) => l.caseId], ['linked_case_id', 'bigint', (l) => l.linkedCaseId], ['kind', 'text', (l) => l.kind]],
  onConflict: 'on conflict do nothing',
};

const EVENTS: Table<EventRow> = {
  name: 'case_events',
  columns: [
    ['case_id', 'bigint', (r) => r.e.caseId], ['message_id', 'bigint', (r) => r.messageId], ['at', 'timestamptz', (r) => r.at],
    ['actor', 'text', (r) => r.e.actor], ['kind', 'text', (r) => r.e.kind], ['data', 'jsonb', (r) => JSON.stringify(r.e.data)],
  ],
};

/** Writes the cases of `changes` alone (the path of plans one statement cannot write). */
export async function insertCaseRows(trx: Trx, cases: readonly PlannedCase[], now: Date): Promise<void> {
  if (cases.length) await insertRows(CASES, cases.map((c) => ({ c, now }))).execute(trx);
}

/**
 * A message's attachments alone: one row of metadata each, in order, with the SHA-256 and size of
 * its decoded bytes. The bytes stay in the raw message (loadMailAttachments reads them from there);
 * an attachment the message carries twice is two rows naming one hash.
 */
export async function insertAttachmentRows(trx: Trx, messageId: number, attachments: readonly ParsedAttachment[], hashes: readonly string[]): Promise<void> {
  if (attachments.length) await insertRows(MESSAGE_ATTACHMENTS, attachmentRows(messageId, attachments, hashes)).execute(trx);
}

function attachmentRows(messageId: number, attachments: readonly ParsedAttachment[], hashes: readonly string[]): AttachmentRow[] {
  return attachments.map((attachment, position) => ({ messageId, position, sha256: hashes[position]!, attachment }));
}

export async function insertParticipantRows(trx: Trx, participants: readonly PlannedParticipant[]): Promise<void> {
  if (participants.length) await insertRows(PARTICIPANTS, participants).execute(trx);
}

export async function insertLinkRows(trx: Trx, links: readonly PlannedLink[]): Promise<void> {
  if (links.length) await insertRows(LINKS, links).execute(trx);
}

export async function insertEventRows(trx: Trx, events: readonly PlannedEvent[], inboundId: number | null, at: Date): Promise<void> {
  if (events.length) await insertRows(EVENTS, events.map((e) => eventRow(e, inboundId, at))).execute(trx);
}

function eventRow(e: PlannedEvent, inboundId: number | null, at: Date): EventRow {
  return { e, messageId: e.messageId ?? (e.aboutMessage ? inboundId : null), at };
}

/** The columns a case update may set, in the order a statement sets them, with their SQL types. */
const CASE_UPDATE_COLUMNS = {
  updated_at: 'timestamptz', state: 'text', state_entered_at: 'timestamptz', closed_at: 'timestamptz', close_reason: 'text',
  auto_close_at: 'timestamptz', auto_close_reason: 'text', next_reminder_at: 'timestamptz', severity: 'smallint', severity_source: 'text',
  first_response_due_at: 'timestamptz', sla_warning_due_at: 'timestamptz', sla_warned_at: 'timestamptz', sla_breached_at: 'timestamptz',
  assignee_engineer_id: 'bigint', first_response_at: 'timestamptz', escalated_at: 'timestamptz',
} as const satisfies Record<string, ColumnType>;

type CaseUpdateColumn = keyof typeof CASE_UPDATE_COLUMNS;
type CaseUpdateRow = { caseId: number; set: Partial<Record<CaseUpdateColumn, unknown>> };

/** What one case update sets, column by column (a later entry wins, as in the plan's own order). */
export function caseUpdateValues(u: CaseUpdate, now: Date): Partial<Record<CaseUpdateColumn, unknown>> {
  const s = u.state;
  return {
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
    // Kept as it is on a case escalated before (coalesce in the statement).
    ...(u.escalatedAt ? { escalated_at: u.escalatedAt } : {}),
  };
}

/**
 * Case updates (each case at most once), as one `update cases ... from unnest(<one array per
 * column>)` per set of columns they set, in a fixed order: the sweep's 25 reminders are one
 * update, not 25.
 */
export function caseUpdateStatements(rows: readonly CaseUpdateRow[]): RawBuilder<unknown>[] {
  const groups = new Map<string, { columns: CaseUpdateColumn[]; rows: CaseUpdateRow[] }>();
  for (const row of rows) {
    const columns = (Object.keys(CASE_UPDATE_COLUMNS) as CaseUpdateColumn[]).filter((c) => c in row.set);
    const key = columns.join(',');
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { columns, rows: [] }));
    g.rows.push(row);
  }
  return [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, { columns, rows: group }]) => {
    const set = columns.map((c) => (c === 'escalated_at' ? `"${c}" = coalesce(c."${c}", v."${c}")` : `"${c}" = v."${c}"`)).join(', ');
    const arrays = [
      sql`${group.map((r) => r.caseId)}::bigint[]`,
      ...columns.map((c) => sql`${group.map((r) => r.set[c] ?? null)}::${sql.raw(CASE_UPDATE_COLUMNS[c])}[]`),
    ];
    return sql`update cases c set ${sql.raw(set)} from unnest(${sql.join(arrays)}) as v(id, ${sql.raw(columns.map((c) => `"${c}"`).join(', '))}) where c.id = v.id`;
  });
}

/**
 * Updates cases alone (the path of plans one statement cannot write), in order, one statement per
 * update: such a plan may update one case twice. Planned at each run (PLAN_EACH_RUN): the unnest's
 * join to cases needs the table's current size.
 */
export async function updateCaseRows(trx: Trx, updates: readonly CaseUpdate[], now: Date): Promise<void> {
  for (const u of updates) {
    for (const q of caseUpdateStatements([{ caseId: u.caseId, set: caseUpdateValues(u, now) }])) await sql`${sql.raw(PLAN_EACH_RUN)}${q}`.execute(trx);
  }
}

/** The round-robin turn: these engineers were assigned a case at `now`. */
export function turnUpdate(trx: Trx, engineerIds: readonly number[], now: Date) {
  return trx.updateTable('engineers').set({ last_assigned_at: now }).where('id', '=', sql<number>`any(${engineerIds}::bigint[])`);
}

/**
 * The rows of one or more plans, gathered for ONE statement (write). Case updates stay one
 * `update` each (their columns differ from case to case); the engineers whose turn the plans took
 * are moved on by one update.
 */
export class PlanRows {
  private readonly raws: RawRow[] = [];
  private readonly messages: MessageRowValues[] = [];
  private readonly attachments: AttachmentRow[] = [];
  private readonly cases: CaseRow[] = [];
  private readonly participants: PlannedParticipant[] = [];
  private readonly links: PlannedLink[] = [];
  private readonly events: EventRow[] = [];
  private readonly updates: CaseUpdateRow[] = [];
  private readonly turns = new Set<number>();
  private turnAt: Date | null = null;

  private plans = 0;

  /** Plans gathered (messages, or change sets without one). */
  get size(): number {
    return this.plans;
  }

  /**
   * An inbound message: its raw bytes (null: already written) under its row's raw_sha256, its row,
   * and its attachments' rows. Only small raw bytes come here (in the statement's one binary
   * parameter, insert-rows.ts); messages of 64 KiB and more are written first (storeBytesFirst).
   */
  addMessage(row: MessageRowValues, raw: Buffer | null, attachments: readonly ParsedAttachment[], attachmentHashes: readonly string[]): void {
    if (raw) this.raws.push({ sha256: row.raw_sha256, bytes: raw });
    this.messages.push(row);
    this.attachments.push(...attachmentRows(row.id, attachments, attachmentHashes));
  }

  /** A plan's case changes but its mail and contact changes. */
  addChanges(changes: CaseChanges, inboundId: number | null, now: Date): void {
    for (const c of changes.openCases) this.cases.push({ c, now });
    for (const u of changes.caseUpdates) this.updates.push({ caseId: u.caseId, set: caseUpdateValues(u, now) });
    if (changes.assignedEngineers.length) {
      for (const id of changes.assignedEngineers) this.turns.add(id);
      this.turnAt = now;
    }
    this.participants.push(...changes.participants);
    this.links.push(...changes.links);
    for (const e of changes.events) this.events.push(eventRow(e, inboundId, now));
    this.plans += 1;
  }

  /** The statement's parts, named `<name> as (...)`. */
  private parts(trx: Trx): RawBuilder<unknown>[] {
    const parts: RawBuilder<unknown>[] = [];
    const add = (name: string, query: RawBuilder<unknown> | Compilable) => parts.push(sql`${sql.raw(name)} as (${query})`);
    if (this.raws.length) add('raw', insertRows(RAW_MESSAGES, this.raws));
    if (this.messages.length) add('m', insertRows(MESSAGES, this.messages));
    if (this.attachments.length) add('ma', insertRows(MESSAGE_ATTACHMENTS, this.attachments));
    if (this.cases.length) add('c', insertRows(CASES, this.cases));
    caseUpdateStatements(this.updates).forEach((u, k) => add(`u${k}`, u));
    if (this.turns.size) add('turn', turnUpdate(trx, [...this.turns], this.turnAt!));
    if (this.participants.length) add('p', insertRows(PARTICIPANTS, this.participants));
    if (this.links.length) add('l', insertRows(LINKS, this.links));
    if (this.events.length) add('e', insertRows(EVENTS, this.events));
    return parts;
  }

  /**
   * Writes everything gathered in one statement; nothing when nothing was gathered. A statement
   * that updates cases is planned at each run (PLAN_EACH_RUN): its join of an unnest to cases must
   * not keep a plan made while cases was small. One that only inserts is prepared.
   */
  async write(trx: Trx): Promise<void> {
    const parts = this.parts(trx);
    if (parts.length === 0) return;
    await sql`${sql.raw(this.updates.length ? PLAN_EACH_RUN : '')}with ${sql.join(parts)} select 1`.execute(trx);
  }
}
