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
  /** The first-response target as a local date and time, e.g. "Mon 30 Nov 2026, 09:00 (Europe/Berlin)". */
  targetResponseLocal: string;
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
}

export type MailKind = keyof MailKindData;

export const MAIL_KINDS = [
  'acknowledgement', 'not-entitled', 'new-case-notification', 'held-message-notice', 'oversize-notice',
  'engineer-relay', 'command-error', 'customer-reply-notification', 'assignment-notice',
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
