// The timer sweep's pure decision (src/cases/actions/timers.ts): which single outcome a case gets
// at `now`, and the reminder schedule of a waiting state. Instants are given; nothing reads a clock.
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/config.js';
import { decideTimers, type SweepFacts, type TimerCaseFacts } from '../../src/cases/actions/timers.js';
import { calendarOf, reminderInstants, transition } from '../../src/cases/case-rules.js';
import type { CaseFacts } from '../../src/cases/intake-facts.js';

const settings = configSchema.parse({ calendar: { timeZone: 'UTC' } });
const at = (iso: string) => new Date(iso);

function facts(over: Partial<CaseFacts> = {}): CaseFacts {
  return {
    id: 7, number: 100007, subject: 'Export fails', organisationId: 1, organisationName: 'Acme', organisationTimeZone: 'Europe/Berlin',
    state: 'new', severity: 2, openedAt: at('2026-12-07T09:00:00Z'), closedAt: null, firstResponseAt: null,
    firstResponseDueAt: at('2026-12-07T17:00:00Z'), assignee: { id: 1, address: 'erin@vendor.example', name: 'Erin', active: true },
    participants: [{ address: 'bob@acme.example', contactId: 3, role: 'requester', bouncing: false }],
    thread: { first: '<first@acme.example>', lastFromCustomer: '<last@acme.example>' },
    ...over,
  };
}

function timers(over: Partial<TimerCaseFacts> = {}, c: Partial<CaseFacts> = {}): TimerCaseFacts {
  return {
    case: facts(c), requester: { name: 'Bob', address: 'bob@acme.example' }, stateEnteredAt: at('2026-12-07T09:00:00Z'),
    slaWarningDueAt: at('2026-12-07T15:00:00Z'), slaWarnedAt: null, slaBreachedAt: null, autoCloseAt: null, autoCloseReason: null, nextReminderAt: null,
    ...over,
  };
}

const sweepAt = (iso: string): SweepFacts => ({
  settings, now: at(iso), replyAddress: () => 'support@casemail.localhost', supervisors: ['sam@vendor.example'], unassigned: ['queue@vendor.example'],
});

