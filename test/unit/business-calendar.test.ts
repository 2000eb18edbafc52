import { describe, expect, it } from 'vitest';
import { addBusinessDays, addBusinessMinutes, nextBusinessStart, responseDeadline, type BusinessCalendar } from '../../src/calendar/business-calendar.js';

const berlin: BusinessCalendar = {
  timeZone: 'Europe/Berlin', workingDays: [1, 2, 3, 4, 5], workingHours: { start: '08:00', end: '18:00' },
  holidays: ['2026-12-24', '2026-12-25', '2026-12-31', '2027-01-01'],
};
const wholeDayUtc: BusinessCalendar = { timeZone: 'UTC', workingDays: [1, 2, 3, 4, 5], workingHours: { start: '00:00', end: '24:00' }, holidays: [] };

describe('business calendar', () => {
  it('counts 8 business hours across the evening into the next morning', () => {
    // Monday 2026-11-30 14:00 Berlin (13:00Z): 4 h left today, 4 h from 08:00 Tuesday.
    expect(addBusinessMinutes(berlin, new Date('2026-11-30T13:00:00Z'), 480).toISOString()).toBe('2026-12-01T11:00:00.000Z');
  });

  it('starts the clock at the next business time for a message received on Saturday', () => {
    expect(nextBusinessStart(berlin, new Date('2026-11-28T10:00:00Z')).toISOString()).toBe('2026-11-30T07:00:00.000Z');
    expect(addBusinessMinutes(berlin, new Date('2026-11-28T10:00:00Z'), 60).toISOString()).toBe('2026-11-30T08:00:00.000Z');
  });

  it('skips a holiday run over the year end', () => {
    // Wed 2026-12-23 17:00 Berlin: 1 h left; 24th, 25th holidays, 26-27 weekend, then Mon 28th.
    expect(addBusinessMinutes(berlin, new Date('2026-12-23T16:00:00Z'), 120).toISOString()).toBe('2026-12-28T08:00:00.000Z');
    // Wed 2026-12-30 + 1 business day: 31st and 1st are holidays, 2-3 Jan weekend -> Mon 4 Jan.
    expect(addBusinessDays(berlin, new Date('2026-12-30T09:00:00Z'), 1).toISOString()).toBe('2027-01-04T09:00:00.000Z');
  });

  it('keeps local working hours across the DST change (08:00 stays 08:00 local)', () => {
    // Fri 2026-10-23 17:00 CEST (15:00Z) + 2 h -> Mon 26 Oct 09:00 CET (08:00Z) after clocks went back on the 25th.
    expect(addBusinessMinutes(berlin, new Date('2026-10-23T15:00:00Z'), 120).toISOString()).toBe('2026-10-26T08:00:00.000Z');
  });

  it('adds 10 business days from a Friday', () => {
    expect(addBusinessDays(wholeDayUtc, new Date('2026-11-27T15:00:00Z'), 10).toISOString()).toBe('2026-12-11T15:00:00.000Z');
  });

  it('uses a continuous clock for severity 1 and business time otherwise', () => {
    const sat = new Date('2026-11-28T10:00:00Z');
    expect(responseDeadline(berlin, sat, { targetMinutes: 30, clock: 'continuous' }).toISOString()).toBe('2026-11-28T10:30:00.000Z');
    expect(responseDeadline(wholeDayUtc, sat, { targetMinutes: 24 * 60, clock: 'business' }).toISOString()).toBe('2026-12-01T00:00:00.000Z');
  });
});

describe('formatLocal', () => {
  it('writes the local date and time with the zone', async () => {
    const { formatLocal } = await import('../../src/calendar/business-calendar.js');
    expect(formatLocal(new Date('2026-11-30T08:05:00Z'), 'Europe/Berlin')).toBe('Mon 30 Nov 2026, 09:05 (Europe/Berlin)');
    expect(formatLocal(new Date('2026-12-31T23:30:00Z'), 'Pacific/Auckland')).toBe('Fri 1 Jan 2027, 12:30 (Pacific/Auckland)');
  });
});
