// What the timer sweep does to one case at `now` (spec sections 2 and 6): auto-close, SLA breach
// or warning, and customer reminders, from the case's stored deadline instants. Pure: the sweep
// (src/schedule/sweep.ts) gathers the facts and writes the returned changes in one transaction.
//
// Catching up after downtime gives one outcome, never a flood: a due auto-close closes the case and
// sends only the close notice; a due breach makes the warning moot; of several due reminders only
// the latest is sent.
import type { CasemailSettings } from '../../config/config.js';
import { formatLocal, addBusinessDays } from '../../calendar/business-calendar.js';
import { formatDuration, formatTarget } from '../../calendar/time-words.js';
import {
  autoCloseNotice, caseSummary, confirmationReminder, infoReminder, slaBreach, slaWarning,
} from '../../notify/compose.js';
import type { SlaStateData } from '../../notify/mail-kinds.js';
import { calendarOf, reminderInstants, transition } from '../case-rules.js';
import type { CaseFacts } from '../intake-facts.js';
import { noChanges, type CaseChanges, type PlannedEvent } from '../plan.js';
import { caseWatchers, customerRecipients } from './shared.js';

/** One case's deadlines, read with the case row locked. */
export interface TimerCaseFacts {
  case: CaseFacts;
  requester: { name: string; address: string } | null;
  stateEnteredAt: Date;
  slaWarningDueAt: Date | null;
  slaWarnedAt: Date | null;
  slaBreachedAt: Date | null;
  autoCloseAt: Date | null;
  autoCloseReason: string | null;
  nextReminderAt: Date | null;
}

/** What one sweep knows besides the case: gathered once per tick. */
export interface SweepFacts {
  settings: CasemailSettings;
  now: Date;
  replyAddress: (caseNumber: number) => string;
  /** Active supervisors: the breach goes to them too. */
  supervisors: string[];
  /** Who hears of an unassigned case: the queue address, else every active engineer. */
  unassigned: string[];
}

export const TIMER_ACTOR = 'timer';

type Waiting = 'awaiting_customer' | 'resolution_proposed';
const isWaiting = (s: string): s is Waiting => s === 'awaiting_customer' || s === 'resolution_proposed';
const due = (at: Date | null, now: Date): at is Date => at !== null && at.getTime() <= now.getTime();

/** The changes the sweep makes to this case now, or null when nothing is due. */
export function decideTimers(t: TimerCaseFacts, f: SweepFacts): CaseChanges | null {
  const c = t.case;
  if (isWaiting(c.state) && due(t.autoCloseAt, f.now)) return autoClose(t, c.state, t.autoCloseAt, f);
  const changes = noChanges();
  slaChanges(t, f, changes);
  if (isWaiting(c.state) && due(t.nextReminderAt, f.now)) reminderChanges(t, c.state, t.nextReminderAt, f, changes);
  return changes.caseUpdates.length || changes.events.length || changes.mails.length ? changes : null;
}

function event(caseId: number, kind: string, data: Record<string, unknown>): PlannedEvent {
  return { caseId, actor: TIMER_ACTOR, kind, data, aboutMessage: false };
}

function autoClose(t: TimerCaseFacts, from: Waiting, at: Date, f: SweepFacts): CaseChanges {
  const { settings, now } = f;
  const c = t.case;
  const reason = t.autoCloseReason === 'no_response' || t.autoCloseReason === 'auto_resolved'
    ? t.autoCloseReason
    : (from === 'awaiting_customer' ? 'no_response' : 'auto_resolved');
  const tr = transition(from, { kind: 'auto-close', reason }, now, calendarOf(settings), settings.timers);
  const changes = noChanges();
  if (!tr.ok || !tr.change) return changes;
  changes.caseUpdates.push({ caseId: c.id, state: tr.change });
  const skipped = t.nextReminderAt !== null && t.nextReminderAt.getTime() <= now.getTime();
  const to = customerRecipients(c);
  changes.events.push(event(c.id, 'auto_closed', {
    reason, dueAt: at.toISOString(), ...(skipped ? { reminderSkipped: t.nextReminderAt!.toISOString() } : {}),
    ...(to.length ? {} : { noticeNotSent: 'no reachable customer participant' }),
  }));
  if (to.length) {
    const waited = reason === 'no_response' ? settings.timers.infoAutoCloseDays : settings.timers.confirmationAutoCloseDays;
    const reopenUntil = new Date(now.getTime() + settings.timers.reopenWindowDays * 86_400_000);
    changes.mails.push(autoCloseNotice({
      caseId: c.id, instant: at, to, replyTo: f.replyAddress(c.number), thread: c.thread,
      data: {
        case: caseSummary(settings, c), requesterName: t.requester?.name ?? '', reason, waitedBusinessDays: waited,
        reopenUntilLocal: formatLocal(reopenUntil, c.organisationTimeZone), reopenWindowDays: settings.timers.reopenWindowDays,
        supportAddress: settings.addresses.support,
      },
    }));
  }
  return changes;
}

