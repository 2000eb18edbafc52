// The stats arithmetic (computeCaseStats) and the --from/--to parsing, on hand-made rows: the
// rules a support lead relies on (what counts as missed, pending, a breach; nearest-rank percentiles).
import { describe, expect, it } from 'vitest';
import { computeCaseStats, nearestRank, parseStatsBound, type StatsCaseRow } from '../../src/cases/case-stats.js';
import type { BusinessCalendar } from '../../src/calendar/business-calendar.js';

const cal: BusinessCalendar = { timeZone: 'Europe/Berlin', workingDays: [1, 2, 3, 4, 5], workingHours: { start: '09:00', end: '17:00' }, holidays: [] };
const d = (iso: string) => new Date(iso);
const row = (number: number, severity: number, opened: string, due: string, answered: string | null, breached: string | null = null): StatsCaseRow => ({
  number, severity, state: 'open', openedAt: d(opened), firstResponseDueAt: d(due), firstResponseAt: answered ? d(answered) : null, slaBreachedAt: breached ? d(breached) : null,
});
const window = { from: d('2026-12-06T23:00:00Z'), to: d('2026-12-13T23:00:00Z') };

describe('nearestRank', () => {
  it('is an observed value: the ceil(p·n)-th smallest', () => {
    expect(nearestRank([], 0.5)).toBeNull();
    expect(nearestRank([7], 0.9)).toBe(7);
    expect(nearestRank([1, 2, 3, 4], 0.5)).toBe(2);
    expect(nearestRank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9)).toBe(9);
    expect(nearestRank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 0.9)).toBe(10);
  });
});

describe('computeCaseStats', () => {
  const now = d('2026-12-10T12:00:00Z');
  const opened = [
    row(1, 2, '2026-12-07T09:00:00Z', '2026-12-08T09:00:00Z', '2026-12-07T09:30:00Z'), // within, 30 min
    row(2, 2, '2026-12-07T09:00:00Z', '2026-12-08T09:00:00Z', '2026-12-08T10:00:00Z'), // late: 7 h + 2 h = 540 min
    row(3, 2, '2026-12-08T09:00:00Z', '2026-12-09T09:00:00Z', null, '2026-12-09T09:00:00Z'), // unanswered, due passed: missed
    row(4, 2, '2026-12-10T09:00:00Z', '2026-12-11T09:00:00Z', null), // unanswered, not yet due: pending
    row(5, 1, '2026-12-09T15:50:00Z', '2026-12-09T16:20:00Z', '2026-12-09T16:10:00Z'), // within; 16:50-17:10 Berlin is 10 business minutes (the day ends at 17:00)
  ];
  const older = row(9, 3, '2026-11-30T09:00:00Z', '2026-12-02T09:00:00Z', '2026-12-08T09:00:00Z'); // answered late inside the window
  const s = computeCaseStats({
    window, now, calendar: cal, opened, touched: [opened[1]!, opened[2]!, older, opened[0]!],
    open: [{ severity: 2, state: 'open', count: 3 }, { severity: 1, state: 'new', count: 1 }, { severity: 2, state: 'new', count: 2 }],
    autoClosed: ['no_response', 'auto_resolved', 'no_response'],
  });

  it('splits first responses into within, missed (late or overdue) and pending (not yet due)', () => {
    expect(s.firstResponse.perSeverity).toEqual([
      { severity: 1, opened: 1, withinTarget: 1, missed: 0, pending: 0, shareWithinTarget: 1 },
      { severity: 2, opened: 4, withinTarget: 1, missed: 2, pending: 1, shareWithinTarget: 1 / 3 },
    ]);
  });

  it('takes median and p90 of business minutes of the answered cases', () => {
    // Sorted: 10, 30, 540.
    expect(s.firstResponse.businessMinutes).toEqual({ count: 3, median: 30, p90: 540 });
    expect(computeCaseStats({ window, now, calendar: cal, opened: [opened[4]!], touched: [], open: [], autoClosed: [] }).firstResponse.businessMinutes.median).toBe(10);
  });

  it('counts a breach once per case: a breach instant or a late first response in the window', () => {
    expect(s.breaches).toEqual({ total: 3, bySeverity: { 2: 2, 3: 1 }, cases: [2, 3, 9] });
  });

  it('sums open cases and auto-closes', () => {
    expect(s.open.total).toBe(6);
    expect(s.open.bySeverity).toEqual({ 1: 1, 2: 5 });
    expect(s.open.byState).toEqual({ open: 3, new: 3 });
    expect(s.autoClosed).toEqual({ total: 3, byReason: { no_response: 2, auto_resolved: 1 } });
  });
});

describe('parseStatsBound', () => {
  it('reads a date as the local day in the zone, the --to day included', () => {
    expect(parseStatsBound('2026-12-01', 'Europe/Berlin', false)?.toISOString()).toBe('2026-11-30T23:00:00.000Z');
    expect(parseStatsBound('2026-12-31', 'Europe/Berlin', true)?.toISOString()).toBe('2026-12-31T23:00:00.000Z');
    expect(parseStatsBound('2026-07-01', 'Europe/Berlin', false)?.toISOString()).toBe('2026-06-30T22:00:00.000Z');
  });
  it('takes ISO instants as they are and refuses anything else', () => {
    expect(parseStatsBound('2026-12-01T10:00:00Z', 'Europe/Berlin', true)?.toISOString()).toBe('2026-12-01T10:00:00.000Z');
    expect(parseStatsBound('yesterday', 'UTC', false)).toBeNull();
    expect(parseStatsBound('2026-13-45', 'UTC', false)).toBeNull();
  });
});
