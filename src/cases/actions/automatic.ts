// Mail that opens nothing and answers nobody: our own mail coming back, and automatic mail
// (attached to its case only when its sender may write there or it reports on our mail). Pure.
import { addressesToMarkBouncing } from '../../threading/bounce-trust.js';
import type { Route } from '../../threading/route-message.js';
import type { IntakeFacts } from '../intake-facts.js';
import { emptyPlan, type Plan } from '../plan.js';
import { eventAbout } from './shared.js';

export function ignoreLoop(_route: Extract<Route, { kind: 'ignore-loop' }>, _facts: IntakeFacts): Plan {
  return emptyPlan({ status: 'ignored', caseId: null, reason: 'our own mail (loop)' });
}

export function automaticMail(route: Extract<Route, { kind: 'automatic' }>, facts: IntakeFacts): Plan {
  const auto = facts.understanding.classify;
  const reason = route.refusedCaseId ? `automatic: ${auto.kind}; sender not allowed on the case it refers to` : `automatic: ${auto.kind}`;
  const numbers = route.caseId && facts.referenced ? [facts.referenced.number] : [];
  const plan = emptyPlan({ status: route.caseId ? 'processed' : 'ignored', caseId: route.caseId, reason }, numbers);
  if (route.caseId) plan.events.push(eventAbout(facts, route.caseId, 'automatic_mail_attached', { kind: auto.kind, reasons: auto.reasons }));
  if (route.refusedCaseId) plan.events.push(eventAbout(facts, route.refusedCaseId, 'automatic_mail_not_attached', { kind: auto.kind, reason: 'not_allowed_on_case' }));
  const bouncing = addressesToMarkBouncing(auto.bounce, facts.ourMail);
  if (bouncing.length) plan.markBouncing = { addresses: bouncing, reason: (auto.bounce?.statuses ?? []).join(', ') || 'permanent bounce' };
  return plan;
}
