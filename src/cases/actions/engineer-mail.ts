// An engineer's mail on a case (spec section 5): commands at the top of the new text apply all
// together or not at all; the new text is relayed to the customer participants from the support
// address under the engineer's name (unless #note keeps it internal); the first relay records the
// first response and moves `new` to `open`. A bad command applies and relays nothing and gets the
// engineer a reply naming the line. The message is stored either way. Pure.
import { assignmentNotice, commandError, engineerRelay } from '../../notify/compose.js';
import { formatLocal } from '../../calendar/business-calendar.js';
import { formatTarget } from '../../calendar/time-words.js';
import { VALID_COMMANDS, type CommandParse, type EngineerCommand } from '../../threading/engineer-commands.js';
import { relayTextWithSignature } from '../../threading/relay-text.js';
import type { Route } from '../../threading/route-message.js';
import { calendarOf, slaInstants, transition, type CaseHappening } from '../case-rules.js';
import type { CaseFacts, EngineerRef, IntakeFacts } from '../intake-facts.js';
import { emptyPlan, type CaseUpdate, type Plan } from '../plan.js';
import { customerRecipients, eventAbout, summaryOf } from './shared.js';

export interface EngineerFacts {
  engineer: EngineerRef;
  commands: CommandParse;
  /** The engineer named by `#assign <address>` (or the sender for `#assign me`), if found. */
  assignTarget: EngineerRef | null;
  /** The case named by `#merge N`, if it exists. */
  mergeTarget: CaseFacts | null;
  /** The engineer's HTML cut to the new text and sanitised, or null (the relay is then text only). */
  relayHtml: string | null;
}

const STATE_COMMANDS = { 'need-info': 'need-info', resolved: 'resolved', close: 'close', open: 'open' } as const;

class Refused {
  constructor(readonly command: EngineerCommand['kind'] | null, readonly problem: string) {}
}

export function engineerMail(_route: Extract<Route, { kind: 'engineer' }>, facts: IntakeFacts, more: EngineerFacts): Plan {
  const c = facts.referenced!;
  const parse = more.commands;
  if (!parse.ok) return refuse(facts, c, more, { line: parse.line, lineNumber: parse.lineNumber, problem: parse.problem });
  try {
    return apply(facts, c, more, parse.commands, parse.body);
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    const at = err.command ? lineOf(facts.understanding.reply.visibleText, err.command) : { line: '(the reply)', lineNumber: 0 };
    return refuse(facts, c, more, { ...at, problem: err.problem });
  }
}

