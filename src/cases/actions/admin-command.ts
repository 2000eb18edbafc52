// An organisation admin's command by subject (spec section 8): `cases` answers with a digest of
// the organisation's open cases, `add contact` adds the body's contacts (a result per line) and
// `licenses` lists the contracts with days left. None opens a case. A From line is not enough:
// an upstream Authentication-Results header from the configured authserv-id must show a DKIM,
// SPF or DMARC pass for the sender's domain; otherwise the message is held
// (`admin_unauthenticated`) and the sender told what was missing. Pure; facts from
// gatherAdminCommandFacts.
import { formatLocal } from '../../calendar/business-calendar.js';
import { formatDuration } from '../../calendar/time-words.js';
import { adminCommandResult, orgDigest } from '../../notify/compose.js';
import type { AdminCommandResultData, ContactLineResult, OrgDigestCase } from '../../notify/mail-kinds.js';
import type { AdminCommand } from '../../threading/admin-commands.js';
import { senderAuthentication, type SenderAuthentication } from '../../threading/auth-results.js';
import type { Route } from '../../threading/route-message.js';
import type { AdminCommandFacts, DigestCaseFacts, IntakeFacts } from '../intake-facts.js';
import { emptyPlan, type Plan, type PlannedContact } from '../plan.js';
import { eventAbout, summaryOf } from './shared.js';

const COMMAND_WORDS: Record<AdminCommand, string> = { cases: 'cases', 'add-contact': 'add contact', licenses: 'licenses' };
const DAY_MS = 24 * 60 * 60 * 1000;

/** Whether the message proves its sender's domain (the check every admin command needs first). */
export function adminAuthentication(facts: IntakeFacts): SenderAuthentication {
  return senderAuthentication(facts.understanding.parsed.headers['authentication-results'] ?? [], facts.settings.trustAuthResultsFrom, facts.fromAddress);
}

export function adminCommand(route: Extract<Route, { kind: 'admin-command' }>, facts: IntakeFacts, auth: SenderAuthentication, more: AdminCommandFacts | null): Plan {
  const { settings, understanding: u, now, sender } = facts;
  if (sender.kind !== 'contact' || !facts.fromAddress) throw new Error('admin command from someone who is not a contact');
  const command = COMMAND_WORDS[route.command];
  const zone = sender.organisationTimeZone;
  const answer = { messageRowId: facts.messageRowId, to: facts.fromAddress, answering: u.parsed };
  const base: AdminCommandResultData = {
    command, outcome: 'refused', adminName: sender.name, organisation: sender.organisationName, contacts: [], omittedLines: 0,
    licenses: [], todayLocal: `${localDate(now, zone)} (${zone})`, refusal: null, supportAddress: settings.addresses.support,
  };

  if (!auth.ok || !more) {
    const plan = emptyPlan({ status: 'held', caseId: null, reason: 'admin_unauthenticated' });
    const refusal = explainRefusal(auth);
    plan.events.push(eventAbout(facts, null, 'admin_command_refused', {
      command, problem: auth.ok ? 'no_facts' : auth.problem, authservId: auth.authservId, domain: auth.domain, seen: auth.ok ? [] : auth.seen,
    }));
    if (!facts.ownAddresses.includes(facts.fromAddress)) {
      plan.mails.push(adminCommandResult({ ...answer, subject: u.parsed.subject, data: { ...base, refusal } }));
    }
    return plan;
  }

  const plan = emptyPlan({ status: 'processed', caseId: null, reason: `admin_command: ${command}` });
  if (route.command === 'cases') {
    const cases = more.openCases.map((c) => digestLine(c, facts, zone));
    plan.mails.push(orgDigest({
      ...answer,
      data: {
        adminName: sender.name, organisation: sender.organisationName, asOfLocal: formatLocal(now, zone), cases,
        more: Math.max(0, more.openTotal - cases.length), supportAddress: settings.addresses.support,
      },
    }));
    plan.events.push(eventAbout(facts, null, 'admin_command', { command, method: auth.method, openCases: more.openTotal }));
    return plan;
  }
  if (route.command === 'licenses') {
    const today = localDate(now, zone);
    const licenses = more.contracts.map((k) => {
      const daysLeft = daysBetween(today, k.endsOn);
      return { ...k, daysLeft, remaining: remainingWords(today, k.startsOn, daysLeft) };
    });
    plan.mails.push(adminCommandResult({ ...answer, subject: u.parsed.subject, data: { ...base, outcome: 'licenses', licenses } }));
    plan.events.push(eventAbout(facts, null, 'admin_command', { command, method: auth.method, contracts: licenses.length }));
    return plan;
  }

  const added: PlannedContact[] = [];
  const contacts = more.lines.map((l): { line: string; result: ContactLineResult } => {
    const a = l.address;
    let result: ContactLineResult;
    if (a === null) result = 'invalid address';
    else if (facts.ownAddresses.includes(a) || more.known.get(a)?.kind === 'engineer') result = 'not available';
    else if (added.some((x) => x.address === a)) result = 'already a contact';
    else {
      const known = more.known.get(a);
      if (!known) {
        added.push({ organisationId: sender.organisationId, address: a, name: l.name });
        result = 'added';
      } else {
        result = known.organisationId === sender.organisationId ? 'already a contact' : 'belongs to another organisation';
      }
    }
    return { line: l.line, result };
  });
  if (added.length) plan.addContacts = added;
  plan.mails.push(adminCommandResult({ ...answer, subject: u.parsed.subject, data: { ...base, outcome: 'contacts', contacts, omittedLines: more.omittedLines } }));
  plan.events.push(eventAbout(facts, null, 'admin_command', {
    command, method: auth.method, added: added.map((x) => x.address), refused: contacts.filter((c) => c.result !== 'added').length,
  }));
  return plan;
}

