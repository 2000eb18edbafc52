// businessMinutesBetween: the inverse of addBusinessMinutes, used by `casemail stats` for
// first-response times in business time. Expected values are worked out by hand from the calendar.
import { describe, expect, it } from 'vitest';
import { addBusinessMinutes, businessMinutesBetween, type BusinessCalendar } from '../../src/calendar/business-calendar.js';

const berlin: BusinessCalendar = {
  timeZone: 'Europe/Berlin', workingDays: [1, 2, 3, 4, 5], workingHours: { start: '09:00', end: '17:00' },
  holidays: ['2026-12-24', '2026-12-25', '2026-12-31', '2027-01-01'],
};
const at = (iso: string) => new Date(iso);

describe('businessMinutesBetween', () => {
  it('counts inside one working day', () => {
    // Monday 7 Dec 2026, 10:00 -> 11:30 Berlin.
    expect(businessMinutesBetween(berlin, at('2026-12-07T09:00:00Z'), at('2026-12-07T10:30:00Z'))).toBe(90);
  });

  it('skips the night: Monday 16:00 to Tuesday 10:00 Berlin is 1 h + 1 h', () => {
    expect(businessMinutesBetween(berlin, at('2026-12-07T15:00:00Z'), at('2026-12-08T09:00:00Z'))).toBe(120);
  });

  it('counts nothing outside working hours and on a weekend', () => {
    // Saturday 12 Dec 10:00 -> Sunday 13 Dec 15:00 Berlin.
    expect(businessMinutesBetween(berlin, at('2026-12-12T09:00:00Z'), at('2026-12-13T14:00:00Z'))).toBe(0);
    // Monday 7 Dec 18:00 -> 23:00 Berlin.
    expect(businessMinutesBetween(berlin, at('2026-12-07T17:00:00Z'), at('2026-12-07T22:00:00Z'))).toBe(0);
  });

  it('starts at the working window when the start is before it, and skips holidays', () => {
    // Wed 23 Dec 07:00 Berlin -> Mon 28 Dec 10:00 Berlin: 8 h on the 23rd (24, 25 holidays, weekend), 1 h on the 28th.
    expect(businessMinutesBetween(berlin, at('2026-12-23T06:00:00Z'), at('2026-12-28T09:00:00Z'))).toBe(9 * 60);
  });

  it('is zero for an empty or reversed span, and keeps fractions of a minute', () => {
    expect(businessMinutesBetween(berlin, at('2026-12-07T10:00:00Z'), at('2026-12-07T10:00:00Z'))).toBe(0);
    expect(businessMinutesBetween(berlin, at('2026-12-07T11:00:00Z'), at('2026-12-07T10:00:00Z'))).toBe(0);
    expect(businessMinutesBetween(berlin, at('2026-12-07T10:00:00Z'), at('2026-12-07T10:01:30Z'))).toBe(1.5);
  });

  it('keeps local hours across the DST change (late October)', () => {
    // Fri 23 Oct 2026 16:00 CEST (14:00Z) -> Mon 26 Oct 10:00 CET (09:00Z): 1 h + 1 h.
    expect(businessMinutesBetween(berlin, at('2026-10-23T14:00:00Z'), at('2026-10-26T09:00:00Z'))).toBe(120);
  });

  it('undoes addBusinessMinutes from a business instant', () => {
    const from = at('2026-12-07T09:17:00Z');
    for (const m of [1, 59, 480, 481, 2000, 9000]) {
      expect(businessMinutesBetween(berlin, from, addBusinessMinutes(berlin, from, m)), `${m} minutes`).toBe(m);
    }
  });
});
