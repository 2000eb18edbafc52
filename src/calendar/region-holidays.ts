// Public holidays of a country or region ("DE", "DE-BY", "US-CA", "DE-BY-A"), from date-holidays.
// Pure: date-holidays computes from bundled rules, no I/O and no clock. Results are memoised per
// region and year, so the business-calendar loop asks a Set, not the rule engine.
import Holidays from 'date-holidays';

const MS_PER_DAY = 86_400_000;
const MEMO_LIMIT = 200;

/** Region code -> the date-holidays [country, state?, region?] it names, or null when unknown. */
function resolve(code: string): string[] | null {
  const parts = code.trim().split('-');
  if (parts.length < 1 || parts.length > 3 || parts.some((p) => p === '')) return null;
  const lib = new Holidays();
  // The library's keys are mostly upper case but not all ("57" in FR); match without case.
  const pick = (keys: Record<string, string> | undefined, wanted: string): string | null =>
    Object.keys(keys ?? {}).find((k) => k.toLowerCase() === wanted.toLowerCase()) ?? null;
  const country = pick(lib.getCountries(), parts[0]!);
  if (!country) return null;
  if (parts.length === 1) return [country];
  const state = pick(lib.getStates(country), parts[1]!);
  if (!state) return null;
  if (parts.length === 2) return [country, state];
  const region = pick(lib.getRegions(country, state), parts[2]!);
  return region ? [country, state, region] : null;
}

/** Does date-holidays know this region code ("DE", "DE-BY", "US-CA")? */
export function isHolidayRegion(code: string): boolean {
  return resolve(code) !== null;
}

const engines = new Map<string, Holidays>();
const years = new Map<string, ReadonlySet<string>>();

function engineFor(code: string): Holidays {
  let engine = engines.get(code);
  if (!engine) {
    const ids = resolve(code);
    if (!ids) throw new Error(`unknown holiday region ${code}`);
    // Only days off for everyone: bank, school, optional and observance days stay working days.
    const [country, state, region] = ids;
    engine = new Holidays({ country: country!, state, region }, { types: ['public'] });
    engines.set(code, engine);
  }
  return engine;
}

/** The local dates "YYYY-MM-DD" of `year` that `code` has public holidays on (incl. substitute days). */
export function regionHolidayDates(code: string, year: number): ReadonlySet<string> {
  const key = `${code}|${year}`;
  const known = years.get(key);
  if (known) return known;
  const engine = engineFor(code);
  const dates = new Set<string>();
  const prefix = `${year}-`;
  // A holiday of the year before can run into this one (a two-day New Year starting on 31 Dec).
  for (const h of [...engine.getHolidays(year - 1), ...engine.getHolidays(year)]) {
    if (h.type !== 'public') continue;
    // `date` is the holiday's own calendar date; days are counted from it, so a holiday that starts
    // at sunset the evening before (Islamic calendars) still covers its named days, and a part-day
    // holiday counts as the whole day (business hours are not split).
    const first = Date.parse(`${h.date.slice(0, 10)}T00:00:00Z`);
    const days = Math.max(1, Math.round((h.end.getTime() - h.start.getTime()) / MS_PER_DAY));
    for (let i = 0; i < days; i++) {
      const iso = new Date(first + i * MS_PER_DAY).toISOString().slice(0, 10);
      if (iso.startsWith(prefix)) dates.add(iso);
    }
  }
  if (years.size > MEMO_LIMIT) years.clear();
  years.set(key, dates);
  return dates;
}
