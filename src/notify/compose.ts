// One builder per mail kind: subject, recipients, threading headers, cause key and template data
// of every mail the service sends. Pure: actions call these with facts they were given; the
// outbox row is written by apply-plan.ts in the same transaction as the change that caused it.
import type { CasemailSettings } from '../config/config.js';
import type {
  AcknowledgementData, AssignmentNoticeData, CaseSummary, CommandErrorData, CustomerReplyNotificationData, CustomerUnreachableData, EngineerRelayData,
  HeldMessageNoticeData, NewCaseNotificationData, NotEntitledData, OutgoingMail, OversizeNoticeData,
  SlaWarningData, SlaBreachData, InfoReminderData, ConfirmationReminderData, AutoCloseNoticeData,
  EscalationNoticeData, EscalationReceiptData,
  OrgDigestData, AdminCommandResultData,
} from './mail-kinds.js';

/** Where replies to a case's mail go: the case's reply-token address when tokens are on, else the support address. */
export type ReplyAddress = (caseNumber: number) => string;

/** A message being answered: its Message-ID and the References it carried. */
export interface Answering {
  messageId: string | null;
  references: readonly string[];
}

/** In-Reply-To and References (at most 20, newest kept) for an answer to `m`. */
export function threadingFor(m: Answering): { inReplyTo: string | null; references: string[] } {
  return { inReplyTo: m.messageId, references: [...m.references, ...(m.messageId ? [m.messageId] : [])].slice(-20) };
}

export function acknowledgement(a: {
  messageRowId: number; caseId: number; to: string[]; answering: Answering; replyTo: string; data: AcknowledgementData;
}): OutgoingMail<'acknowledgement'> {
  return {
    causeKey: `ack:${a.messageRowId}:${a.data.case.number}`, kind: 'acknowledgement', caseId: a.caseId,
    to: a.to.slice(0, 1), cc: a.to.slice(1), subject: `${a.data.case.tag} ${a.data.case.subject}`,
    replyTo: a.replyTo, ...threadingFor(a.answering), autoSubmitted: 'auto-replied', data: a.data,
  };
}

export function newCaseNotification(a: { caseId: number; to: string[]; replyTo: string; data: NewCaseNotificationData }): OutgoingMail<'new-case-notification'> {
  return {
    causeKey: `new-case:${a.data.case.number}`, kind: 'new-case-notification', caseId: a.caseId,
    to: a.to, subject: `${a.data.case.tag} New case (severity ${a.data.severity}): ${a.data.case.subject}`,
    replyTo: a.replyTo, autoSubmitted: 'auto-generated', data: a.data,
  };
}

/** At most one notice per address per day: the cause key carries the day. */
export function notEntitled(a: { now: Date; answering: Answering; subject: string; data: NotEntitledData }): OutgoingMail<'not-entitled'> {
  const day = a.now.toISOString().slice(0, 10);
  return {
    causeKey: `not-entitled:${a.data.senderAddress}:${day}`, kind: 'not-entitled', caseId: null, to: [a.data.senderAddress],
    subject: `Re: ${a.subject || 'your message to support'}`, inReplyTo: a.answering.messageId,
    references: a.answering.messageId ? [a.answering.messageId] : [], autoSubmitted: 'auto-replied', data: a.data,
  };
}

export function heldNotice(a: { messageRowId: number; caseId: number; to: string[]; data: HeldMessageNoticeData }): OutgoingMail<'held-message-notice'> {
  return {
    causeKey: `held:${a.messageRowId}`, kind: 'held-message-notice', caseId: a.caseId, to: a.to,
    subject: `${a.data.case.tag} Message held: ${a.data.subject}`, autoSubmitted: 'auto-generated', data: a.data,
  };
}

export function customerReplyNotification(a: {
  messageRowId: number; caseId: number; to: string[]; replyTo: string; answering: Answering; data: CustomerReplyNotificationData;
}): OutgoingMail<'customer-reply-notification'> {
  return {
    causeKey: `reply:${a.messageRowId}`, kind: 'customer-reply-notification', caseId: a.caseId, to: a.to,
    subject: `${a.data.case.tag} Customer reply: ${a.data.case.subject}`, replyTo: a.replyTo,
    ...threadingFor(a.answering), autoSubmitted: 'auto-generated', data: a.data,
  };
}

/**
 * The engineer's reply as the customer receives it: from the support address under the engineer's
 * name, in the case's thread, with the tag. A human answer, so no Auto-Submitted.
 */
export function engineerRelay(a: {
  messageRowId: number; caseId: number; to: string[]; replyTo: string; thread: { inReplyTo: string | null; references: string[] };
  engineerName: string; attachmentsFrom: number | null; data: EngineerRelayData;
}): OutgoingMail<'engineer-relay'> {
  return {
    causeKey: `relay:${a.messageRowId}`, kind: 'engineer-relay', caseId: a.caseId, to: a.to.slice(0, 1), cc: a.to.slice(1),
    subject: `${a.data.case.tag} ${a.data.case.subject}`, replyTo: a.replyTo, fromName: `${a.engineerName} via Support`,
    attachmentsFrom: a.attachmentsFrom, inReplyTo: a.thread.inReplyTo, references: a.thread.references.slice(-20),
    autoSubmitted: null, data: a.data,
  };
}

