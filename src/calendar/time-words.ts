// Targets and durations in words for mail ("within 8 business hours", "2 hours 5 minutes").
// Pure: numbers in, text out; the dates themselves are written by formatLocal in business-calendar.ts.

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/**
 * A first-response target as a person says it. Whole hours are hours ("within 8 business hours",
 * "within 1 hour"); under two hours otherwise minutes ("within 30 minutes", "within 90 minutes");
 * from two hours on hours and minutes ("within 2 hours 30 minutes"). A business clock that is not
 * in whole hours says "of business time", since "business minutes" is not something people say.
 */
export function formatTarget(target: { targetMinutes: number; clock: 'continuous' | 'business' }): string {
  const minutes = Math.max(0, Math.round(target.targetMinutes));
  const business = target.clock === 'business';
  if (minutes > 0 && minutes % 60 === 0) return `within ${plural(minutes / 60, business ? 'business hour' : 'hour')}`;
  const amount = minutes < 120 ? plural(minutes, 'minute') : `${plural(Math.floor(minutes / 60), 'hour')} ${plural(minutes % 60, 'minute')}`;
  return `within ${amount}${business ? ' of business time' : ''}`;
}

/**
 * Elapsed wall-clock time in at most two adjacent units: "3 days 4 hours", "2 hours 5 minutes",
 * "1 minute", "0 minutes". The duration is rounded to the nearest minute first; the unit below the
 * second is dropped (3 days 4 hours 50 minutes -> "3 days 4 hours"), and a zero second unit is not
 * said ("2 days", not "2 days 0 hours"). A day is 24 hours here: this is elapsed time, not business
 * days. Negative durations read as "0 minutes" (callers pass time left or time overdue, never both).
 */
export function formatDuration(ms: number): string {
  const total = Number.isFinite(ms) ? Math.max(0, Math.round(ms / 60_000)) : 0;
  const days = Math.floor(total / 1440);
  const hours = Math.floor((total % 1440) / 60);
  const minutes = total % 60;
  if (days > 0) return hours > 0 ? `${plural(days, 'day')} ${plural(hours, 'hour')}` : plural(days, 'day');
  if (hours > 0) return minutes > 0 ? `${plural(hours, 'hour')} ${plural(minutes, 'minute')}` : plural(hours, 'hour');
  return plural(minutes, 'minute');
}
