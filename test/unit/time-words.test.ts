// Dates, targets and durations in words, as the mail templates show them; formatLocal across the
// DST changes of Europe/Berlin and America/New_York (the hour that does not exist and the one that repeats).
import { describe, expect, it } from 'vitest';
import { formatLocal } from '../../src/calendar/business-calendar.js';
import { formatDuration, formatTarget } from '../../src/calendar/time-words.js';

describe('formatLocal', () => {
  it.each([
    ['2026-12-07T14:00:00Z', 'Europe/Berlin', 'Monday 7 December 2026, 15:00 (Europe/Berlin)'],
    ['2026-11-30T08:05:00Z', 'Europe/Berlin', 'Monday 30 November 2026, 09:05 (Europe/Berlin)'],
    // Midnight is 00:00, not 24:00; the date rolls over in the zone, not in UTC.
    ['2026-11-30T23:00:00Z', 'Europe/Berlin', 'Tuesday 1 December 2026, 00:00 (Europe/Berlin)'],
    ['2026-12-31T23:30:00Z', 'Pacific/Auckland', 'Friday 1 January 2027, 12:30 (Pacific/Auckland)'],
    ['2026-07-04T21:45:00Z', 'UTC', 'Saturday 4 July 2026, 21:45 (UTC)'],
  ])('%s in %s -> %s', (iso, zone, words) => {
    expect(formatLocal(new Date(iso), zone)).toBe(words);
  });

  it('follows Europe/Berlin across spring forward (29 March 2026, 02:00 -> 03:00)', () => {
    expect(formatLocal(new Date('2026-03-29T00:59:00Z'), 'Europe/Berlin')).toBe('Sunday 29 March 2026, 01:59 (Europe/Berlin)');
    // One real minute later the local clock has skipped 02:00-02:59.
    expect(formatLocal(new Date('2026-03-29T01:00:00Z'), 'Europe/Berlin')).toBe('Sunday 29 March 2026, 03:00 (Europe/Berlin)');
    expect(formatLocal(new Date('2026-03-30T07:00:00Z'), 'Europe/Berlin')).toBe('Monday 30 March 2026, 09:00 (Europe/Berlin)');
  });

  it('follows Europe/Berlin across fall back (25 October 2026, 03:00 -> 02:00): the repeated hour reads alike', () => {
    expect(formatLocal(new Date('2026-10-25T00:30:00Z'), 'Europe/Berlin')).toBe('Sunday 25 October 2026, 02:30 (Europe/Berlin)');
    expect(formatLocal(new Date('2026-10-25T01:30:00Z'), 'Europe/Berlin')).toBe('Sunday 25 October 2026, 02:30 (Europe/Berlin)');
    expect(formatLocal(new Date('2026-10-26T08:00:00Z'), 'Europe/Berlin')).toBe('Monday 26 October 2026, 09:00 (Europe/Berlin)');
  });

  it('follows America/New_York across spring forward (8 March 2026) and fall back (1 November 2026)', () => {
    expect(formatLocal(new Date('2026-03-08T06:59:00Z'), 'America/New_York')).toBe('Sunday 8 March 2026, 01:59 (America/New_York)');
    expect(formatLocal(new Date('2026-03-08T07:00:00Z'), 'America/New_York')).toBe('Sunday 8 March 2026, 03:00 (America/New_York)');
    expect(formatLocal(new Date('2026-11-01T05:30:00Z'), 'America/New_York')).toBe('Sunday 1 November 2026, 01:30 (America/New_York)');
    expect(formatLocal(new Date('2026-11-01T06:30:00Z'), 'America/New_York')).toBe('Sunday 1 November 2026, 01:30 (America/New_York)');
    expect(formatLocal(new Date('2026-11-01T07:00:00Z'), 'America/New_York')).toBe('Sunday 1 November 2026, 02:00 (America/New_York)');
    // The same instant on both sides of the Atlantic, in the weeks when the changes differ.
    expect(formatLocal(new Date('2026-03-20T14:00:00Z'), 'America/New_York')).toBe('Friday 20 March 2026, 10:00 (America/New_York)');
    expect(formatLocal(new Date('2026-03-20T14:00:00Z'), 'Europe/Berlin')).toBe('Friday 20 March 2026, 15:00 (Europe/Berlin)');
  });
});

describe('formatTarget', () => {
  it.each([
    [8 * 60, 'business', 'within 8 business hours'],
    [60, 'business', 'within 1 business hour'],
    [24 * 60, 'business', 'within 24 business hours'],
    [30, 'continuous', 'within 30 minutes'],
    [1, 'continuous', 'within 1 minute'],
    [60, 'continuous', 'within 1 hour'],
    [4 * 60, 'continuous', 'within 4 hours'],
    [90, 'continuous', 'within 90 minutes'],
    [150, 'continuous', 'within 2 hours 30 minutes'],
    [121, 'continuous', 'within 2 hours 1 minute'],
    [45, 'business', 'within 45 minutes of business time'],
    [150, 'business', 'within 2 hours 30 minutes of business time'],
  ] as const)('%d minutes on a %s clock -> %s', (targetMinutes, clock, words) => {
    expect(formatTarget({ targetMinutes, clock })).toBe(words);
  });
});

describe('formatDuration', () => {
  const min = 60_000;
  const hour = 60 * min;
  const day = 24 * hour;
  it.each([
    [2 * hour + 5 * min, '2 hours 5 minutes'],
    [3 * day + 4 * hour, '3 days 4 hours'],
    [min, '1 minute'],
    [0, '0 minutes'],
    [hour, '1 hour'],
    [day, '1 day'],
    [2 * day + 5 * min, '2 days'],
    // The third unit is dropped, not rounded into the second.
    [3 * day + 4 * hour + 50 * min, '3 days 4 hours'],
    [day + 23 * hour + 59 * min, '1 day 23 hours'],
    // Seconds round to the nearest minute.
    [29_999, '0 minutes'],
    [30_000, '1 minute'],
    [59 * min + 40_000, '1 hour'],
    [-5 * min, '0 minutes'],
  ])('%d ms -> %s', (ms, words) => {
    expect(formatDuration(ms)).toBe(words);
  });
});
