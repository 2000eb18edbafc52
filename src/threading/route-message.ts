// The intake's decision for one message (spec section 3), from facts gathered beforehand:
// its automatic-mail classification, where it was addressed, who sent it and which case it
// refers to. Pure: the caller looks things up, this decides, the transaction acts.
import type { AutomaticClassification } from './automatic.js';

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
  /** How it was found: 'headers' (In-Reply-To/References) or 'subject' (case tag). */
  via: 'headers' | 'subject';
  /** Is the sender already a participant of that case? */
  senderIsParticipant: boolean;
}

export interface RouteFacts {
  auto: AutomaticClassification;
  /** Every recipient address of the message (To, Cc, Delivered-To, X-Original-To, Envelope-To, RCPT TO), lower-cased. */
  recipients: readonly string[];
  escalationAddress: string;
  sender: SenderFacts;
  referenced: ReferencedCase | null;
  reopenWindowDays: number;
  now: Date;
}

export type HoldReason = 'no_contract' | 'inactive_contact' | 'unknown_sender' | 'not_allowed_on_case' | 'inactive_engineer' | 'engineer_without_case' | 'escalation';

export type Route =
  | { kind: 'ignore-loop' }
  | { kind: 'automatic'; caseId: number | null }
  | { kind: 'escalation'; caseId: number | null }
  | { kind: 'engineer'; caseId: number }
  | { kind: 'follow-up'; caseId: number; addParticipant: boolean; reopen: boolean }
  | { kind: 'reopen-as-new'; previousCaseId: number }
  | { kind: 'new-request' }
  | { kind: 'hold'; reason: HoldReason; caseId: number | null; notifySender: boolean; notifyAssignee: boolean };

const DAY_MS = 24 * 60 * 60 * 1000;

export function routeMessage(f: RouteFacts): Route {
  if (f.auto.kind === 'loop') return { kind: 'ignore-loop' };
  if (f.auto.automated) return { kind: 'automatic', caseId: f.referenced?.caseId ?? null };

  if (f.recipients.includes(f.escalationAddress)) return { kind: 'escalation', caseId: f.referenced?.caseId ?? null };

  if (f.sender.kind === 'engineer') {
    if (!f.sender.active) return { kind: 'hold', reason: 'inactive_engineer', caseId: f.referenced?.caseId ?? null, notifySender: false, notifyAssignee: false };
    if (f.referenced) return { kind: 'engineer', caseId: f.referenced.caseId };
    return { kind: 'hold', reason: 'engineer_without_case', caseId: null, notifySender: false, notifyAssignee: false };
  }

  if (f.referenced) {
    const r = f.referenced;
    const sameOrganisation = f.sender.kind === 'contact' && f.sender.organisationId === r.organisationId && f.sender.active;
    const allowed = r.senderIsParticipant || sameOrganisation;
    if (!allowed) {
      // A copied case number is not a key: hold, tell the assignee, answer nobody.
      return { kind: 'hold', reason: 'not_allowed_on_case', caseId: r.caseId, notifySender: false, notifyAssignee: true };
    }
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
  return holdNotEntitled(f.sender, null);
}

function holdNotEntitled(sender: SenderFacts, caseId: number | null): Route {
  const reason: HoldReason = sender.kind === 'unknown' ? 'unknown_sender' : sender.kind === 'contact' && !sender.active ? 'inactive_contact' : 'no_contract';
  return { kind: 'hold', reason, caseId, notifySender: true, notifyAssignee: false };
}
