// A message kept but not acted on (spec 3.5 and 3.7): held with its reason; the sender gets the
// not-entitled notice when that applies (never for automatic mail, nor for mail our trusted
// server says failed authentication for the sender's domain: backscatter), and the case's assignee
// hears of a stranger's message on the case. Pure.
import { heldNotice, notEntitled } from '../../notify/compose.js';
import { senderAuthenticationFailed } from '../../threading/auth-results.js';
import type { Route } from '../../threading/route-message.js';
import type { IntakeFacts } from '../intake-facts.js';
import { emptyPlan, type Plan } from '../plan.js';
import { caseWatchers, eventAbout, summaryOf } from './shared.js';

export interface HoldFacts {
  /** Who hears of an unassigned case's held mail. */
  unassigned: string[];
}

export function hold(route: Extract<Route, { kind: 'hold' }>, facts: IntakeFacts, more: HoldFacts): Plan {
  const { settings, understanding: u } = facts;
  const c = route.caseId !== null && facts.referenced?.id === route.caseId ? facts.referenced : null;
  const plan = emptyPlan({ status: 'held', caseId: route.caseId, reason: route.reason }, c ? [c.number] : []);
  if (route.caseId) plan.events.push(eventAbout(facts, route.caseId, 'message_held', { reason: route.reason }));
  const from = facts.fromAddress;
  const forged = senderAuthenticationFailed(u.parsed.headers['authentication-results'] ?? [], settings.trustAuthResultsFrom, from);
  if (route.notifySender && from && !u.classify.automated && !facts.ownAddresses.includes(from) && !forged) {
    plan.mails.push(notEntitled({
      now: facts.now, answering: u.parsed, subject: u.parsed.subject,
      data: { reason: route.notifySender, senderAddress: from, supportAddress: settings.addresses.support },
    }));
  }
  if (route.notifyAssignee && c) {
    const to = caseWatchers(c, more.unassigned);
    if (to.length) {
      plan.mails.push(heldNotice({
        messageRowId: facts.messageRowId, caseId: c.id, to,
        data: { case: summaryOf(facts, c), sender: from ?? '(no sender)', subject: u.parsed.subject, reason: route.reason },
      }));
    }
  }
  return plan;
}
