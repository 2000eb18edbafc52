// Every kind of mail the service sends, with the data its template receives. The outbox row
// stores `kind` and `data`; the dispatcher renders templates/<kind>.text.hbs and .html.hbs.
// Input-derived fields are bounded per kind (mail-bounds.ts) before the row is written.

export interface CaseSummary {
  number: number;
  /** "[Case #100042]" with the configured prefix. */
  tag: string;
  subject: string;
}

export interface AcknowledgementData {
  case: CaseSummary;
  requesterName: string;
  severity: number;
  severityMeaning: string;
  /** The first-response target as a local date and time, e.g. "Monday 30 November 2026, 09:00 (Europe/Berlin)". */
  targetResponseLocal: string;
  /** The same target as a duration, e.g. "within 8 business hours" (formatTarget). */
  targetDuration: string;
  /** Other cases opened from the same message. */
  siblings: CaseSummary[];
  supportAddress: string;
  escalationAddress: string;
}

export interface NotEntitledData {
  reason: 'no_contract' | 'unknown_sender' | 'inactive_contact';
  senderAddress: string;
  supportAddress: string;
}

export interface NewCaseNotificationData {
  case: CaseSummary;
  severity: number;
  requester: { name: string; address: string };
  organisation: string;
  targetResponseLocal: string;
  targetDuration: string;
  /** The customer's new text (already stripped of quoted history). */
  text: string;
  attachments: { filename: string; size: number }[];
  siblings: CaseSummary[];
}

export interface HeldMessageNoticeData {
  case: CaseSummary;
  sender: string;
  subject: string;
  reason: string;
}

export interface OversizeNoticeData {
  subject: string;
  sizeBytes: number;
  limitBytes: number;
  supportAddress: string;
}

/** An engineer's reply relayed to the customer participants (spec section 5). */
export interface EngineerRelayData {
  case: CaseSummary;
  engineerName: string;
  /** The engineer's new text: quoted notification, command lines and signature separator handling done. */
  text: string;
  /** The engineer's HTML, sanitised (scripts and event handlers removed), or null when the reply was plain text. */
  html: string | null;
}

/** A command that could not be applied: nothing was applied or relayed. */
export interface CommandErrorData {
  case: CaseSummary;
  /** The offending line as written (bounded), and its number in the engineer's new text (1-based). */
  line: string;
  lineNumber: number;
  problem: string;
  validCommands: string[];
}

/** A customer wrote on a case: the assignee (or the queue) is told, with the new text only. */
export interface CustomerReplyNotificationData {
  case: CaseSummary;
  from: { name: string; address: string };
  state: string;
  /** The customer's new text, quoted history removed. */
  text: string;
  attachments: { filename: string; size: number }[];
  /** True when this reply reopened a closed case or cleared a waiting state. */
  reopened: boolean;
}

/** A case was assigned to this engineer (`#assign`). */
export interface AssignmentNoticeData {
  case: CaseSummary;
  severity: number;
  state: string;
  assignedBy: string;
  organisation: string;
  targetResponseLocal: string;
  targetDuration: string;
}

/** The first-response state of a case nobody has answered yet (spec section 6: SLA warning and breach). */
export interface SlaStateData {
  case: CaseSummary;
  severity: number;
  state: string;
  organisation: string;
  requester: { name: string; address: string };
  /** Instants in words in the service's time zone, e.g. "Monday 7 December 2026, 15:00 (Europe/Berlin)". */
  openedLocal: string;
  dueLocal: string;
  /** The target as a duration: "within 8 business hours", "within 30 minutes". */
  target: string;
  /** Wall-clock time from the sweep's now to the due instant, in words: "2 hours 5 minutes". */
  timeLeft: string;
  /** Assignee's name, or null when the case sits in the queue. */
  assignee: string | null;
}

/** A share of the response target passed with no response: to the assignee or the queue. */
export type SlaWarningData = SlaStateData;

/** The response target passed with no response: to the assignee and the supervisors. `timeLeft` reads as overdue. */
export interface SlaBreachData extends SlaStateData {
  /** How long past the due instant the sweep acted, in words ("12 minutes"). */
  overdueBy: string;
}

