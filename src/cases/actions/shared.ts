// Small pure helpers the actions share: case summaries, who reads a case's mail, who hears of it,
// and a bouncing sender becoming reachable again.
import { caseSummary } from '../../notify/compose.js';
import type { CaseSummary } from '../../notify/mail-kinds.js';
import type { CaseFacts, IntakeFacts } from '../intake-facts.js';
import type { Plan, PlannedEvent } from '../plan.js';

export function summaryOf(facts: IntakeFacts, c: { number: number; subject: string }): CaseSummary {
  return caseSummary(facts.settings, c);
}

/** The case's customer participants our mail may go to (bouncing addresses are not written to again). */
export function customerRecipients(c: CaseFacts): string[] {
  return c.participants.filter((p) => !p.bouncing).map((p) => p.address);
}

/** The active assignee, else whoever hears of unassigned cases. */
export function caseWatchers(c: CaseFacts, unassigned: readonly string[]): string[] {
  return c.assignee?.active ? [c.assignee.address] : [...unassigned];
}

export function actorOf(facts: IntakeFacts): string {
  return facts.fromAddress ?? 'unknown';
}

/** An audit event about the inbound message. */
export function eventAbout(facts: IntakeFacts, caseId: number | null, kind: string, data: Record<string, unknown> = {}): PlannedEvent {
  return { caseId, actor: actorOf(facts), kind, data, aboutMessage: true };
}

/** The customer's attachments as notifications list them. */
export function listedAttachments(facts: IntakeFacts): { filename: string; size: number }[] {
  return facts.understanding.parsed.attachments.filter((a) => !a.inline).map((a) => ({ filename: a.filename ?? '(unnamed)', size: a.size }));
}

/**
 * A sender marked bouncing wrote to us (a person: automatic mail never gets here), so the address
 * works again: the plan clears the mark and each case the message writes to records it.
 */
export function reachableAgain(plan: Plan, facts: IntakeFacts, caseIds: readonly number[]): void {
  const s = facts.sender;
  if (s.kind !== 'contact' || !s.bouncing || facts.understanding.classify.automated) return;
  plan.clearBouncing = { address: s.address };
  for (const id of caseIds) plan.events.push(eventAbout(facts, id, 'customer_reachable_again', { address: s.address }));
}