function apply(facts: IntakeFacts, c: CaseFacts, more: EngineerFacts, commands: readonly EngineerCommand[], body: string): Plan {
  const { settings, now, understanding: u } = facts;
  const engineer = more.engineer;
  const plan = emptyPlan({ status: 'processed', caseId: c.id, reason: null }, [c.number]);
  const update: CaseUpdate = { caseId: c.id };
  const note = commands.some((x) => x.kind === 'note');
  const text = note ? '' : relayTextWithSignature(body, u.reply.signature);
  const relay = !note && text.trim() !== '';
  let state = c.state;
  const move = (what: CaseHappening, command: EngineerCommand['kind'] | null, why: string) => {
    const t = transition(state, what, now, calendarOf(settings), settings.timers);
    if (!t.ok) throw new Refused(command, t.problem);
    if (!t.change) return;
    update.state = { ...update.state, ...t.change };
    plan.events.push(eventAbout(facts, c.id, 'state_changed', { from: state, to: t.change.state, why, ...(t.change.autoCloseAt ? { autoCloseAt: t.change.autoCloseAt.toISOString() } : {}) }));
    state = t.change.state;
  };

  if (note) plan.events.push(eventAbout(facts, c.id, 'internal_note', { text: body.slice(0, 10_000) }));
  for (const command of commands) {
    switch (command.kind) {
      case 'note':
        break;
      case 'severity': {
        const sla = slaInstants(settings, command.severity, c.openedAt);
        update.severity = { severity: command.severity, source: 'engineer', firstResponseDueAt: sla.due, slaWarningDueAt: sla.warnAt };
        plan.events.push(eventAbout(facts, c.id, 'severity_changed', { from: c.severity, to: command.severity, firstResponseDueAt: sla.due.toISOString() }));
        break;
      }
      case 'assign': {
        const target = more.assignTarget;
        if (!target || !target.active) throw new Refused('assign', `${command.to === 'me' ? engineer.address : command.to} is not an active engineer`);
        update.assigneeEngineerId = target.id;
        plan.events.push(eventAbout(facts, c.id, 'assigned', { from: c.assignee?.address ?? null, to: target.address }));
        if (target.id !== engineer.id) {
          plan.mails.push(assignmentNotice({
            messageRowId: facts.messageRowId, caseId: c.id, to: target.address, replyTo: facts.replyAddress(c.number),
            data: {
              case: summaryOf(facts, c), severity: update.severity?.severity ?? c.severity, state, assignedBy: engineer.address,
              organisation: c.organisationName, targetResponseLocal: formatLocal(update.severity?.firstResponseDueAt ?? c.firstResponseDueAt, settings.calendar.timeZone),
              targetDuration: formatTarget(settings.severities[update.severity?.severity ?? c.severity]),
            },
          }));
        }
        break;
      }
      case 'merge': {
        const into = more.mergeTarget;
        if (!into) throw new Refused('merge', `there is no case #${command.caseNumber}`);
        if (into.id === c.id) throw new Refused('merge', 'a case cannot be merged into itself');
        if (into.organisationId !== c.organisationId) throw new Refused('merge', `case #${into.number} belongs to another organisation`);
        if (into.state === 'closed') throw new Refused('merge', `case #${into.number} is closed`);
        move({ kind: 'merged' }, 'merge', `merged into #${into.number}`);
        plan.links.push({ caseId: c.id, linkedCaseId: into.id, kind: 'merged_into' });
        plan.merges.push({ fromCaseId: c.id, intoCaseId: into.id });
        plan.events.push(eventAbout(facts, into.id, 'case_merged_in', { from: c.number }));
        plan.caseNumbers.push(into.number);
        break;
      }
      default: {
        const what = STATE_COMMANDS[command.kind];
        // The customer must learn what is asked of them: these two need text to relay.
        if ((what === 'need-info' || what === 'resolved') && !relay) throw new Refused(command.kind, `#${what} needs text for the customer below the command lines`);
        move({ kind: what }, command.kind, `#${what}`);
      }
    }
  }

  if (relay) {
    const into = plan.merges[0] ? more.mergeTarget! : c;
    const to = customerRecipients(c);
    if (to.length === 0) {
      plan.events.push(eventAbout(facts, c.id, 'relay_not_sent', { reason: 'no customer participant to write to (all bouncing)' }));
    } else {
      const thread = [c.thread.first, c.thread.lastFromCustomer].filter((x): x is string => !!x);
      plan.mails.push(engineerRelay({
        messageRowId: facts.messageRowId, caseId: into.id, to, replyTo: facts.replyAddress(into.number),
        thread: { inReplyTo: c.thread.lastFromCustomer ?? c.thread.first, references: [...new Set(thread)] },
        engineerName: engineer.name || engineer.address, attachmentsFrom: u.parsed.attachments.some((a) => !a.inline) ? facts.messageRowId : null,
        data: { case: summaryOf(facts, into), engineerName: engineer.name || engineer.address, text, html: more.relayHtml },
      }));
      plan.events.push(eventAbout(facts, c.id, 'engineer_replied', { engineer: engineer.address, chars: text.length }));
      if (c.firstResponseAt === null) {
        update.firstResponseAt = now;
        plan.events.push(eventAbout(facts, c.id, 'first_response', { at: now.toISOString(), due: c.firstResponseDueAt.toISOString(), late: now > c.firstResponseDueAt }));
      }
      if (state === 'new') move({ kind: 'engineer-relayed' }, null, 'first reply relayed');
    }
  } else if (!note && commands.length === 0) {
    plan.events.push(eventAbout(facts, c.id, 'engineer_message_received', { text: '' }));
  }
  if (Object.keys(update).length > 1) plan.caseUpdates.push(update);
  if (note) plan.message.reason = 'internal note';
  return plan;
}

function refuse(facts: IntakeFacts, c: CaseFacts, more: EngineerFacts, bad: { line: string; lineNumber: number; problem: string }): Plan {
  const plan = emptyPlan({ status: 'processed', caseId: c.id, reason: `command refused: line ${bad.lineNumber}: ${bad.problem}` }, [c.number]);
  plan.events.push(eventAbout(facts, c.id, 'command_refused', { line: bad.line.slice(0, 200), lineNumber: bad.lineNumber, problem: bad.problem }));
  plan.mails.push(commandError({
    messageRowId: facts.messageRowId, caseId: c.id, to: more.engineer.address, replyTo: facts.replyAddress(c.number), answering: facts.understanding.parsed,
    data: { case: summaryOf(facts, c), line: bad.line, lineNumber: bad.lineNumber, problem: bad.problem, validCommands: [...VALID_COMMANDS] },
  }));
  return plan;
}

/** The line of the new text that holds this command, for the engineer's error reply. */
function lineOf(text: string, kind: EngineerCommand['kind']): { line: string; lineNumber: number } {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  const i = lines.findIndex((l) => l.trim().toLowerCase().startsWith(`#${kind}`));
  return i >= 0 ? { line: lines[i]!.trim(), lineNumber: i + 1 } : { line: `#${kind}`, lineNumber: 0 };
}
