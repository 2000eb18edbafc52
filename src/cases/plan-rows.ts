// The rows a plan (or several) writes, gathered per table and written as arrays: each table's rows
// are one `insert ... select * from unnest($1::type[], ...)`, all of them one data-modifying
// statement. Its text depends on which tables get rows (and on the case updates), not on how many:
// the pool prepares it once per connection, PostgreSQL parses it once, and no query-builder node is
// made per value. Foreign keys are checked at the end of the statement, so the order of its parts
// does not matter; the caller makes sure no two parts touch the same row (apply-plan.ts).
import { sql, type Compilable, type RawBuilder } from 'kysely';
import type { Trx } from '../db/database.js';
import { insertRows, type Table } from '../db/insert-rows.js';
import type { ParsedAttachment } from '../threading/parsed-message.js';
import type { CaseChanges, PlannedCase, PlannedEvent, PlannedLink, PlannedParticipant } from './plan.js';

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
  private readonly updates: Compilable[] = [];
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

  /** A plan's case changes but its mail and contact changes; `updates` are its case updates, built by the caller. */
  addChanges(changes: CaseChanges, updates: readonly Compilable[], inboundId: number | null, now: Date): void {
    for (const c of changes.openCases) this.cases.push({ c, now });
    this.updates.push(...updates);
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
    this.updates.forEach((u, k) => add(`u${k}`, u));
    if (this.turns.size) add('turn', turnUpdate(trx, [...this.turns], this.turnAt!));
    if (this.participants.length) add('p', insertRows(PARTICIPANTS, this.participants));
    if (this.links.length) add('l', insertRows(LINKS, this.links));
    if (this.events.length) add('e', insertRows(EVENTS, this.events));
    return parts;
  }

  /** Writes everything gathered in one statement; nothing when nothing was gathered. */
  async write(trx: Trx): Promise<void> {
    const parts = this.parts(trx);
    if (parts.length) await sql`with ${sql.join(parts)} select 1`.execute(trx);
  }
}
