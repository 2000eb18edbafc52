// Durations in words for mail (interim; the templates work replaces it). Pure.
export function formatDuration(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  const unit = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;
  if (d > 0) return h > 0 ? `${unit(d, 'day')} ${unit(h, 'hour')}` : unit(d, 'day');
  if (h > 0) return m > 0 ? `${unit(h, 'hour')} ${unit(m, 'minute')}` : unit(h, 'hour');
  return unit(m, 'minute');
}

export function formatTarget(t: { targetMinutes: number; clock: 'continuous' | 'business' }): string {
  const business = t.clock === 'business' ? 'business ' : '';
  if (t.targetMinutes % 60 === 0) {
    const h = t.targetMinutes / 60;
    return `within ${h} ${business}hour${h === 1 ? '' : 's'}`;
  }
  return `within ${t.targetMinutes} ${business}minutes`;
}
