// Mail to the escalation address (spec section 7): the case it names is marked escalated (first
// time kept, each escalation an event), the supervisors get a notice with the case's SLA state and
// latest messages, and the sender a receipt — naming the case only to someone on it. Unmatched
// escalations reach the supervisors too; the sender is asked for the case number once a day.
// Any sender may escalate: entitlement is not asked. Pure; facts come from gatherEscalationFacts.
import { formatLocal } from '../../calendar/business-calendar.js';
import { formatDuration, formatTarget } from '../../calendar/time-words.js';
import { escalationNotice, escalationReceipt } from '../../notify/compose.js';
import type { EscalationSlaData, MessageExcerpt } from '../../notify/mail-kinds.js';
import type { Route } from '../../threading/route-message.js';
import type { CaseMessageFacts, EscalatedCaseFacts, EscalationFacts, IntakeFacts } from '../intake-facts.js';
import { emptyPlan, type Plan } from '../plan.js';
import { eventAbout, summaryOf } from './shared.js';

/** The escalation's text as events store it: enough to read, not a 14 MB paste. */
export const MAX_ESCALATION_TEXT_CHARS = 4000;
const EXCERPT_LINES = 4;
const EXCERPT_CHARS = 400;

export type SenderRelation = 'participant' | 'organisation' | 'engineer' | 'stranger';

export function escalation(_route: Extract<Route, { kind: 'escalation' }>, facts: IntakeFacts, more: EscalationFacts): Plan {
  const { settings, understanding: u, now } = facts;
  const c = more.case;
  const from = facts.fromAddress;
  const text = u.reply.visibleText.trim().slice(0, MAX_ESCALATION_TEXT_CHARS);
  const zone = settings.calendar.timeZone;
  const relation = c ? relationTo(c, facts) : 'stranger';
  const plan = emptyPlan({ status: 'processed', caseId: c?.id ?? null, reason: c ? 'escalation' : 'escalation: unmatched' }, c ? [c.number] : []);
  const times = c ? c.previousEscalations + 1 : 0;
  const firstAt = c ? (c.escalatedAt ?? now) : null;
  if (c) {
    plan.caseUpdates.push({ caseId: c.id, escalatedAt: now });
    plan.events.push(eventAbout(facts, c.id, 'escalated', {
      at: now.toISOString(), by: from ?? 'unknown', relation, via: c.via, times, subject: u.parsed.subject.slice(0, 500), text,
    }));
  } else {
    plan.events.push(eventAbout(facts, null, 'escalation_unmatched', { at: now.toISOString(), by: from ?? 'unknown', numbers: more.unmatchedNumbers }));
  }

  // Supervisors first; with none, whoever looks after the case (or the queue).
  const watchers = c?.assignee?.active ? [c.assignee.address] : more.unassigned;
  const to = more.supervisors.length ? more.supervisors : watchers;
  if (to.length) {
    plan.mails.push(escalationNotice({
      messageRowId: facts.messageRowId, caseId: c?.id ?? null, to, replyTo: c ? facts.replyAddress(c.number) : null,
      data: {
        case: c ? summaryOf(facts, c) : null,
        from: { name: u.parsed.from?.name ?? '', address: from ?? '(no sender)' },
        senderRelation: c ? relation : 'unknown', subject: u.parsed.subject, text, receivedLocal: formatLocal(now, zone),
        times, firstLocal: firstAt ? formatLocal(firstAt, zone) : null,
        sla: c ? slaOf(c, facts) : null,
        lastCustomer: excerptOf(c?.lastCustomer ?? null, zone), lastEngineer: excerptOf(c?.lastEngineer ?? null, zone),
        unmatchedNumbers: more.unmatchedNumbers, escalationAddress: settings.addresses.escalation,
      },
    }));
  }

  // Automatic mail never reaches this route (routeMessage); our own addresses are not answered.
  if (from && !facts.ownAddresses.includes(from)) {
    const outcome = !c ? 'need-number' : relation === 'stranger' ? 'received' : 'case';
    plan.mails.push(escalationReceipt({
      now, messageRowId: facts.messageRowId, caseId: c?.id ?? null, to: from, answering: u.parsed, subject: u.parsed.subject,
      data: {
        outcome, case: outcome === 'case' && c ? summaryOf(facts, c) : null, state: outcome === 'case' && c ? c.state : null,
        senderName: senderName(facts), supportAddress: settings.addresses.support, escalationAddress: settings.addresses.escalation,
      },
    }));
  }
  return plan;
}

function relationTo(c: EscalatedCaseFacts, facts: IntakeFacts): SenderRelation {
  const s = facts.sender;
  if (s.kind === 'engineer') return 'engineer';
  if (facts.fromAddress && c.participants.some((p) => p.address === facts.fromAddress)) return 'participant';
  if (s.kind === 'contact' && s.organisationId === c.organisationId) return 'organisation';
  return 'stranger';
}

function senderName(facts: IntakeFacts): string {
  const s = facts.sender;
  return s.kind === 'unknown' ? (facts.understanding.parsed.from?.name ?? '') : s.name;
}

function slaOf(c: EscalatedCaseFacts, facts: IntakeFacts): EscalationSlaData {
  const { settings, now } = facts;
  const zone = settings.calendar.timeZone;
  const left = c.firstResponseDueAt.getTime() - now.getTime();
  const unanswered = c.firstResponseAt === null && c.state !== 'closed';
  return {
    severity: c.severity, state: c.state, organisation: c.organisationName, requester: c.requester ?? { name: '', address: '' },
    openedLocal: formatLocal(c.openedAt, zone), target: formatTarget(settings.severities[c.severity]), dueLocal: formatLocal(c.firstResponseDueAt, zone),
    respondedLocal: c.firstResponseAt ? formatLocal(c.firstResponseAt, zone) : null,
    timeLeft: unanswered && left > 0 ? formatDuration(left) : null,
    overdueBy: unanswered && left <= 0 ? formatDuration(-left) : null,
    assignee: c.assignee?.active ? c.assignee.name : null,
  };
}

/** The first few non-empty lines of a message's new text. */
export function excerptOf(m: CaseMessageFacts | null, zone: string): MessageExcerpt | null {
  if (!m) return null;
  const lines = m.text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).slice(0, EXCERPT_LINES).join(' ');
  const excerpt = lines.length > EXCERPT_CHARS ? `${lines.slice(0, EXCERPT_CHARS).trimEnd()}…` : lines;
  return { from: m.from, dateLocal: formatLocal(m.receivedAt, zone), excerpt: excerpt || '(no text)' };
}
