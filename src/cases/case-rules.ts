// The case state machine and its deadlines (spec section 2): which state a case moves to on each
// thing that happens to it, and the instants that state entry fixes (first-response target, SLA
// warning, auto-close). Pure: settings come in as plain data, time as an argument; callers turn
// the result into a plan.
import type { CasemailSettings } from '../config/config.js';
import type { CaseState } from '../db/schema.js';
import { addBusinessDays, responseDeadline, type BusinessCalendar } from '../calendar/business-calendar.js';

export type Severity = 1 | 2 | 3;

/** What can happen to a case: people's mail and commands, and the sweep's auto-close. */
export type CaseHappening =
  | { kind: 'auto-close'; reason: string }
  | { kind: 'engineer-relayed' }
  | { kind: 'need-info' }
  | { kind: 'resolved' }
  | { kind: 'close' }
  | { kind: 'open' }
  | { kind: 'merged' }
  | { kind: 'customer-replied'; confirms: boolean };

/** The state fields a transition sets; absent = unchanged. */
export interface StateChange {
  state: CaseState;
  stateEnteredAt: Date;
  closedAt?: Date | null;
  closeReason?: string | null;
  autoCloseAt?: Date | null;
  autoCloseReason?: string | null;
  nextReminderAt?: Date | null;
}

export type Transition =
  | { ok: true; change: StateChange | null; eventKind: string }
  | { ok: false; problem: string };

const CLEARED_TIMERS = { autoCloseAt: null, autoCloseReason: null, nextReminderAt: null } as const;

/**
 * The state machine exactly as the spec's table. `change: null` means the state stays as it is
 * (an engineer's relay on an open case, say); the event kind is still recorded.
 */
export function transition(from: CaseState, what: CaseHappening, now: Date, cal: BusinessCalendar, timers: CasemailSettings['timers']): Transition {
  switch (what.kind) {
    case 'auto-close':
      if (from !== 'awaiting_customer' && from !== 'resolution_proposed') return { ok: false, problem: `a case in state ${from} has no auto-close` };
      return { ok: true, eventKind: 'auto_closed', change: { state: 'closed', stateEnteredAt: now, closedAt: now, closeReason: what.reason, ...CLEARED_TIMERS } };
    case 'engineer-relayed':
      return from === 'new'
        ? { ok: true, change: { state: 'open', stateEnteredAt: now }, eventKind: 'state_changed' }
        : { ok: true, change: null, eventKind: 'engineer_replied' };
    case 'need-info':
      if (from === 'closed') return { ok: false, problem: 'the case is closed; reopen it with #open first' };
      return {
        ok: true, eventKind: 'state_changed',
        change: {
          state: 'awaiting_customer', stateEnteredAt: now, autoCloseAt: addBusinessDays(cal, now, timers.infoAutoCloseDays), autoCloseReason: 'no_response',
          nextReminderAt: reminderInstants(cal, now, timers.infoReminderDays, timers.infoAutoCloseDays)[0] ?? null,
        },
      };
    case 'resolved':
      if (from === 'closed') return { ok: false, problem: 'the case is closed; reopen it with #open first' };
      return {
        ok: true, eventKind: 'state_changed',
        change: {
          state: 'resolution_proposed', stateEnteredAt: now, autoCloseAt: addBusinessDays(cal, now, timers.confirmationAutoCloseDays), autoCloseReason: 'auto_resolved',
          nextReminderAt: reminderInstants(cal, now, timers.confirmationReminderDays, timers.confirmationAutoCloseDays)[0] ?? null,
        },
      };
    case 'close':
      if (from === 'closed') return { ok: false, problem: 'the case is already closed' };
      return { ok: true, eventKind: 'state_changed', change: { state: 'closed', stateEnteredAt: now, closedAt: now, closeReason: 'engineer_closed', ...CLEARED_TIMERS } };
    case 'merged':
      if (from === 'closed') return { ok: false, problem: 'a closed case cannot be merged' };
      return { ok: true, eventKind: 'state_changed', change: { state: 'closed', stateEnteredAt: now, closedAt: now, closeReason: 'merged', ...CLEARED_TIMERS } };
    case 'open':
      if (from === 'open') return { ok: false, problem: 'the case is already open' };
      return { ok: true, eventKind: 'state_changed', change: { state: 'open', stateEnteredAt: now, closedAt: null, closeReason: null, ...CLEARED_TIMERS } };
    case 'customer-replied':
      if (what.confirms && from !== 'closed') {
        return {
          ok: true, eventKind: 'closed_by_customer',
          change: { state: 'closed', stateEnteredAt: now, closedAt: now, closeReason: from === 'resolution_proposed' ? 'customer_confirmed' : 'customer_closed', ...CLEARED_TIMERS },
        };
      }
      // Any customer reply clears the waiting state's timers; within the reopen window a closed case reopens.
      if (from === 'awaiting_customer' || from === 'resolution_proposed') {
        return { ok: true, eventKind: 'customer_replied', change: { state: 'open', stateEnteredAt: now, ...CLEARED_TIMERS } };
      }
      if (from === 'closed') {
        return { ok: true, eventKind: 'reopened', change: { state: 'open', stateEnteredAt: now, closedAt: null, closeReason: null, ...CLEARED_TIMERS } };
      }
      return { ok: true, eventKind: 'customer_replied', change: null };
  }
}

/**
 * The reminder instants of a waiting state entered at `enteredAt`: the configured business days, and
 * one business day before the auto-close, ascending, each before the auto-close. The sweep sends
 * the latest one that is due and moves `next_reminder_at` to the first one after `now`.
 */
export function reminderInstants(cal: BusinessCalendar, enteredAt: Date, reminderDays: readonly number[], autoCloseDays: number): Date[] {
  const days = [...new Set([...reminderDays, autoCloseDays - 1])].filter((d) => d > 0 && d < autoCloseDays).sort((a, b) => a - b);
  return days.map((d) => addBusinessDays(cal, enteredAt, d));
}

/** The business calendar of these settings; one object per settings, so its memo of days is reused. */
const calendars = new WeakMap<CasemailSettings, BusinessCalendar>();
export function calendarOf(settings: CasemailSettings): BusinessCalendar {
  const known = calendars.get(settings);
  if (known) return known;
  const cal: BusinessCalendar = {
    timeZone: settings.calendar.timeZone,
    workingDays: settings.calendar.workingDays,
    workingHours: settings.calendar.workingHours,
    holidays: new Set(settings.calendar.holidays),
    holidayRegion: settings.calendar.holidayRegion,
  };
  calendars.set(settings, cal);
  return cal;
}

/** First-response deadline and the SLA-warning instant (a share of the target), from the case's opening. */
export function slaInstants(settings: CasemailSettings, severity: Severity, openedAt: Date): { due: Date; warnAt: Date } {
  const target = settings.severities[severity];
  const cal = calendarOf(settings);
  const due = responseDeadline(cal, openedAt, target);
  const warnAt = responseDeadline(cal, openedAt, { ...target, targetMinutes: Math.max(1, Math.floor(target.targetMinutes * settings.timers.slaWarningShare)) });
  return { due, warnAt };
}

export function severityMeaning(severity: number): string {
  switch (severity) {
    case 1: return 'production down or inoperable; critical operations halted';
    case 2: return 'mild to medium impact on use or usability';
    default: return 'general inquiry, cosmetic issue or minimal impact';
  }
}