export function commandError(a: { messageRowId: number; caseId: number; to: string; replyTo: string; answering: Answering; data: CommandErrorData }): OutgoingMail<'command-error'> {
  return {
    causeKey: `command-error:${a.messageRowId}`, kind: 'command-error', caseId: a.caseId, to: [a.to],
    subject: `${a.data.case.tag} Not applied: ${a.data.line}`, replyTo: a.replyTo, ...threadingFor(a.answering),
    autoSubmitted: 'auto-replied', data: a.data,
  };
}

export function assignmentNotice(a: { messageRowId: number; caseId: number; to: string; replyTo: string; data: AssignmentNoticeData }): OutgoingMail<'assignment-notice'> {
  return {
    causeKey: `assigned:${a.messageRowId}:${a.data.case.number}`, kind: 'assignment-notice', caseId: a.caseId, to: [a.to],
    subject: `${a.data.case.tag} Assigned to you: ${a.data.case.subject}`, replyTo: a.replyTo, autoSubmitted: 'auto-generated', data: a.data,
  };
}

/** Once a day per sender, like the not-entitled notice. */
export function oversizeNotice(a: { now: Date; to: string; answering: Answering; data: OversizeNoticeData }): OutgoingMail<'oversize-notice'> {
  return {
    causeKey: `oversize:${a.to}:${a.now.toISOString().slice(0, 10)}`, kind: 'oversize-notice', caseId: null, to: [a.to],
    subject: `Re: ${a.data.subject || 'your message to support'}`, inReplyTo: a.answering.messageId, autoSubmitted: 'auto-replied', data: a.data,
  };
}

/**
 * Our mail to a customer address bounced permanently: the case's assignee (or whoever hears of
 * unassigned cases) is told once per case, address and bounce message.
 */
export function customerUnreachable(a: { bounceRowId: number; caseId: number; to: string[]; replyTo: string; data: CustomerUnreachableData }): OutgoingMail<'customer-unreachable'> {
  return {
    causeKey: `unreachable:${a.caseId}:${a.data.address}:${a.bounceRowId}`, kind: 'customer-unreachable', caseId: a.caseId, to: a.to,
    subject: `${a.data.case.tag} Customer unreachable: ${a.data.address}`, replyTo: a.replyTo, autoSubmitted: 'auto-generated', data: a.data,
  };
}

// ---------------------------------------------------------------- the timer sweep's mail
// Each cause key names the case, the kind and the deadline instant it fires for: a second sweep of
// the same instant (another process, a retry after a crash) writes nothing new.

/** The case's thread as a timer mail joins it: in reply to the customer's newest message. */
export interface CaseThread {
  first: string | null;
  lastFromCustomer: string | null;
}

function threadOf(t: CaseThread): { inReplyTo: string | null; references: string[] } {
  const refs = [...new Set([t.first, t.lastFromCustomer].filter((x): x is string => !!x))];
  return { inReplyTo: t.lastFromCustomer ?? t.first, references: refs };
}

export function slaWarning(a: { caseId: number; instant: Date; to: string[]; replyTo: string; thread: CaseThread; data: SlaWarningData }): OutgoingMail<'sla-warning'> {
  return {
    causeKey: `sla-warning:${a.caseId}:${a.instant.toISOString()}`, kind: 'sla-warning', caseId: a.caseId, to: a.to,
    subject: `${a.data.case.tag} Response due ${a.data.dueLocal}: ${a.data.case.subject}`, replyTo: a.replyTo,
    ...threadOf(a.thread), autoSubmitted: 'auto-generated', data: a.data,
  };
}

export function slaBreach(a: { caseId: number; instant: Date; to: string[]; cc: string[]; replyTo: string; thread: CaseThread; data: SlaBreachData }): OutgoingMail<'sla-breach'> {
  return {
    causeKey: `sla-breach:${a.caseId}:${a.instant.toISOString()}`, kind: 'sla-breach', caseId: a.caseId, to: a.to, cc: a.cc,
    subject: `${a.data.case.tag} Response target missed (severity ${a.data.severity}): ${a.data.case.subject}`, replyTo: a.replyTo,
    ...threadOf(a.thread), autoSubmitted: 'auto-generated', data: a.data,
  };
}

export function infoReminder(a: { caseId: number; instant: Date; to: string[]; replyTo: string; thread: CaseThread; data: InfoReminderData }): OutgoingMail<'info-reminder'> {
  return {
    causeKey: `info-reminder:${a.caseId}:${a.instant.toISOString()}`, kind: 'info-reminder', caseId: a.caseId, to: a.to.slice(0, 1), cc: a.to.slice(1),
    subject: `${a.data.case.tag} ${a.data.final ? 'Last reminder' : 'Reminder'}: we need information from you`, replyTo: a.replyTo,
    ...threadOf(a.thread), autoSubmitted: 'auto-generated', data: a.data,
  };
}

