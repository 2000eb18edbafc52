// A new request from an entitled contact (spec sections 3.6 and 4): one case per issue found
// (within the caps), each with its own severity and response deadline, the requester and CC'd
// colleagues as participants, siblings linked, an assignee by the configured rule, an
// acknowledgement per case and a notification to the assignee (or the queue). Pure.
import { acknowledgement, newCaseNotification } from '../../notify/compose.js';
import { formatLocal } from '../../calendar/business-calendar.js';
import { formatTarget } from '../../calendar/time-words.js';
import { describeHits, planNewCases, type CasePlan } from '../../threading/intake-limits.js';
import { suggestSeverity } from '../../threading/severity.js';
import type { Route } from '../../threading/route-message.js';
import type { Sender } from '../../directory/directory-store.js';
import { severityMeaning, slaInstants } from '../case-rules.js';
import type { IntakeFacts, NewRequestFacts } from '../intake-facts.js';
import { emptyPlan, type Plan, type PlannedCase } from '../plan.js';
import { eventAbout, listedAttachments, reachableAgain, summaryOf } from './shared.js';

type Contact = Extract<Sender, { kind: 'contact' }>;

/** Which cases this message opens: the split found, within the per-message and per-sender caps. */
export function newCaseParts(facts: IntakeFacts, activity: NewRequestFacts['activity'], previousCaseId: number | null): CasePlan {
  const u = facts.understanding;
  const subject = u.parsed.subject.trim() || '(no subject)';
  // The understanding step (in the worker) already judged each part's severity; a part the caps
  // merge is judged anew in newRequest.
  const whole = { title: subject, text: u.reply.visibleText, severity: u.severity };
  // A closed case's late follow-up is one case: it is a reply, not a list of issues.
  const found = previousCaseId === null ? u.issues : [whole];
  return planNewCases(found, whole, activity, facts.settings.limits);
}

export function newRequest(
  route: Extract<Route, { kind: 'new-request' } | { kind: 'reopen-as-new' }>, facts: IntakeFacts, more: NewRequestFacts,
  parts: CasePlan, reserved: readonly { id: number; number: number }[],
): Plan {
  const { settings, understanding: u, now } = facts;
  const sender = facts.sender as Contact;
  const previousCaseId = route.kind === 'reopen-as-new' ? route.previousCaseId : null;
  const subject = u.parsed.subject.trim() || '(no subject)';
  const split = parts.parts.length > 1;
  const group = split ? `split:${u.parsed.messageId ?? `${u.parsed.subject}:${u.parsed.date?.toISOString() ?? ''}`.slice(0, 100)}` : null;

  const cases: (PlannedCase & { text: string })[] = parts.parts.map((part, i) => {
    const sev = part.severity ?? suggestSeverity(part.title, part.text);
    const sla = slaInstants(settings, sev.suggested, now);
    return {
      ...reserved[i]!, organisationId: sender.organisationId, requesterContactId: sender.id,
      subject: (split ? part.title : subject).slice(0, 500), severity: sev.suggested,
      severitySource: sev.reasons.includes('default') ? 'default' : 'suggested', severityReasons: sev.reasons,
      openedAt: now, firstResponseDueAt: sla.due, slaWarningDueAt: sla.warnAt, splitGroup: group,
      assigneeEngineerId: more.assignee?.id ?? null, text: part.text,
    };
  });
  const limitNote = describeHits(parts.hits);
  const plan = emptyPlan({ status: 'processed', caseId: cases[0]?.id ?? null, reason: limitNote }, cases.map((c) => c.number));
  plan.openCases = cases.map(({ text: _text, ...c }) => c);
  if (more.assignee?.turnTaken) plan.assignedEngineers.push(more.assignee.id);
  reachableAgain(plan, facts, cases.map((c) => c.id));

  const people = [
    // The sender just wrote: a bouncing mark on their address is cleared by this plan (reachableAgain).
    { address: sender.address, contactId: sender.id, role: 'requester' as const, bouncing: false },
    ...more.cc.map((k) => ({ address: k.address, contactId: k.id, role: 'cc' as const, bouncing: k.bouncing })),
  ];
  for (const c of cases) {
    for (const p of people) plan.participants.push({ caseId: c.id, address: p.address, contactId: p.contactId, role: p.role });
    for (const o of cases) if (o.id !== c.id) plan.links.push({ caseId: c.id, linkedCaseId: o.id, kind: 'split_sibling' });
    if (previousCaseId !== null) plan.links.push({ caseId: c.id, linkedCaseId: previousCaseId, kind: 'reopened_from' });
  }
  // `acknowledged` on case_opened is what the per-sender acknowledgement cap counts.
  cases.forEach((c, i) => {
    plan.events.push(eventAbout(facts, c.id, 'case_opened', {
      severity: c.severity, severitySource: c.severitySource, split, acknowledged: parts.acknowledge[i] === true,
      assignee: more.assignee?.address ?? null,
    }));
    if (parts.hits.length) plan.events.push(eventAbout(facts, c.id, 'intake_limit_reached', { limits: parts.hits }));
    if (previousCaseId !== null) plan.events.push(eventAbout(facts, previousCaseId, 'follow_up_opened_new_case', { newCase: c.number }));
  });

  // A recipient whose mail bounces permanently is not written to again.
  const to = people.filter((p) => !p.bouncing).map((p) => p.address);
  const watchers = more.assignee ? [more.assignee.address] : more.unassignedNotify;
  const summaries = cases.map((c) => summaryOf(facts, c));
  const attachments = listedAttachments(facts);
  cases.forEach((c, i) => {
    const summary = summaries[i]!;
    const siblings = summaries.filter((_, j) => j !== i);
    if (to.length > 0 && parts.acknowledge[i] !== false) {
      plan.mails.push(acknowledgement({
        messageRowId: facts.messageRowId, caseId: c.id, to, answering: u.parsed, replyTo: facts.replyAddress(c.number),
        data: {
          case: summary, requesterName: sender.name || sender.address, severity: c.severity, severityMeaning: severityMeaning(c.severity),
          targetResponseLocal: formatLocal(c.firstResponseDueAt, sender.organisationTimeZone), targetDuration: formatTarget(settings.severities[c.severity]), siblings,
          supportAddress: settings.addresses.support, escalationAddress: settings.addresses.escalation,
        },
      }));
    }
    if (watchers.length > 0) {
      plan.mails.push(newCaseNotification({
        caseId: c.id, to: watchers, replyTo: facts.replyAddress(c.number),
        data: {
          case: summary, severity: c.severity, requester: { name: sender.name, address: sender.address }, organisation: sender.organisationName,
          targetResponseLocal: formatLocal(c.firstResponseDueAt, settings.calendar.timeZone), targetDuration: formatTarget(settings.severities[c.severity]), text: c.text, attachments, siblings,
        },
      }));
    }
  });
  return plan;
}