function digestLine(c: DigestCaseFacts, facts: IntakeFacts, zone: string): OrgDigestCase {
  const now = facts.now;
  return {
    case: summaryOf(facts, c), severity: c.severity, state: c.state, requester: c.requester,
    age: formatDuration(now.getTime() - c.openedAt.getTime()), nextDeadline: nextDeadline(c, now, zone),
  };
}

/** The earliest deadline still running: the first response (while nobody has answered) or the automatic close. */
export function nextDeadline(c: Pick<DigestCaseFacts, 'firstResponseAt' | 'firstResponseDueAt' | 'autoCloseAt'>, now: Date, zone: string): string | null {
  const candidates: { at: Date; words: string }[] = [];
  if (c.firstResponseAt === null) {
    candidates.push({
      at: c.firstResponseDueAt,
      words: c.firstResponseDueAt.getTime() <= now.getTime()
        ? `first response overdue since ${formatLocal(c.firstResponseDueAt, zone)}`
        : `first response due by ${formatLocal(c.firstResponseDueAt, zone)}`,
    });
  }
  if (c.autoCloseAt) candidates.push({ at: c.autoCloseAt, words: `closes automatically on ${formatLocal(c.autoCloseAt, zone)} without your reply` });
  candidates.sort((a, b) => a.at.getTime() - b.at.getTime());
  return candidates[0]?.words ?? null;
}

function explainRefusal(auth: SenderAuthentication): NonNullable<AdminCommandResultData['refusal']> {
  if (auth.ok) return { reason: 'the command could not be read', missing: 'nothing you can add; please write to us', seen: [] };
  const domain = auth.domain ?? 'your domain';
  switch (auth.problem) {
    case 'not_configured':
      return {
        reason: 'admin commands need proof that the message comes from your domain, and this service is not set up to check it: '
          + 'no mail server is configured whose Authentication-Results header it trusts (setting trustAuthResultsFrom).',
        missing: 'the service\'s configuration; your support contact can set it up; until then, write to us as an ordinary message',
        seen: [],
      };
    case 'no_sender':
      return { reason: 'the message has no sender address to check.', missing: 'a From address of your organisation', seen: [] };
    case 'no_trusted_header':
      return {
        reason: `the message carries no Authentication-Results header from ${auth.authservId}, the mail server we trust to check senders.`,
        missing: `a DKIM, SPF or DMARC result for ${domain} recorded by ${auth.authservId}; send the command from your usual mail account so it reaches us through that server`,
        seen: [],
      };
    case 'no_pass':
      return {
        reason: `neither DKIM, SPF nor DMARC passed for ${domain} at ${auth.authservId}.`,
        missing: `a DKIM signature of ${domain}, an SPF pass for a ${domain} envelope sender, or a DMARC pass for ${domain}; your mail administrator can set these up`,
        seen: auth.seen,
      };
  }
}

/** The calendar date of `at` in `zone`, as YYYY-MM-DD. */
export function localDate(at: Date, zone: string): string {
  const p = Object.fromEntries(new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' })
    .formatToParts(at).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day}`;
}

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS);
}

function days(n: number): string {
  return `${n} day${n === 1 ? '' : 's'}`;
}

/** The end date counts as covered: on it, "last day today". */
function remainingWords(today: string, startsOn: string, daysLeft: number): string {
  if (today < startsOn) return `starts in ${days(daysBetween(today, startsOn))}`;
  if (daysLeft > 0) return `${days(daysLeft)} left`;
  if (daysLeft === 0) return 'last day today';
  return `ended ${days(-daysLeft)} ago`;
}
