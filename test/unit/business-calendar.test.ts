import { describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import { addBusinessDays, addBusinessMinutes, isBusinessDay, nextBusinessStart, responseDeadline, type BusinessCalendar } from '../../src/calendar/business-calendar.js';
import { isHolidayRegion, regionHolidayDates } from '../../src/calendar/region-holidays.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';

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

  it('adds business days across both DST changes at the same local time of day', () => {
    // Thu 2026-03-26 16:30 CET (15:30Z) + 3 business days -> Tue 31 March 16:30 CEST (14:30Z).
    expect(addBusinessDays(berlin, new Date('2026-03-26T15:30:00Z'), 3).toISOString()).toBe('2026-03-31T14:30:00.000Z');
    // Fri 2026-10-23 07:00 CEST (05:00Z, before the window) + 1 -> Mon 26 Oct moved to 08:00 CET (07:00Z).
    expect(addBusinessDays(berlin, new Date('2026-10-23T05:00:00Z'), 1).toISOString()).toBe('2026-10-26T07:00:00.000Z');
  });

  it('agrees with a day-by-day count in wall-clock days over a year of starting instants', () => {
    // The reference walks local calendar days with luxon, the plain reading of "n business days later".
    const reference = (cal: BusinessCalendar, from: Date, n: number): Date => {
      const start = DateTime.fromJSDate(from, { zone: cal.timeZone });
      let day = start.startOf('day');
      for (let counted = 0; counted < n;) {
        day = day.plus({ days: 1 });
        if (isBusinessDay(cal, day)) counted++;
      }
      const [sh, sm] = cal.workingHours.start.split(':').map(Number);
      const [eh, em] = cal.workingHours.end.split(':').map(Number);
      const lo = day.set({ hour: sh!, minute: sm! }).toMillis();
      const hi = eh === 24 ? day.plus({ days: 1 }).startOf('day').toMillis() : day.set({ hour: eh!, minute: em! }).toMillis();
      const t = day.set({ hour: start.hour, minute: start.minute, second: start.second, millisecond: start.millisecond }).toMillis();
      return new Date(Math.min(Math.max(t, lo), hi));
    };
    const newYork: BusinessCalendar = { timeZone: 'America/New_York', workingDays: [1, 2, 3, 4, 5], workingHours: { start: '09:00', end: '17:00' }, holidays: ['2026-11-26'] };
    for (const cal of [berlin, newYork, wholeDayUtc]) {
      for (let h = 0; h < 365 * 24; h += 61) {
        const from = new Date(Date.UTC(2026, 0, 1) + h * 3_600_000 + 17 * 60_000);
        for (const n of [1, 5, 10, 15]) expect(addBusinessDays(cal, from, n).toISOString(), `${cal.timeZone} ${from.toISOString()} + ${n}`).toBe(reference(cal, from, n).toISOString());
      }
    }
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
    expect(formatLocal(new Date('2026-11-30T08:05:00Z'), 'Europe/Berlin')).toBe('Monday 30 November 2026, 09:05 (Europe/Berlin)');
    expect(formatLocal(new Date('2026-12-31T23:30:00Z'), 'Pacific/Auckland')).toBe('Friday 1 January 2027, 12:30 (Pacific/Auckland)');
  });

  it('gives each zone and each minute its own words when asked again (they are remembered per zone and minute)', async () => {
    const { formatLocal } = await import('../../src/calendar/business-calendar.js');
    for (let round = 0; round < 2; round++) {
      expect(formatLocal(new Date('2026-11-30T08:05:00.000Z'), 'Europe/Berlin')).toBe('Monday 30 November 2026, 09:05 (Europe/Berlin)');
      expect(formatLocal(new Date('2026-11-30T08:05:59.999Z'), 'Europe/Berlin')).toBe('Monday 30 November 2026, 09:05 (Europe/Berlin)');
      expect(formatLocal(new Date('2026-11-30T08:06:00.000Z'), 'Europe/Berlin')).toBe('Monday 30 November 2026, 09:06 (Europe/Berlin)');
      expect(formatLocal(new Date('2026-11-30T08:05:30.000Z'), 'America/New_York')).toBe('Monday 30 November 2026, 03:05 (America/New_York)');
      // Before 1970: the minute of a negative time still holds only its own instants.
      expect(formatLocal(new Date('1969-12-31T23:59:30.000Z'), 'UTC')).toBe('Wednesday 31 December 1969, 23:59 (UTC)');
      expect(formatLocal(new Date('1970-01-01T00:00:30.000Z'), 'UTC')).toBe('Thursday 1 January 1970, 00:00 (UTC)');
    }
  });
});

