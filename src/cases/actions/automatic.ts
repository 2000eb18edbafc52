// Mail that opens nothing and answers nobody: our own mail coming back, and automatic mail
// (attached to its case only when its sender may write there or it reports on our mail). A
// permanent bounce of our mail marks the address and tells the assignee of each case it is a
// customer on. Pure.
import { customerUnreachable } from '../../notify/compose.js';
import { addressesToMarkBouncing } from '../../threading/bounce-trust.js';
import type { Route } from '../../threading/route-message.js';
import type { CaseFacts, IntakeFacts } from '../intake-facts.js';
import { emptyPlan, type Plan } from '../plan.js';
import { caseWatchers, eventAbout, summaryOf } from './shared.js';

export function ignoreLoop(_route: Extract<Route, { kind: 'ignore-loop' }>, _facts: IntakeFacts): Plan {
  return emptyPlan({ status: 'ignored', caseId: null, reason: 'our own mail (loop)' });
}

/** What a permanent bounce of our mail needs besides the common facts (decide.ts gathers them). */
export interface BounceFacts {
  /** The case the bounced mail was about and every other not-closed case with a bounced address as a customer participant. */
  cases: CaseFacts[];
  /** Who hears of an unassigned case's news. */
  unassigned: string[];
}

/** The addresses a permanent bounce of our mail marks as bouncing (pure: the report and our outbox rows it names). */
export function bouncedAddresses(facts: IntakeFacts): string[] {
  return addressesToMarkBouncing(facts.understanding.classify.bounce, facts.ourMail);
}

export function automaticMail(route: Extract<Route, { kind: 'automatic' }>, facts: IntakeFacts, more: BounceFacts = { cases: [], unassigned: [] }): Plan {
  const auto = facts.understanding.classify;
  const reason = route.refusedCaseId ? `automatic: ${auto.kind}; sender not allowed on the case it refers to` : `automatic: ${auto.kind}`;
  const numbers = route.caseId && facts.referenced ? [facts.referenced.number] : [];
  const plan = emptyPlan({ status: route.caseId ? 'processed' : 'ignored', caseId: route.caseId, reason }, numbers);
  if (route.caseId) plan.events.push(eventAbout(facts, route.caseId, 'automatic_mail_attached', { kind: auto.kind, reasons: auto.reasons }));
  if (route.refusedCaseId) plan.events.push(eventAbout(facts, route.refusedCaseId, 'automatic_mail_not_attached', { kind: auto.kind, reason: 'not_allowed_on_case' }));
  const bouncing = bouncedAddresses(facts);
  if (bouncing.length === 0) return plan;
  const bounceReason = (auto.bounce?.statuses ?? []).join(', ') || 'permanent bounce';
  plan.markBouncing = { addresses: bouncing, reason: bounceReason };
  customerUnreachableNotices(plan, facts, more, bouncing, bounceReason);
  return plan;
}

/**
 * Spec 3 and issue 9 part 5: each case a bounced address is a customer on (and the case the
 * bounced mail was about) records that the customer cannot be reached, and its assignee is told.
 */
function customerUnreachableNotices(plan: Plan, facts: IntakeFacts, more: BounceFacts, bouncing: readonly string[], reason: string): void {
  const gone = new Set(bouncing);
  for (const c of more.cases) {
    const aboutThisCase = new Set(facts.ourMail.filter((m) => m.caseId === c.id).flatMap((m) => m.recipients.map((r) => r.toLowerCase())));
    const addresses = bouncing.filter((a) => aboutThisCase.has(a) || c.participants.some((p) => p.address === a));
    if (addresses.length === 0) continue;
    const reachable = c.participants.filter((p) => !p.bouncing && !gone.has(p.address)).map((p) => p.address);
    const to = caseWatchers(c, more.unassigned);
    for (const address of addresses) {
      plan.events.push(eventAbout(facts, c.id, 'customer_unreachable', { address, reason }));
      if (to.length === 0) continue;
      plan.mails.push(customerUnreachable({
        bounceRowId: facts.messageRowId, caseId: c.id, to, replyTo: facts.replyAddress(c.number),
        data: { case: summaryOf(facts, c), address, reason, reachable },
      }));
    }
  }
}

