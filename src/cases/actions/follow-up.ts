// A customer's reply on a case (spec sections 2 and 3.5): stored on the case, the sender and CC'd
// colleagues of the organisation become participants, the state machine takes the reply (a close
// phrase closes; a waiting state or a recently closed case opens again, its timers cleared), and
// the assignee (or the queue) gets the new text. Pure.
import { customerReplyNotification } from '../../notify/compose.js';
import type { Route } from '../../threading/route-message.js';
import { isClosePhrase } from '../../threading/message-facts.js';
import { calendarOf, transition } from '../case-rules.js';
import type { IntakeFacts } from '../intake-facts.js';
import { emptyPlan, type Plan } from '../plan.js';
import { caseWatchers, eventAbout, listedAttachments, reachableAgain, summaryOf } from './shared.js';

export interface FollowUpFacts {
  /** CC'd entitled contacts of the case's organisation. */
  cc: { id: number; address: string }[];
  unassigned: string[];
}

export function followUp(route: Extract<Route, { kind: 'follow-up' }>, facts: IntakeFacts, more: FollowUpFacts): Plan {
  const c = facts.referenced!;
  const { settings, understanding: u, sender } = facts;
  const text = u.reply.visibleText;
  const plan = emptyPlan({ status: 'processed', caseId: c.id, reason: null }, [c.number]);
  if (route.addParticipant && facts.fromAddress && sender.kind === 'contact') {
    plan.participants.push({ caseId: c.id, address: facts.fromAddress, contactId: sender.id, role: 'organisation' });
  }
  for (const k of more.cc) plan.participants.push({ caseId: c.id, address: k.address, contactId: k.id, role: 'cc' });
  reachableAgain(plan, facts, [c.id]);

  const t = transition(c.state, { kind: 'customer-replied', confirms: isClosePhrase(text, settings.closePhrases) }, facts.now, calendarOf(settings), settings.timers);
  if (!t.ok) throw new Error(`customer reply refused by the state machine: ${t.problem}`);
  plan.caseUpdates.push({ caseId: c.id, ...(t.change ? { state: t.change } : {}) });
  plan.events.push(eventAbout(facts, c.id, t.eventKind, t.change ? { from: c.state, to: t.change.state, ...(t.change.closeReason ? { reason: t.change.closeReason } : {}) } : { state: c.state }));

  const to = caseWatchers(c, more.unassigned);
  if (to.length) {
    plan.mails.push(customerReplyNotification({
      messageRowId: facts.messageRowId, caseId: c.id, to, replyTo: facts.replyAddress(c.number), answering: u.parsed,
      data: {
        case: summaryOf(facts, c), from: { name: u.parsed.from?.name ?? '', address: facts.fromAddress ?? '' },
        state: t.change?.state ?? c.state, text, attachments: listedAttachments(facts), reopened: t.change !== null && t.change.state === 'open',
      },
    }));
  }
  return plan;
}
