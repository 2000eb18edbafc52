// A plan: everything one decision changes, as plain data — the inbound message's row, cases to
// open, state changes, participants, links, audit events and outgoing mail. Pure actions
// (src/cases/actions) return plans; apply-plan.ts writes any plan in the caller's transaction.
import type { CaseState, MessageStatus } from '../db/schema.js';
import type { OutgoingMail } from '../notify/mail-kinds.js';
import type { StateChange } from './case-rules.js';

/** A case to open. Its id and number were reserved from the sequences while facts were gathered. */
export interface PlannedCase {
  id: number;
  number: number;
  organisationId: number;
  requesterContactId: number;
  subject: string;
  severity: 1 | 2 | 3;
  severitySource: 'suggested' | 'default' | 'engineer';
  severityReasons: string[];
  openedAt: Date;
  firstResponseDueAt: Date;
  slaWarningDueAt: Date;
  splitGroup: string | null;
  assigneeEngineerId: number | null;
}

/** Changes to an existing case; absent fields stay as they are. */
export interface CaseUpdate {
  caseId: number;
  state?: StateChange;
  severity?: { severity: 1 | 2 | 3; source: 'engineer'; firstResponseDueAt: Date; slaWarningDueAt: Date };
  assigneeEngineerId?: number | null;
  firstResponseAt?: Date;
  /** The sweep recorded that it acted on the SLA warning / breach instant. */
  slaWarnedAt?: Date;
  slaBreachedAt?: Date;
  /** The sweep sent a reminder and moves on to the next one (null: none left). */
  nextReminderAt?: Date | null;
  /** Escalated at this instant; a case already escalated keeps its first instant. */
  escalatedAt?: Date;
}

export interface PlannedParticipant {
  caseId: number;
  address: string;
  contactId: number | null;
  role: 'requester' | 'cc' | 'organisation';
}

export interface PlannedLink {
  caseId: number;
  linkedCaseId: number;
  kind: 'split_sibling' | 'reopened_from' | 'merged_into';
}

export interface PlannedEvent {
  caseId: number | null;
  actor: string;
  kind: string;
  data: Record<string, unknown>;
  /** Written with the inbound message's id (the event is about this message). */
  aboutMessage: boolean;
  /** Another message the event is about (a released held message), instead. */
  messageId?: number;
}

/** Moves a merged case's messages and participants into the target. */
export interface PlannedMerge {
  fromCaseId: number;
  intoCaseId: number;
}

/**
 * What a decision changes in cases, people and mail, with or without an inbound message: the
 * intake's plans add the message's row (Plan); the timer sweep's plans are this alone.
 */
export interface CaseChanges {
  openCases: PlannedCase[];
  caseUpdates: CaseUpdate[];
  participants: PlannedParticipant[];
  links: PlannedLink[];
  events: PlannedEvent[];
  mails: OutgoingMail[];
  merges: PlannedMerge[];
  /** Recipients of our mail that a permanent bounce names. */
  markBouncing: { addresses: string[]; reason: string } | null;
  /** A sender marked bouncing wrote to us: the mark goes (their address works again). */
  clearBouncing: { address: string } | null;
  /** Engineers given a case by round-robin (their turn moves on). */
  assignedEngineers: number[];
  /** Contacts an org admin adds (`add contact`); an address that exists by then is left as it is. Absent: none. */
  addContacts?: PlannedContact[];
}

export interface PlannedContact {
  organisationId: number;
  address: string;
  name: string;
}

export interface Plan extends CaseChanges {
  /** The inbound message's own row. */
  message: { status: Exclude<MessageStatus, 'sent' | 'quarantined' | 'released' | 'discarded'>; caseId: number | null; reason: string | null };
  /** Case numbers the intake reports for this message. */
  caseNumbers: number[];
}

export function noChanges(): CaseChanges {
  return { openCases: [], caseUpdates: [], participants: [], links: [], events: [], mails: [], merges: [], markBouncing: null, clearBouncing: null, assignedEngineers: [] };
}

export function emptyPlan(message: Plan['message'], caseNumbers: number[] = []): Plan {
  return { message, ...noChanges(), caseNumbers };
}

export type { CaseState };
