// Kysely table types for the schema the migrations create. Row types stay inside the store
// modules (src/cases, src/directory, ...), which map them to domain types.
import type { ColumnType, Generated, JSONColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null, Date | string | null>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
/** bigint columns: numbers in JS (ids and case numbers stay far below 2^53). */
type Id = ColumnType<number, number | undefined, never>;
type DateOnly = ColumnType<string, string, string>;

export interface OrganisationsTable {
  id: Id;
  key: string;
  name: string;
  time_zone: Generated<string>;
  created_at: CreatedAt;
}

export interface ContractsTable {
  id: Id;
  organisation_id: number;
  product: string;
  starts_on: DateOnly;
  ends_on: DateOnly;
}

export interface ContactsTable {
  id: Id;
  organisation_id: number;
  address: string;
  name: Generated<string>;
  role: Generated<'contact' | 'org_admin'>;
  active: Generated<boolean>;
  bouncing_since: NullableTimestamp;
  bounce_reason: string | null;
  created_at: CreatedAt;
}

export interface EngineersTable {
  id: Id;
  address: string;
  name: string;
  team: Generated<string>;
  role: Generated<'engineer' | 'supervisor'>;
  active: Generated<boolean>;
  /** When round-robin assignment last gave this engineer a case. */
  last_assigned_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_at: CreatedAt;
}

export type CaseState = 'new' | 'open' | 'awaiting_customer' | 'resolution_proposed' | 'closed';

export interface CasesTable {
  id: Id;
  number: ColumnType<number, number | undefined, never>;
  organisation_id: number;
  requester_contact_id: number | null;
  subject: string;
  severity: number;
  severity_source: string;
  severity_reasons: JSONColumnType<string[], string, string>;
  state: Generated<CaseState>;
  assignee_engineer_id: number | null;
  opened_at: Timestamp;
  first_response_due_at: Timestamp;
  first_response_at: NullableTimestamp;
  sla_warning_due_at: NullableTimestamp;
  sla_warned_at: NullableTimestamp;
  sla_breached_at: NullableTimestamp;
  auto_close_at: NullableTimestamp;
  auto_close_reason: string | null;
  next_reminder_at: NullableTimestamp;
  state_entered_at: Timestamp;
  closed_at: NullableTimestamp;
  close_reason: string | null;
  escalated_at: NullableTimestamp;
  split_group: string | null;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface CaseLinksTable {
  case_id: number;
  linked_case_id: number;
  kind: 'split_sibling' | 'reopened_from' | 'merged_into';
  created_at: CreatedAt;
}

export interface CaseParticipantsTable {
  case_id: number;
  address: string;
  contact_id: number | null;
  role: 'requester' | 'cc' | 'organisation';
  added_at: CreatedAt;
}

export interface RawMessagesTable {
  sha256: string;
  size: number;
  bytes: Uint8Array;
}

/** 'released': a held message run through the intake again (its new row says what it became); 'discarded': an operator dropped a held message (kept, with the reason). */
export type MessageStatus = 'processed' | 'held' | 'quarantined' | 'ignored' | 'sent' | 'released' | 'discarded';

export interface MessagesTable {
  id: Id;
  direction: 'inbound' | 'outbound';
  case_id: number | null;
  raw_sha256: string | null;
  content_hash: string;
  message_id_header: string | null;
  in_reply_to: string | null;
  references: JSONColumnType<string[], string | undefined, string>;
  from_address: string | null;
  subject: string | null;
  sent_at: NullableTimestamp;
  received_at: ColumnType<Date, Date | string | undefined, Date | string>;
  source: 'imap' | 'smtp' | 'pipe' | 'outbox';
  mailbox: string | null;
  uid_validity: number | null;
  uid: number | null;
  kind: string | null;
  classification: JSONColumnType<Record<string, unknown> | null, string | null, string | null>;
  sender_role: string | null;
  status: MessageStatus;
  status_reason: string | null;
  error: string | null;
  visible_text: string | null;
}

/** Decoded attachment bytes, once per hash: written only before 2026-12-02 (now read from the raw message). */
export interface AttachmentsTable {
  sha256: string;
  size: number;
  bytes: Uint8Array;
}

export interface MessageAttachmentsTable {
  message_id: number;
  position: number;
  attachment_sha256: string;
  /** Bytes, decoded. The bytes themselves are in the raw message (and, for rows written before 2026-12-02, in `attachments`). */
  size: number;
  filename: string | null;
  content_type: string;
  content_id: string | null;
  inline: boolean;
  from_tnef: boolean;
}

export interface CaseEventsTable {
  id: Id;
  case_id: number | null;
  message_id: number | null;
  at: Timestamp;
  actor: string;
  kind: string;
  data: JSONColumnType<Record<string, unknown>, string, string>;
}

export type OutboxStatus = 'pending' | 'sent' | 'failed' | 'held_back';

export interface OutboxTable {
  id: Id;
  cause_key: string;
  kind: string;
  case_id: number | null;
  to_addresses: JSONColumnType<string[], string, string>;
  cc_addresses: JSONColumnType<string[], string | undefined, string>;
  reply_to: string | null;
  /** Display name on the From (the support address), e.g. "Erin Example via Support"; null = the service's own. */
  from_name: ColumnType<string | null, string | null | undefined, string | null>;
  /** Inbound message whose (non-inline) attachments go with this mail (a relayed engineer reply). */
  attachments_from: ColumnType<number | null, number | null | undefined, number | null>;
  message_id_header: string;
  in_reply_to: string | null;
  references: JSONColumnType<string[], string | undefined, string>;
  auto_submitted: string | null;
  subject: string;
  template: string;
  data: JSONColumnType<Record<string, unknown>, string, string>;
  status: Generated<OutboxStatus>;
  attempts: Generated<number>;
  next_attempt_at: Timestamp;
  locked_until: NullableTimestamp;
  locked_by: string | null;
  last_error: string | null;
  sent_at: NullableTimestamp;
  created_at: CreatedAt;
}

export interface MailboxCursorsTable {
  mailbox: string;
  uid_validity: number;
  last_uid: number;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** One automatic mail queued to an address: what the per-address hourly limit counts. */
export interface AutomaticMailLogTable {
  address: string;
  at: Timestamp;
  outbox_id: number | null;
}

export interface Database {
  organisations: OrganisationsTable;
  contracts: ContractsTable;
  contacts: ContactsTable;
  engineers: EngineersTable;
  cases: CasesTable;
  case_links: CaseLinksTable;
  case_participants: CaseParticipantsTable;
  raw_messages: RawMessagesTable;
  messages: MessagesTable;
  attachments: AttachmentsTable;
  message_attachments: MessageAttachmentsTable;
  case_events: CaseEventsTable;
  outbox: OutboxTable;
  mailbox_cursors: MailboxCursorsTable;
  automatic_mail_log: AutomaticMailLogTable;
}