describe('holiday regions (date-holidays, public holidays only)', () => {
  // Severity 2: 8 business hours, working hours 08:00-18:00 Monday to Friday.
  const severity2 = { targetMinutes: 8 * 60, clock: 'business' } as const;
  const officeHours = { workingDays: [1, 2, 3, 4, 5], workingHours: { start: '08:00', end: '18:00' } };
  const utc: BusinessCalendar = { timeZone: 'UTC', ...officeHours, holidays: [] };
  const losAngeles: BusinessCalendar = { timeZone: 'America/Los_Angeles', ...officeHours, holidays: [] };
  const california: BusinessCalendar = { ...losAngeles, holidayRegion: 'US-CA' };
  const berlinPlain: BusinessCalendar = { timeZone: 'Europe/Berlin', ...officeHours, holidays: [] };
  const bavaria: BusinessCalendar = { ...berlinPlain, holidayRegion: 'DE-BY' };
  const berlinState: BusinessCalendar = { ...berlinPlain, holidayRegion: 'DE-BE' };
  const local = (cal: BusinessCalendar, iso: string): Date => DateTime.fromISO(iso, { zone: cal.timeZone }).toJSDate();

  it('is due Monday 15:00 for a severity 2 case opened Friday 17:00', () => {
    expect(responseDeadline(utc, new Date('2026-12-04T17:00:00Z'), severity2).toISOString()).toBe('2026-12-07T15:00:00.000Z');
  });

  it('skips Thanksgiving and the day after with US-CA, and only with it', () => {
    const opened = local(losAngeles, '2026-11-25T17:00'); // Wednesday 17:00 PST = 01:00Z Thursday
    expect(opened.toISOString()).toBe('2026-11-26T01:00:00.000Z');
    // Without a region: 1 h on Wednesday, 7 h on Thursday -> Thursday 15:00 PST.
    expect(responseDeadline(losAngeles, opened, severity2).toISOString()).toBe('2026-11-26T23:00:00.000Z');
    // With US-CA: Thursday and Friday are public holidays, the weekend follows -> Monday 15:00 PST.
    expect(responseDeadline(california, opened, severity2).toISOString()).toBe('2026-11-30T23:00:00.000Z');
  });

  it('counts a substitute day (Independence Day on a Saturday is off on Friday 3 July 2026)', () => {
    const friday = DateTime.fromISO('2026-07-03', { zone: 'America/Los_Angeles' });
    expect(isBusinessDay(losAngeles, friday)).toBe(true);
    expect(isBusinessDay(california, friday)).toBe(false);
  });

  it('knows a Bavarian holiday that Berlin does not have (Epiphany, 6 January)', () => {
    const opened = local(bavaria, '2026-01-05T17:00'); // Monday
    expect(responseDeadline(berlinState, opened, severity2).toISOString()).toBe('2026-01-06T14:00:00.000Z');
    expect(responseDeadline(bavaria, opened, severity2).toISOString()).toBe('2026-01-07T14:00:00.000Z');
  });

  it('leaves a day that is no public holiday in Bavaria a working day (8 December)', () => {
    const opened = local(bavaria, '2026-12-07T17:00'); // Monday; 8 Dec is a holiday in Austria, not here
    expect(responseDeadline(bavaria, opened, severity2).toISOString()).toBe('2026-12-08T14:00:00.000Z');
  });

  it('does not treat bank or observance days as holidays (Christmas Eve in Bavaria)', () => {
    expect(isBusinessDay(bavaria, DateTime.fromISO('2026-12-24', { zone: 'Europe/Berlin' }))).toBe(true);
  });

  it('runs a holiday stretch across the year end, on top of the configured holidays', () => {
    const opened = local(bavaria, '2026-12-23T10:00'); // Wednesday
    // No region: only weekends are off -> the 10th business day is Wednesday 6 January.
    expect(addBusinessDays(berlinPlain, opened, 10).toISOString()).toBe('2027-01-06T09:00:00.000Z');
    // DE-BE: 25/26 Dec and 1 Jan off -> Friday 8 January.
    expect(addBusinessDays(berlinState, opened, 10).toISOString()).toBe('2027-01-08T09:00:00.000Z');
    // DE-BY: also Epiphany 2027 (Wednesday) -> Monday 11 January.
    expect(addBusinessDays(bavaria, opened, 10).toISOString()).toBe('2027-01-11T09:00:00.000Z');
    // Plus the company's own closing days 24 and 31 December -> Wednesday 13 January.
    const bavarianCompany: BusinessCalendar = { ...bavaria, holidays: ['2026-12-24', '2026-12-31'] };
    expect(addBusinessDays(bavarianCompany, opened, 10).toISOString()).toBe('2027-01-13T09:00:00.000Z');
  });

  it('lists a region\'s public holiday dates per year', () => {
    const by2027 = regionHolidayDates('DE-BY', 2027);
    expect(by2027.has('2027-01-01')).toBe(true);
    expect(by2027.has('2027-01-06')).toBe(true);
    expect(by2027.has('2026-12-25')).toBe(false);
    expect(regionHolidayDates('de-be', 2027).has('2027-01-06')).toBe(false);
  });

  it('accepts country, country-state and country-state-region codes it knows, in any case', () => {
    for (const ok of ['DE', 'DE-BY', 'US-CA', 'us-ca', 'DE-BY-A']) expect(isHolidayRegion(ok), ok).toBe(true);
    for (const bad of ['', 'XX', 'DE-ZZ', 'DE-BY-ZZ', 'DE-', 'DE-BY-A-B', 'DE.BY']) expect(isHolidayRegion(bad), bad).toBe(false);
  });

  it('lists an unknown region as a configuration problem with the others', () => {
    let err: unknown;
    try {
      loadConfig({ env: {}, overrides: { calendar: { holidayRegion: 'XX-YY', timeZone: 'Mars/Olympus_Mons' } } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems.find((p) => p.startsWith('calendar.holidayRegion'))).toMatch(/unknown holiday region/);
    expect(problems.some((p) => p.startsWith('calendar.timeZone'))).toBe(true);
    expect(loadConfig({ env: {}, overrides: { calendar: { holidayRegion: 'DE-BY' } } }).settings.calendar.holidayRegion).toBe('DE-BY');
  });
});
