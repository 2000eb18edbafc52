// Business-time arithmetic: working days, working hours and holidays in one time zone.
// Pure: instants in, instants out (luxon does the zone math, so DST days and year ends are right).
// Business time inside a window is real elapsed time: a 00:00-24:00 window on a DST day is 23 or 25 h.
import { DateTime } from 'luxon';
import { regionHolidayDates } from './region-holidays.js';

export interface BusinessCalendar {
  timeZone: string;
  /** ISO weekdays, 1 = Monday ... 7 = Sunday. */
  workingDays: readonly number[];
  /** "HH:MM" local start and end of the working day; "24:00" is the end of the day. */
  workingHours: { start: string; end: string };
  /** Local dates "YYYY-MM-DD" that are not working days. */
  holidays: ReadonlySet<string> | readonly string[];
  /** A date-holidays region ("DE-BY", "US-CA", "DE") whose public holidays are days off too. */
  holidayRegion?: string | null;
}

const MAX_DAYS_SCANNED = 3660;

/** Is this an IANA time zone the runtime knows? */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

function isHoliday(cal: BusinessCalendar, isoDate: string): boolean {
  const h = cal.holidays;
  if (h instanceof Set ? h.has(isoDate) : (h as readonly string[]).includes(isoDate)) return true;
  // The region's dates are its own calendar dates, read as local dates of this calendar's zone,
  // exactly like `holidays`: Bavaria's 6 January is the calendar's 6 January.
  return !!cal.holidayRegion && regionHolidayDates(cal.holidayRegion, Number(isoDate.slice(0, 4))).has(isoDate);
}

/** Is this local date a working day (weekday and not a holiday)? */
export function isBusinessDay(cal: BusinessCalendar, day: DateTime): boolean {
  return cal.workingDays.includes(day.weekday) && !isHoliday(cal, day.toISODate() ?? '');
}

/** What the arithmetic needs to know about one local day; computed once per calendar and day. */
interface DayInfo {
  business: boolean;
  /** Working window as instants (meaningless when not a business day). */
  start: number;
  end: number;
  /** The instant the next local day starts. */
  nextDayStart: number;
}

const MEMO_LIMIT = 20_000;
const dayMemo = new WeakMap<BusinessCalendar, Map<number, DayInfo>>();
const bucketMemo = new WeakMap<BusinessCalendar, Map<number, number>>();
/** Zone offsets change only at quarter-hour boundaries, so the local day of an instant is fixed within one. */
const BUCKET_MS = 15 * 60_000;

function memoOf<K, V>(store: WeakMap<BusinessCalendar, Map<K, V>>, cal: BusinessCalendar): Map<K, V> {
  let m = store.get(cal);
  if (!m || m.size > MEMO_LIMIT) {
    m = new Map();
    store.set(cal, m);
  }
  return m;
}

/** Start (as an instant) of the local day holding `at`. */
function localDayStart(cal: BusinessCalendar, at: number): number {
  const memo = memoOf(bucketMemo, cal);
  const bucket = Math.floor(at / BUCKET_MS);
  let start = memo.get(bucket);
  if (start === undefined) {
    const dt = DateTime.fromMillis(bucket * BUCKET_MS, { zone: cal.timeZone });
    if (!dt.isValid) throw new Error(`invalid time zone ${cal.timeZone}`);
    start = dt.startOf('day').toMillis();
    memo.set(bucket, start);
  }
  return start;
}

function dayInfo(cal: BusinessCalendar, dayStart: number): DayInfo {
  const memo = memoOf(dayMemo, cal);
  let info = memo.get(dayStart);
  if (!info) {
    const day = DateTime.fromMillis(dayStart, { zone: cal.timeZone });
    const s = minutesOf(cal.workingHours.start);
    const e = minutesOf(cal.workingHours.end);
    const next = day.plus({ days: 1 }).startOf('day');
    // Built from local wall-clock time so 08:00 stays 08:00 across DST changes.
    const start = day.set({ hour: Math.floor(s / 60), minute: s % 60 }).toMillis();
    const end = e >= 24 * 60 ? next.toMillis() : day.set({ hour: Math.floor(e / 60), minute: e % 60 }).toMillis();
    info = { business: isBusinessDay(cal, day), start, end, nextDayStart: next.toMillis() };
    memo.set(dayStart, info);
  }
  return info;
}