function slaChanges(t: TimerCaseFacts, f: SweepFacts, changes: CaseChanges): void {
  const c = t.case;
  if (c.firstResponseAt || c.state === 'closed') return;
  const { now } = f;
  if (due(c.firstResponseDueAt, now) && !t.slaBreachedAt) {
    // A warning whose breach is also due is stale: the breach alone is sent, and the warning recorded as passed.
    const warningSkipped = !t.slaWarnedAt;
    changes.caseUpdates.push({ caseId: c.id, slaBreachedAt: now, ...(warningSkipped ? { slaWarnedAt: now } : {}) });
    const to = caseWatchers(c, f.unassigned);
    const cc = f.supervisors.filter((s) => !to.includes(s));
    changes.events.push(event(c.id, 'sla_breached', {
      dueAt: c.firstResponseDueAt.toISOString(), severity: c.severity, ...(warningSkipped && t.slaWarningDueAt ? { warningSkipped: t.slaWarningDueAt.toISOString() } : {}),
    }));
    if (to.length || cc.length) {
      changes.mails.push(slaBreach({
        caseId: c.id, instant: c.firstResponseDueAt, to: to.length ? to : cc, cc: to.length ? cc : [], replyTo: f.replyAddress(c.number), thread: c.thread,
        data: { ...slaState(t, f), overdueBy: formatDuration(now.getTime() - c.firstResponseDueAt.getTime()) },
      }));
    }
    return;
  }
  if (due(t.slaWarningDueAt, now) && !t.slaWarnedAt && !t.slaBreachedAt) {
    changes.caseUpdates.push({ caseId: c.id, slaWarnedAt: now });
    const to = caseWatchers(c, f.unassigned);
    changes.events.push(event(c.id, 'sla_warning', { warnAt: t.slaWarningDueAt.toISOString(), dueAt: c.firstResponseDueAt.toISOString(), severity: c.severity }));
    if (to.length) {
      changes.mails.push(slaWarning({ caseId: c.id, instant: t.slaWarningDueAt, to, replyTo: f.replyAddress(c.number), thread: c.thread, data: slaState(t, f) }));
    }
  }
}

function slaState(t: TimerCaseFacts, f: SweepFacts): SlaStateData {
  const { settings, now } = f;
  const c = t.case;
  const zone = settings.calendar.timeZone;
  return {
    case: caseSummary(settings, c), severity: c.severity, state: c.state, organisation: c.organisationName,
    requester: t.requester ?? { name: '', address: '' },
    openedLocal: formatLocal(c.openedAt, zone), dueLocal: formatLocal(c.firstResponseDueAt, zone),
    target: formatTarget(settings.severities[c.severity]),
    timeLeft: formatDuration(c.firstResponseDueAt.getTime() - now.getTime()),
    assignee: c.assignee?.active ? c.assignee.name : null,
  };
}

function reminderChanges(t: TimerCaseFacts, state: Waiting, nextAt: Date, f: SweepFacts, changes: CaseChanges): void {
  const { settings, now } = f;
  const c = t.case;
  const cal = calendarOf(settings);
  const info = state === 'awaiting_customer';
  const days = info ? settings.timers.infoReminderDays : settings.timers.confirmationReminderDays;
  const closeDays = info ? settings.timers.infoAutoCloseDays : settings.timers.confirmationAutoCloseDays;
  const instants = reminderInstants(cal, t.stateEnteredAt, days, closeDays);
  const dueOnes = instants.filter((i) => i.getTime() <= now.getTime());
  // The latest due reminder stands for any older ones missed while the service was down.
  const fired = dueOnes.at(-1) ?? nextAt;
  const following = instants.find((i) => i.getTime() > now.getTime()) ?? null;
  const preClose = addBusinessDays(cal, t.stateEnteredAt, closeDays - 1);
  const final = fired.getTime() >= preClose.getTime();
  changes.caseUpdates.push({ caseId: c.id, nextReminderAt: following });
  const to = customerRecipients(c);
  const kind = info ? 'info-reminder' : 'confirmation-reminder';
  changes.events.push(event(c.id, to.length ? 'reminder_sent' : 'reminder_not_sent', {
    reminder: kind, instant: fired.toISOString(), final, next: following?.toISOString() ?? null,
    ...(dueOnes.length > 1 ? { skipped: dueOnes.slice(0, -1).map((d) => d.toISOString()) } : {}),
    ...(to.length ? {} : { notSent: 'no reachable customer participant' }),
  }));
  if (!to.length) return;
  const zone = c.organisationTimeZone;
  const closeLocal = formatLocal(t.autoCloseAt ?? addBusinessDays(cal, t.stateEnteredAt, closeDays), zone);
  const base = {
    caseId: c.id, instant: fired, to, replyTo: f.replyAddress(c.number), thread: c.thread,
  };
  const common = { case: caseSummary(settings, c), requesterName: t.requester?.name ?? '', closeLocal, final, supportAddress: settings.addresses.support };
  changes.mails.push(info
    ? infoReminder({ ...base, data: { ...common, askedLocal: formatLocal(t.stateEnteredAt, zone) } })
    : confirmationReminder({ ...base, data: { ...common, proposedLocal: formatLocal(t.stateEnteredAt, zone), closePhrases: settings.closePhrases } }));
}