/** In `awaiting_customer`: we asked for information and are still waiting (to the customer). */
export interface InfoReminderData {
  case: CaseSummary;
  requesterName: string;
  /** When the engineer asked, in words. */
  askedLocal: string;
  /** When the case closes without an answer, in words. */
  closeLocal: string;
  /** True for the last reminder, one business day before the close. */
  final: boolean;
  supportAddress: string;
}

/** In `resolution_proposed`: please confirm, or tell us it is not solved (to the customer). */
export interface ConfirmationReminderData {
  case: CaseSummary;
  requesterName: string;
  proposedLocal: string;
  closeLocal: string;
  final: boolean;
  /** The phrases that confirm, for the customer to use ("close", "confirmed", ...). */
  closePhrases: string[];
  supportAddress: string;
}

/** A case closed by its timer (to the customer), saying why and how to reopen. */
export interface AutoCloseNoticeData {
  case: CaseSummary;
  requesterName: string;
  reason: 'no_response' | 'auto_resolved';
  /** Business days waited, e.g. 15. */
  waitedBusinessDays: number;
  /** Until when a reply reopens the case, in words; after it a reply opens a new case. */
  reopenUntilLocal: string;
  reopenWindowDays: number;
  supportAddress: string;
}

/** Our mail to a customer bounced permanently: the assignee (or the queue) is told the customer cannot be reached. */
export interface CustomerUnreachableData {
  case: CaseSummary;
  address: string;
  /** Bounce statuses or the server's reply, e.g. "5.1.1". */
  reason: string;
  /** Other customer participants still reachable on the case. */
  reachable: string[];
}

/** A dated short excerpt of a message on the case (first lines of its new text). */
export interface MessageExcerpt {
  from: string;
  /** When it arrived, in words (formatLocal). */
  dateLocal: string;
  excerpt: string;
}

/** The SLA side of an escalated case, as supervisors read it. */
export interface EscalationSlaData {
  severity: number;
  state: string;
  organisation: string;
  requester: { name: string; address: string };
  openedLocal: string;
  /** The first-response target as a duration ("within 8 business hours"). */
  target: string;
  dueLocal: string;
  /** When the first response was given, in words, or null while nobody has answered. */
  respondedLocal: string | null;
  /** Unanswered and not yet due: the time left in words; else null. */
  timeLeft: string | null;
  /** Unanswered and past due: how long overdue, in words; else null. */
  overdueBy: string | null;
  assignee: string | null;
}

/** Someone wrote to the escalation address (spec section 7): to the supervisors. `case` is null when no case was found. */
export interface EscalationNoticeData {
  case: CaseSummary | null;
  from: { name: string; address: string };
  /** How the sender stands to the case: participant, organisation, engineer or stranger (no case: unknown). */
  senderRelation: string;
  subject: string;
  /** The escalation's new text, quoted history removed, bounded. */
  text: string;
  receivedLocal: string;
  /** How many escalations the case has had, this one included (0 without a case). */
  times: number;
  /** When the case was first escalated, in words (this one when first). */
  firstLocal: string | null;
  sla: EscalationSlaData | null;
  lastCustomer: MessageExcerpt | null;
  lastEngineer: MessageExcerpt | null;
  /** Case numbers the message named that matched no case the sender may name. */
  unmatchedNumbers: number[];
  escalationAddress: string;
}

/**
 * The escalation sender's receipt. `outcome`: 'case' names the case (the sender is on it);
 * 'received' reveals nothing of any case (a stranger); 'need-number' asks for the case number.
 */
export interface EscalationReceiptData {
  outcome: 'case' | 'received' | 'need-number';
  case: CaseSummary | null;
  state: string | null;
  senderName: string;
  supportAddress: string;
  escalationAddress: string;
}

/** One open case in an organisation's digest. */
export interface OrgDigestCase {
  case: CaseSummary;
  severity: number;
  state: string;
  requester: { name: string; address: string };
  /** Time since the case opened, in words ("3 days 2 hours"). */
  age: string;
  /** The next deadline in words, in the organisation's time zone, or null when none runs. */
  nextDeadline: string | null;
}