/** The instant `minutes` of business time after `from`. Zero minutes gives the next business instant. */
export function addBusinessMinutes(cal: BusinessCalendar, from: Date, minutes: number): Date {
  let remaining = Math.max(0, minutes) * 60_000;
  let cursor = from.getTime();
  let day = localDayStart(cal, cursor);
  for (let i = 0; i < MAX_DAYS_SCANNED; i++) {
    const w = dayInfo(cal, day);
    if (w.business) {
      if (cursor < w.start) cursor = w.start;
      if (cursor < w.end) {
        const available = w.end - cursor;
        if (remaining <= available) return new Date(cursor + remaining);
        remaining -= available;
        cursor = w.end;
      }
    }
    day = w.nextDayStart;
    cursor = Math.max(cursor, day);
  }
  throw new Error(`no business time within ${MAX_DAYS_SCANNED} days of ${from.toISOString()}: check the calendar`);
}

/** The next instant that is business time (`from` itself when it already is). */
export function nextBusinessStart(cal: BusinessCalendar, from: Date): Date {
  return addBusinessMinutes(cal, from, 0);
}

/**
 * `days` business days after `from`: the same local time of day on the `days`-th following
 * business day (moved into the working window when outside it). "10 business days after Friday
 * 15:00" is Friday two weeks later at 15:00 when no holiday intervenes.
 */
export function addBusinessDays(cal: BusinessCalendar, from: Date, days: number): Date {
  // Days are walked on the memoised day table (the sweep asks this for every waiting case); luxon
  // only reads the starting wall-clock time and puts it on the day found.
  let day = localDayStart(cal, from.getTime());
  let counted = 0;
  for (let i = 0; counted < days; i++) {
    if (i > MAX_DAYS_SCANNED) throw new Error(`no ${days} business days within ${MAX_DAYS_SCANNED} days: check the calendar`);
    day = dayInfo(cal, day).nextDayStart;
    if (dayInfo(cal, day).business) counted++;
  }
  const start = DateTime.fromJSDate(from, { zone: cal.timeZone });
  const target = DateTime.fromMillis(day, { zone: cal.timeZone })
    .set({ hour: start.hour, minute: start.minute, second: start.second, millisecond: start.millisecond });
  const w = dayInfo(cal, day);
  const t = Math.min(Math.max(target.toMillis(), w.start), w.end);
  return new Date(t);
}

/** A response deadline: continuous clocks count every minute; business clocks start at the next business time. */
export function responseDeadline(cal: BusinessCalendar, openedAt: Date, target: { targetMinutes: number; clock: 'continuous' | 'business' }): Date {
  if (target.clock === 'continuous') return new Date(openedAt.getTime() + target.targetMinutes * 60_000);
  return addBusinessMinutes(cal, openedAt, target.targetMinutes);
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/**
 * An instant in words in a zone: "Monday 7 December 2026, 15:00 (Europe/Berlin)" (en-GB order, 24 h).
 * In the hour a DST change repeats, two instants read alike; the zone name is what mail readers know.
 */
export function formatLocal(at: Date, timeZone: string): string {
  // The words name the minute: every instant of one minute reads alike (today's zones all have
  // whole-minute offsets). Mail written together mostly names the same few minutes, and Intl's
  // formatToParts costs ~50 µs a call, twice for every new case.
  const key = `${timeZone} ${Math.floor(at.getTime() / 60_000)}`;
  let words = formatted.get(key);
  if (words === undefined) {
    words = formatLocalUncached(at, timeZone);
    if (formatted.size >= 1_000) formatted.clear();
    formatted.set(key, words);
  }
  return words;
}

const formatted = new Map<string, string>();

function formatLocalUncached(at: Date, timeZone: string): string {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  const p = Object.fromEntries(f.formatToParts(at).map((x) => [x.type, x.value]));
  return `${p.weekday} ${p.day} ${p.month} ${p.year}, ${p.hour}:${p.minute} (${timeZone})`;
}

/**
 * Business minutes from `from` to `to` (what addBusinessMinutes(cal, from, m) would need to reach
 * `to`): only the working windows of business days count. Zero when `to` is not after `from`.
 * Not rounded, so a response 90 seconds in is 1.5 minutes.
 */
export function businessMinutesBetween(cal: BusinessCalendar, from: Date, to: Date): number {
  const end = to.getTime();
  let cursor = from.getTime();
  if (end <= cursor) return 0;
  let total = 0;
  let day = localDayStart(cal, cursor);
  // The loop runs once per local day; a span of many years is a caller's mistake, not a stats window.
  for (let i = 0; day < end; i++) {
    if (i > MAX_DAYS_SCANNED * 3) throw new Error(`businessMinutesBetween: span of more than ${MAX_DAYS_SCANNED * 3} days`);
    const w = dayInfo(cal, day);
    if (w.business) {
      const s = Math.max(cursor, w.start);
      const e = Math.min(end, w.end);
      if (e > s) total += e - s;
    }
    day = w.nextDayStart;
    cursor = Math.max(cursor, day);
  }
  return total / 60_000;
}
