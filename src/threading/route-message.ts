// The intake's decision for one message (spec section 3), from facts gathered beforehand:
// its automatic-mail classification, where it was addressed, who sent it and which case it
// refers to. Pure: the caller looks things up, this decides, the transaction acts.
import type { AutomaticClassification } from './automatic.js';
import type { AdminCommand } from './admin-commands.js';

export type SenderFacts =
  | { kind: 'engineer'; active: boolean }
  | { kind: 'contact'; organisationId: number; admin: boolean; active: boolean; entitled: boolean }
  | { kind: 'unknown' };

export interface ReferencedCase {
  caseId: number;
  number: number;
  organisationId: number;
  state: string;
  closedAt: Date | null;
  /** How it was found: 'headers' (In-Reply-To/References), 'token' (reply-token address) or 'subject' (case tag). */
  via: 'headers' | 'token' | 'subject';
  /** Is the sender already a participant of that case? */
  senderIsParticipant: boolean;
}

export type NoticeReason = 'unknown_sender' | 'inactive_contact' | 'no_contract';

export interface RouteFacts {
  auto: AutomaticClassification;
  /** Every recipient address of the message (To, Cc, Delivered-To, X-Original-To, Envelope-To, RCPT TO), lower-cased. */
  recipients: readonly string[];
  escalationAddress: string;
  /** Further addresses that mean the escalation address (addresses.escalationAliases), lower-cased. */
  escalationAliases?: readonly string[];
  sender: SenderFacts;
  referenced: ReferencedCase | null;
  reopenWindowDays: number;
  now: Date;
  /** Why the stated sender is doubtful (several From fields or mailboxes), or null; see originator.ts. */
  doubtfulSender?: string | null;
  /** Automatic mail that refers to a mail we sent on the referenced case (original Message-ID or VERP return path). */
  refersToOurMail?: boolean;
  /** The subject carries a case tag, whether or not that case exists. */
  subjectNamesCase?: boolean;
  /** The admin command the subject names (admin-commands.ts), or null. */
  adminCommand?: AdminCommand | null;
}

export type HoldReason =
  | 'no_contract' | 'inactive_contact' | 'unknown_sender' | 'not_allowed_on_case' | 'inactive_engineer' | 'engineer_without_case' | 'escalation'
  | 'ambiguous_sender' | 'admin_unauthenticated';

export type Route =
  | { kind: 'ignore-loop' }
  /** `refusedCaseId`: the case it refers to, which its sender may not add to (stored, not attached). */
  | { kind: 'automatic'; caseId: number | null; refusedCaseId: number | null }
  | { kind: 'escalation'; caseId: number | null }
  | { kind: 'engineer'; caseId: number }
  | { kind: 'follow-up'; caseId: number; addParticipant: boolean; reopen: boolean }
  | { kind: 'reopen-as-new'; previousCaseId: number }
  | { kind: 'new-request' }
  /** An active org admin's command by subject (spec 8); authentication is the action's to check. */
  | { kind: 'admin-command'; command: AdminCommand }
  /** `notifySender`: the not-entitled notice to send the sender, if any. */
  | { kind: 'hold'; reason: HoldReason; caseId: number | null; notifySender: NoticeReason | null; notifyAssignee: boolean };

const DAY_MS = 24 * 60 * 60 * 1000;