/** An org admin's `cases` (spec section 8): the organisation's open cases, oldest first. */
export interface OrgDigestData {
  adminName: string;
  organisation: string;
  /** When the digest was made, in the organisation's time zone. */
  asOfLocal: string;
  cases: OrgDigestCase[];
  /** Open cases beyond those listed. */
  more: number;
  supportAddress: string;
}

export type ContactLineResult = 'added' | 'already a contact' | 'invalid address' | 'belongs to another organisation' | 'not available';

/**
 * The answer to an org admin's `add contact` or `licenses`, or the refusal of any admin command
 * (`outcome`); the lists not about the outcome are empty.
 */
export interface AdminCommandResultData {
  /** The command as the admin wrote it, normalised: "cases", "add contact" or "licenses". */
  command: string;
  outcome: 'contacts' | 'licenses' | 'refused';
  adminName: string;
  organisation: string;
  contacts: { line: string; result: ContactLineResult }[];
  /** Lines past the per-message limit, not read. */
  omittedLines: number;
  /** Contracts, newest end first; `remaining` in words ("396 days left", "ended 3 days ago"). */
  licenses: { product: string; startsOn: string; endsOn: string; daysLeft: number; remaining: string }[];
  /** Today's date in the organisation's time zone (what days left count from). */
  todayLocal: string;
  /** Why the command was refused and what it lacked. */
  refusal: { reason: string; missing: string; seen: string[] } | null;
  supportAddress: string;
}

export interface MailKindData {
  acknowledgement: AcknowledgementData;
  'not-entitled': NotEntitledData;
  'new-case-notification': NewCaseNotificationData;
  'held-message-notice': HeldMessageNoticeData;
  'oversize-notice': OversizeNoticeData;
  'engineer-relay': EngineerRelayData;
  'command-error': CommandErrorData;
  'customer-reply-notification': CustomerReplyNotificationData;
  'assignment-notice': AssignmentNoticeData;
  'sla-warning': SlaWarningData;
  'sla-breach': SlaBreachData;
  'info-reminder': InfoReminderData;
  'confirmation-reminder': ConfirmationReminderData;
  'auto-close-notice': AutoCloseNoticeData;
  'customer-unreachable': CustomerUnreachableData;
  'escalation-notice': EscalationNoticeData;
  'escalation-receipt': EscalationReceiptData;
  'org-digest': OrgDigestData;
  'admin-command-result': AdminCommandResultData;
}

export type MailKind = keyof MailKindData;

export const MAIL_KINDS = [
  'acknowledgement', 'not-entitled', 'new-case-notification', 'held-message-notice', 'oversize-notice',
  'engineer-relay', 'command-error', 'customer-reply-notification', 'assignment-notice',
  'sla-warning', 'sla-breach', 'info-reminder', 'confirmation-reminder', 'auto-close-notice', 'customer-unreachable',
  'escalation-notice', 'escalation-receipt',
  'org-digest', 'admin-command-result',
] as const satisfies readonly MailKind[];

/** One outgoing mail as the code that causes it describes it; written to the outbox in the same transaction. */
export interface OutgoingMail<K extends MailKind = MailKind> {
  /** Unique per cause: a second write of the same cause is ignored (e.g. "ack:<message row id>:<case number>"). */
  causeKey: string;
  kind: K;
  caseId: number | null;
  to: string[];
  cc?: string[];
  replyTo?: string | null;
  /** Display name on our From, e.g. "Erin Example via Support" on a relay; default the service's own. */
  fromName?: string | null;
  /** Inbound message row whose non-inline attachments go with this mail (a relayed engineer reply). */
  attachmentsFrom?: number | null;
  /** Subject including the case tag where there is a case. Line breaks removed and cut to 200 characters when the row is written (mail-bounds.ts). */
  subject: string;
  inReplyTo?: string | null;
  references?: string[];
  /** 'auto-replied' for answers to a message, 'auto-generated' for timer mail, null for human relays. */
  autoSubmitted: 'auto-replied' | 'auto-generated' | null;
  data: MailKindData[K];
}