export function confirmationReminder(a: { caseId: number; instant: Date; to: string[]; replyTo: string; thread: CaseThread; data: ConfirmationReminderData }): OutgoingMail<'confirmation-reminder'> {
  return {
    causeKey: `confirmation-reminder:${a.caseId}:${a.instant.toISOString()}`, kind: 'confirmation-reminder', caseId: a.caseId, to: a.to.slice(0, 1), cc: a.to.slice(1),
    subject: `${a.data.case.tag} ${a.data.final ? 'Last reminder' : 'Reminder'}: is your problem solved?`, replyTo: a.replyTo,
    ...threadOf(a.thread), autoSubmitted: 'auto-generated', data: a.data,
  };
}

export function autoCloseNotice(a: { caseId: number; instant: Date; to: string[]; replyTo: string; thread: CaseThread; data: AutoCloseNoticeData }): OutgoingMail<'auto-close-notice'> {
  return {
    causeKey: `auto-close:${a.caseId}:${a.instant.toISOString()}`, kind: 'auto-close-notice', caseId: a.caseId, to: a.to.slice(0, 1), cc: a.to.slice(1),
    subject: `${a.data.case.tag} Case closed: ${a.data.case.subject}`, replyTo: a.replyTo,
    ...threadOf(a.thread), autoSubmitted: 'auto-generated', data: a.data,
  };
}

// ---------------------------------------------------------------- escalations (spec section 7)

/** One notice per escalation message: a repeated escalation notifies again (its own cause key). */
export function escalationNotice(a: { messageRowId: number; caseId: number | null; to: string[]; replyTo: string | null; data: EscalationNoticeData }): OutgoingMail<'escalation-notice'> {
  const d = a.data;
  const subject = d.case
    ? `${d.case.tag} Escalated${d.times > 1 ? ` (${d.times} times)` : ''}: ${d.case.subject}`
    : `Unmatched escalation from ${d.from.address}: ${d.subject || '(no subject)'}`;
  return {
    causeKey: `escalation:${a.messageRowId}`, kind: 'escalation-notice', caseId: a.caseId, to: a.to.slice(0, 1), cc: a.to.slice(1),
    subject, replyTo: a.replyTo, autoSubmitted: 'auto-generated', data: d,
  };
}

/**
 * The sender's receipt. Asking for the case number happens once per sender per day (the cause key
 * carries the day, like the not-entitled notice); a receipt for a found case once per message.
 */
export function escalationReceipt(a: { now: Date; messageRowId: number; caseId: number | null; to: string; answering: Answering; subject: string; data: EscalationReceiptData }): OutgoingMail<'escalation-receipt'> {
  const d = a.data;
  const causeKey = d.outcome === 'need-number'
    ? `escalation-ask:${a.to}:${a.now.toISOString().slice(0, 10)}`
    : `escalation-receipt:${a.messageRowId}`;
  // Only a sender on the case sees its tag and subject; anyone else sees their own subject back.
  const subject = d.outcome === 'case' && d.case ? `${d.case.tag} Escalation received: ${d.case.subject}` : `Re: ${a.subject || 'your escalation'}`;
  return {
    causeKey, kind: 'escalation-receipt', caseId: d.outcome === 'case' ? a.caseId : null, to: [a.to], subject,
    ...threadingFor(a.answering), autoSubmitted: 'auto-replied', data: d,
  };
}

// ---------------------------------------------------------------- organisation admins (spec section 8)

/** The digest answers one command message (no case: it is about all of them). */
export function orgDigest(a: { messageRowId: number; to: string; answering: Answering; data: OrgDigestData }): OutgoingMail<'org-digest'> {
  const n = a.data.cases.length + a.data.more;
  return {
    causeKey: `org-digest:${a.messageRowId}`, kind: 'org-digest', caseId: null, to: [a.to],
    subject: `Open cases of ${a.data.organisation}: ${n === 0 ? 'none' : n}`,
    ...threadingFor(a.answering), autoSubmitted: 'auto-replied', data: a.data,
  };
}

export function adminCommandResult(a: { messageRowId: number; to: string; answering: Answering; subject: string; data: AdminCommandResultData }): OutgoingMail<'admin-command-result'> {
  const d = a.data;
  const what = d.outcome === 'refused' ? 'refused' : d.outcome === 'contacts' ? 'contacts' : 'licenses';
  return {
    causeKey: `admin-command:${a.messageRowId}`, kind: 'admin-command-result', caseId: null, to: [a.to],
    subject: `Re: ${a.subject || d.command}${what === 'refused' ? ' (refused)' : ''}`,
    ...threadingFor(a.answering), autoSubmitted: 'auto-replied', data: d,
  };
}

export function caseSummary(settings: CasemailSettings, c: { number: number; subject: string }): CaseSummary {
  return { number: c.number, tag: `[${settings.caseNumber.prefix} #${c.number}]`, subject: c.subject };
}