export function routeMessage(f: RouteFacts): Route {
  if (f.auto.kind === 'loop') return { kind: 'ignore-loop' };
  // Who sent it decides everything below; when that is unclear, nothing is decided on it.
  if (f.doubtfulSender) {
    return { kind: 'hold', reason: 'ambiguous_sender', caseId: f.referenced?.caseId ?? null, notifySender: null, notifyAssignee: f.referenced !== null };
  }
  if (f.auto.automated) return routeAutomatic(f);

  if (isEscalation(f)) return { kind: 'escalation', caseId: f.referenced?.caseId ?? null };

  if (f.sender.kind === 'engineer') {
    if (!f.sender.active) return { kind: 'hold', reason: 'inactive_engineer', caseId: f.referenced?.caseId ?? null, notifySender: null, notifyAssignee: false };
    if (f.referenced) return { kind: 'engineer', caseId: f.referenced.caseId };
    return { kind: 'hold', reason: 'engineer_without_case', caseId: null, notifySender: null, notifyAssignee: false };
  }

  // A command is a subject on a fresh message: on a case's thread the same word is a reply.
  // Never a case: an admin who is not allowed to run it is refused, not given a case.
  if (f.adminCommand && !f.referenced && f.sender.kind === 'contact' && f.sender.admin && f.sender.active) {
    return { kind: 'admin-command', command: f.adminCommand };
  }

  if (f.referenced) {
    const r = f.referenced;
    if (!senderAllowedOn(r, f.sender)) return routeNotAllowed(r, f.sender);
    if (r.state === 'closed') {
      const withinWindow = r.closedAt !== null && f.now.getTime() - r.closedAt.getTime() <= f.reopenWindowDays * DAY_MS;
      if (!withinWindow) {
        if (f.sender.kind === 'contact' && f.sender.entitled) return { kind: 'reopen-as-new', previousCaseId: r.caseId };
        return holdNotEntitled(f.sender, r.caseId);
      }
      return { kind: 'follow-up', caseId: r.caseId, addParticipant: !r.senderIsParticipant, reopen: true };
    }
    return { kind: 'follow-up', caseId: r.caseId, addParticipant: !r.senderIsParticipant, reopen: false };
  }

  if (f.sender.kind === 'contact' && f.sender.entitled) return { kind: 'new-request' };
  // Someone not entitled writing to a case number that does not exist is answered as if it did:
  // not at all (spec 3.5), so the answer does not tell which numbers exist.
  if (f.subjectNamesCase) return { kind: 'hold', reason: noticeReason(f.sender), caseId: null, notifySender: null, notifyAssignee: false };
  return holdNotEntitled(f.sender, null);
}

/**
 * Addressed to the escalation address or one of its aliases by any recipient header (To, Cc,
 * Delivered-To, X-Original-To, Envelope-To) or the SMTP envelope: a Bcc shows only in the latter.
 * Any sender may escalate (spec 7), so this comes before who sent it.
 */
function isEscalation(f: RouteFacts): boolean {
  const ours = [f.escalationAddress, ...(f.escalationAliases ?? [])].map((a) => a.toLowerCase());
  return f.recipients.some((r) => ours.includes(r));
}

/** A contact on the case, an active contact of its organisation, or an active engineer. */
function senderAllowedOn(r: ReferencedCase, sender: SenderFacts): boolean {
  if (r.senderIsParticipant) return true;
  if (sender.kind === 'engineer') return sender.active;
  return sender.kind === 'contact' && sender.active && sender.organisationId === r.organisationId;
}

/**
 * Automatic mail is attached to the case it refers to only when its sender may write there, or
 * when it reports on a mail we sent on that case (a bounce of our acknowledgement, say). Anything
 * else (a stranger adding Auto-Submitted to a copied case tag) is stored but kept off the thread.
 */
function routeAutomatic(f: RouteFacts): Route {
  const r = f.referenced;
  if (!r) return { kind: 'automatic', caseId: null, refusedCaseId: null };
  if (f.refersToOurMail || senderAllowedOn(r, f.sender)) return { kind: 'automatic', caseId: r.caseId, refusedCaseId: null };
  return { kind: 'automatic', caseId: null, refusedCaseId: r.caseId };
}

/**
 * A sender who may not write on the referenced case: held on the case, not answered, the assignee
 * told (spec 3.5). The sender sees what they would see if the case did not exist, so case numbers
 * cannot be probed: an entitled contact (of another organisation) gets a new case of their own
 * when the reference was only a subject tag; anyone else hears nothing either way (see routeMessage).
 */
function routeNotAllowed(r: ReferencedCase, sender: SenderFacts): Route {
  if (r.via === 'subject' && sender.kind === 'contact' && sender.entitled) return { kind: 'new-request' };
  return { kind: 'hold', reason: 'not_allowed_on_case', caseId: r.caseId, notifySender: null, notifyAssignee: true };
}

function noticeReason(sender: SenderFacts): NoticeReason {
  return sender.kind === 'unknown' ? 'unknown_sender' : sender.kind === 'contact' && !sender.active ? 'inactive_contact' : 'no_contract';
}

function holdNotEntitled(sender: SenderFacts, caseId: number | null): Route {
  const reason = noticeReason(sender);
  return { kind: 'hold', reason, caseId, notifySender: reason, notifyAssignee: false };
}