describe('decideTimers', () => {
  it('does nothing before the warning instant, and warns the assignee at it', () => {
    expect(decideTimers(timers(), sweepAt('2026-12-07T14:59:59Z'))).toBeNull();
    const p = decideTimers(timers(), sweepAt('2026-12-07T15:00:00Z'))!;
    expect(p.mails.map((m) => [m.kind, m.to, m.causeKey])).toEqual([['sla-warning', ['erin@vendor.example'], 'sla-warning:7:2026-12-07T15:00:00.000Z']]);
    expect(p.caseUpdates).toEqual([{ caseId: 7, slaWarnedAt: at('2026-12-07T15:00:00Z') }]);
  });

  it('warns the queue when the case has no active assignee', () => {
    const p = decideTimers(timers({}, { assignee: { id: 1, address: 'erin@vendor.example', name: 'Erin', active: false } }), sweepAt('2026-12-07T15:00:00Z'))!;
    expect(p.mails[0]!.to).toEqual(['queue@vendor.example']);
  });

  it('sends only the breach when warning and breach are both due, and records the warning as passed', () => {
    const p = decideTimers(timers(), sweepAt('2026-12-08T09:00:00Z'))!;
    expect(p.mails.map((m) => [m.kind, m.to, m.cc])).toEqual([['sla-breach', ['erin@vendor.example'], ['sam@vendor.example']]]);
    expect(p.caseUpdates).toEqual([{ caseId: 7, slaBreachedAt: at('2026-12-08T09:00:00Z'), slaWarnedAt: at('2026-12-08T09:00:00Z') }]);
    expect(p.events[0]).toMatchObject({ kind: 'sla_breached', data: { warningSkipped: '2026-12-07T15:00:00.000Z' } });
  });

  it('has nothing to do once a response is recorded, or once the breach was acted on', () => {
    expect(decideTimers(timers({}, { firstResponseAt: at('2026-12-07T10:00:00Z'), state: 'open' }), sweepAt('2026-12-09T00:00:00Z'))).toBeNull();
    expect(decideTimers(timers({ slaWarnedAt: at('2026-12-07T15:00:00Z'), slaBreachedAt: at('2026-12-07T17:00:00Z') }), sweepAt('2026-12-09T00:00:00Z'))).toBeNull();
  });

  it('closes a waiting case whose auto-close is due, sending only the close notice even when a reminder is also overdue', () => {
    const t = timers({
      stateEnteredAt: at('2026-12-01T10:00:00Z'), autoCloseAt: at('2026-12-22T10:00:00Z'), autoCloseReason: 'no_response', nextReminderAt: at('2026-12-21T10:00:00Z'),
    }, { state: 'awaiting_customer', firstResponseAt: at('2026-12-01T10:00:00Z') });
    const p = decideTimers(t, sweepAt('2026-12-23T08:00:00Z'))!;
    expect(p.mails.map((m) => m.kind)).toEqual(['auto-close-notice']);
    expect(p.caseUpdates[0]!.state).toMatchObject({ state: 'closed', closeReason: 'no_response', nextReminderAt: null, autoCloseAt: null });
    expect(p.events[0]).toMatchObject({ kind: 'auto_closed', data: { reminderSkipped: '2026-12-21T10:00:00.000Z' } });
  });

  it('sends one reminder for several missed ones: the latest, and schedules the next still ahead', () => {
    const cal = calendarOf(settings);
    const entered = at('2026-12-01T10:00:00Z'); // Tuesday
    const instants = reminderInstants(cal, entered, [5, 10], 15);
    expect(instants.map((d) => d.toISOString())).toEqual(['2026-12-08T10:00:00.000Z', '2026-12-15T10:00:00.000Z', '2026-12-21T10:00:00.000Z']);
    const t = timers({ stateEnteredAt: entered, autoCloseAt: at('2026-12-22T10:00:00Z'), autoCloseReason: 'no_response', nextReminderAt: instants[0]! },
      { state: 'awaiting_customer', firstResponseAt: entered });
    const p = decideTimers(t, sweepAt('2026-12-16T12:00:00Z'))!;
    expect(p.mails.map((m) => [m.kind, m.causeKey, m.to])).toEqual([['info-reminder', 'info-reminder:7:2026-12-15T10:00:00.000Z', ['bob@acme.example']]]);
    expect(p.caseUpdates).toEqual([{ caseId: 7, nextReminderAt: instants[2] }]);
    expect(p.events[0]).toMatchObject({ kind: 'reminder_sent', data: { skipped: ['2026-12-08T10:00:00.000Z'], final: false } });
  });

  it('marks the reminder one business day before the close as the last one; a confirmation reminder offers the close phrase', () => {
    const entered = at('2026-12-01T10:00:00Z');
    const t = timers({ stateEnteredAt: entered, autoCloseAt: at('2026-12-15T10:00:00Z'), autoCloseReason: 'auto_resolved', nextReminderAt: at('2026-12-14T10:00:00Z') },
      { state: 'resolution_proposed', firstResponseAt: entered });
    const p = decideTimers(t, sweepAt('2026-12-14T10:00:00Z'))!;
    expect(p.mails).toHaveLength(1);
    expect(p.mails[0]).toMatchObject({ kind: 'confirmation-reminder', data: { final: true, closePhrases: settings.closePhrases } });
    expect(p.caseUpdates).toEqual([{ caseId: 7, nextReminderAt: null }]);
  });

  it('writes no reminder to a bouncing address, and records that it could not', () => {
    const entered = at('2026-12-01T10:00:00Z');
    const t = timers({ stateEnteredAt: entered, autoCloseAt: at('2026-12-22T10:00:00Z'), autoCloseReason: 'no_response', nextReminderAt: at('2026-12-08T10:00:00Z') },
      { state: 'awaiting_customer', firstResponseAt: entered, participants: [{ address: 'bob@acme.example', contactId: 3, role: 'requester', bouncing: true }] });
    const p = decideTimers(t, sweepAt('2026-12-08T10:00:00Z'))!;
    expect(p.mails).toEqual([]);
    expect(p.events[0]!.kind).toBe('reminder_not_sent');
  });
});

describe('waiting states schedule their first reminder on entry', () => {
  it('#need-info sets the auto-close and the first reminder; a customer reply clears both', () => {
    const cal = calendarOf(settings);
    const now = at('2026-12-01T10:00:00Z');
    const t = transition('open', { kind: 'need-info' }, now, cal, settings.timers);
    expect(t.ok && t.change).toMatchObject({ nextReminderAt: at('2026-12-08T10:00:00Z'), autoCloseAt: at('2026-12-22T10:00:00Z') });
    const r = transition('awaiting_customer', { kind: 'customer-replied', confirms: false }, now, cal, settings.timers);
    expect(r.ok && r.change).toMatchObject({ state: 'open', nextReminderAt: null, autoCloseAt: null });
  });
});
