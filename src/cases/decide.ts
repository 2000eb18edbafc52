// From a route to a plan: per route kind, the facts that route needs besides the common ones
// (gathered here, once) and the pure action that decides. A new route kind is a new entry.
import type { Trx } from '../db/database.js';
import type { Route } from '../threading/route-message.js';
import { parseEngineerCommands } from '../threading/engineer-commands.js';
import { relayHtml } from '../notify/relay-html.js';
import {
  adminAuthentication, adminCommand, automaticMail, bouncedAddresses, engineerMail, escalation, followUp, hold, ignoreLoop, newCaseParts, newRequest, type EngineerFacts,
} from './actions/index.js';
import {
  casesReachedBy, ccContacts, findCaseByNumber, findEngineer, gatherAdminCommandFacts, gatherEscalationFacts, gatherNewRequestFacts, reserveCases, unassignedRecipients, type IntakeFacts,
} from './intake-facts.js';
import type { Plan } from './plan.js';
import { MAX_DIGEST_CASES } from '../notify/mail-bounds.js';

type Decider<K extends Route['kind']> = (trx: Trx, route: Extract<Route, { kind: K }>, facts: IntakeFacts) => Promise<Plan>;

const DECIDERS: { [K in Route['kind']]: Decider<K> } = {
  'ignore-loop': async (_trx, route, facts) => ignoreLoop(route, facts),
  automatic: async (trx, route, facts) => {
    const bounced = bouncedAddresses(facts);
    if (bounced.length === 0) return automaticMail(route, facts);
    const about = facts.ourMail.flatMap((m) => (m.caseId === null ? [] : [m.caseId]));
    const cases = await casesReachedBy(trx, bounced, about);
    const unassigned = cases.some((c) => !c.assignee?.active) ? await unassignedRecipients(trx, facts.settings) : [];
    return automaticMail(route, facts, { cases, unassigned });
  },
  escalation: async (trx, route, facts) => escalation(route, facts, await gatherEscalationFacts(trx, facts)),
  hold: async (trx, route, facts) => hold(route, facts, { unassigned: needsWatchers(facts, route.notifyAssignee) ? await unassignedRecipients(trx, facts.settings) : [] }),
  'follow-up': async (trx, route, facts) => {
    const c = facts.referenced!;
    const [cc, unassigned] = await Promise.all([
      ccContacts(trx, facts, c.organisationId),
      needsWatchers(facts, true) ? unassignedRecipients(trx, facts.settings) : Promise.resolve([]),
    ]);
    return followUp(route, facts, { cc, unassigned });
  },
  'new-request': (trx, route, facts) => decideNewRequest(trx, route, facts),
  'reopen-as-new': (trx, route, facts) => decideNewRequest(trx, route, facts),
  engineer: async (trx, route, facts) => engineerMail(route, facts, await gatherEngineerFacts(trx, facts)),
  'admin-command': async (trx, route, facts) => {
    const sender = facts.sender;
    if (sender.kind !== 'contact') throw new Error('admin command from a non-contact');
    // Nothing about the organisation is read for a sender who has not proved the domain.
    const auth = adminAuthentication(facts);
    const more = auth.ok ? await gatherAdminCommandFacts(trx, facts, route.command, sender.organisationId, MAX_DIGEST_CASES) : null;
    return adminCommand(route, facts, auth, more);
  },
};

export function decide(trx: Trx, route: Route, facts: IntakeFacts): Promise<Plan> {
  return (DECIDERS[route.kind] as Decider<Route['kind']>)(trx, route, facts);
}

/** The unassigned-case recipients are read only when the case has no active assignee to tell. */
function needsWatchers(facts: IntakeFacts, notifies: boolean): boolean {
  return notifies && facts.referenced !== null && !facts.referenced.assignee?.active;
}

async function decideNewRequest(trx: Trx, route: Extract<Route, { kind: 'new-request' | 'reopen-as-new' }>, facts: IntakeFacts): Promise<Plan> {
  const sender = facts.sender;
  if (sender.kind !== 'contact') throw new Error('new request from a non-contact');
  // In a group the facts were read for all its messages at once (prefetchNewRequests); alone, here.
  const prefetched = facts.newRequests?.take(sender.address);
  const more = prefetched ? { ...prefetched, cc: await ccContacts(trx, facts, sender.organisationId) } : await gatherNewRequestFacts(trx, facts, sender.organisationId, sender.address);
  const parts = newCaseParts(facts, more.activity, route.kind === 'reopen-as-new' ? route.previousCaseId : null);
  const reserved = [more.firstCase, ...await reserveCases(trx, parts.parts.length - 1)];
  const plan = newRequest(route, facts, more, parts, reserved);
  facts.newRequests?.decided(sender.address, plan, facts.now);
  return plan;
}

async function gatherEngineerFacts(trx: Trx, facts: IntakeFacts): Promise<EngineerFacts> {
  const sender = facts.sender;
  if (sender.kind !== 'engineer') throw new Error('engineer mail from a non-engineer');
  const engineer = { id: sender.id, address: sender.address, name: sender.name, active: sender.active };
  const commands = parseEngineerCommands(facts.understanding.reply.visibleText);
  const list = commands.ok ? commands.commands : [];
  const assign = list.find((c) => c.kind === 'assign');
  const merge = list.find((c) => c.kind === 'merge');
  const note = list.some((c) => c.kind === 'note');
  const [assignTarget, mergeTarget] = await Promise.all([
    assign ? (assign.to === 'me' ? Promise.resolve(engineer) : findEngineer(trx, assign.to)) : Promise.resolve(null),
    merge ? findCaseByNumber(trx, merge.caseNumber) : Promise.resolve(null),
  ]);
  const html = facts.understanding.parsed.html;
  const relay = commands.ok && !note && html ? relayHtml(html, list.length) : null;
  return { engineer, commands, assignTarget, mergeTarget, relayHtml: relay };
}
