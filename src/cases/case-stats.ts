// `casemail stats --from --to`: the figures a support lead reads (docs/operator-json.md, stats).
// The queries read cases and auto_closed events through `db`; the arithmetic (shares, breaches,
// business-time percentiles) is the pure `computeCaseStats`, so its rules can be read in one place.
// First-response times are business minutes of the service calendar (businessMinutesBetween).
import { DateTime } from 'luxon';
import { sql } from 'kysely';
import type { DbOrTrx } from '../db/database.js';
import { businessMinutesBetween, type BusinessCalendar } from '../calendar/business-calendar.js';

export interface StatsCaseRow {
  number: number;
  severity: number;
  state: string;
  openedAt: Date;
  firstResponseDueAt: Date;
  firstResponseAt: Date | null;
  slaBreachedAt: Date | null;
}

export interface SeverityResponse {
  severity: number;
  /** Cases opened in the window. */
  opened: number;
  /** First answered by the due instant. */
  withinTarget: number;
  /** Answered after the due instant, or unanswered with the due instant passed (at `now`). */
  missed: number;
  /** Unanswered and not yet due: not counted in the share. */
  pending: number;
  /** withinTarget / (withinTarget + missed); null when neither. */
  shareWithinTarget: number | null;
}

export interface CaseStats {
  window: { from: string; to: string; timeZone: string };
  now: string;
  open: { total: number; bySeverity: Record<string, number>; byState: Record<string, number>; bySeverityAndState: { severity: number; state: string; count: number }[] };
  firstResponse: {
    perSeverity: SeverityResponse[];
    /** Business minutes from opening to the first response, cases opened in the window and answered. */
    businessMinutes: { count: number; median: number | null; p90: number | null };
  };
  breaches: { total: number; bySeverity: Record<string, number>; cases: number[] };
  autoClosed: { total: number; byReason: Record<string, number> };
}

/** Nearest-rank percentile (always an observed value): the ceil(p·n)-th smallest. */
export function nearestRank(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1]!;
}

const inWindow = (d: Date | null, w: { from: Date; to: Date }) => d !== null && d.getTime() >= w.from.getTime() && d.getTime() < w.to.getTime();
const tenth = (x: number) => Math.round(x * 10) / 10;

/**
 * The figures from rows. `opened`: every case opened in [from, to); `touched`: every case with a
 * breach instant or a first response in the window (for breaches); `open`: the cases not closed now;
 * `autoClosed`: the reasons of the auto_closed events in the window (a case closed twice counts twice).
 */
export function computeCaseStats(input: {
  window: { from: Date; to: Date };
  now: Date;
  calendar: BusinessCalendar;
  opened: readonly StatsCaseRow[];
  touched: readonly StatsCaseRow[];
  open: readonly { severity: number; state: string; count: number }[];
  autoClosed: readonly string[];
}): CaseStats {
  const { window: w, now, calendar } = input;
  const bySev = new Map<number, SeverityResponse>();
  const minutes: number[] = [];
  for (const c of input.opened) {
    const s = bySev.get(c.severity) ?? { severity: c.severity, opened: 0, withinTarget: 0, missed: 0, pending: 0, shareWithinTarget: null };
    bySev.set(c.severity, s);
    s.opened += 1;
    if (c.firstResponseAt) {
      if (c.firstResponseAt.getTime() <= c.firstResponseDueAt.getTime()) s.withinTarget += 1;
      else s.missed += 1;
      minutes.push(businessMinutesBetween(calendar, c.openedAt, c.firstResponseAt));
    } else if (c.firstResponseDueAt.getTime() <= now.getTime()) s.missed += 1;
    else s.pending += 1;
  }
  for (const s of bySev.values()) s.shareWithinTarget = s.withinTarget + s.missed > 0 ? s.withinTarget / (s.withinTarget + s.missed) : null;
  minutes.sort((a, b) => a - b);
  const median = nearestRank(minutes, 0.5);
  const p90 = nearestRank(minutes, 0.9);

  const breached = new Map<number, number>();
  for (const c of input.touched) {
    const late = c.firstResponseAt !== null && c.firstResponseAt.getTime() > c.firstResponseDueAt.getTime() && inWindow(c.firstResponseAt, w);
    if (inWindow(c.slaBreachedAt, w) || late) breached.set(c.number, c.severity);
  }
  const count = (keys: Iterable<string | number>) => {
    const out: Record<string, number> = {};
    for (const k of keys) out[String(k)] = (out[String(k)] ?? 0) + 1;
    return out;
  };
  const openBySev: Record<string, number> = {};
  const openByState: Record<string, number> = {};
  for (const o of input.open) {
    openBySev[String(o.severity)] = (openBySev[String(o.severity)] ?? 0) + o.count;
    openByState[o.state] = (openByState[o.state] ?? 0) + o.count;
  }
  return {
    window: { from: w.from.toISOString(), to: w.to.toISOString(), timeZone: calendar.timeZone },
    now: now.toISOString(),
    open: {
      total: input.open.reduce((n, o) => n + o.count, 0), bySeverity: openBySev, byState: openByState,
      bySeverityAndState: [...input.open].sort((a, b) => a.severity - b.severity || a.state.localeCompare(b.state)),
    },
    firstResponse: {
      perSeverity: [...bySev.values()].sort((a, b) => a.severity - b.severity),
      businessMinutes: { count: minutes.length, median: median === null ? null : tenth(median), p90: p90 === null ? null : tenth(p90) },
    },
    breaches: { total: breached.size, bySeverity: count(breached.values()), cases: [...breached.keys()].sort((a, b) => a - b) },
    autoClosed: { total: input.autoClosed.length, byReason: count(input.autoClosed) },
  };
}

/**
 * A `--from`/`--to` value as an instant: a date (YYYY-MM-DD) is that day's start in `timeZone`,
 * and as `--to` the next day's start (the day is included); an ISO instant is taken as it is.
 */
export function parseStatsBound(value: string, timeZone: string, end: boolean): Date | null {
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    const day = DateTime.fromISO(value, { zone: timeZone });
    if (!day.isValid) return null;
    return (end ? day.plus({ days: 1 }) : day).startOf('day').toJSDate();
  }
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value)) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

export async function caseStats(db: DbOrTrx, opts: { from: Date; to: Date; now: Date; calendar: BusinessCalendar }): Promise<CaseStats> {
  const cols = ['number', 'severity', 'state', 'opened_at', 'first_response_due_at', 'first_response_at', 'sla_breached_at'] as const;
  const [opened, touched, open, autoClosed] = await Promise.all([
    db.selectFrom('cases').select(cols).where('opened_at', '>=', opts.from).where('opened_at', '<', opts.to).execute(),
    db.selectFrom('cases').select(cols).where((w) => w.or([
      w.and([w('sla_breached_at', '>=', opts.from), w('sla_breached_at', '<', opts.to)]),
      w.and([w('first_response_at', '>=', opts.from), w('first_response_at', '<', opts.to)]),
    ])).execute(),
    db.selectFrom('cases').select(['severity', 'state', (eb) => eb.fn.countAll<string>().as('n')]).where('state', '<>', 'closed')
      .groupBy(['severity', 'state']).execute(),
    db.selectFrom('case_events').select(sql<string | null>`data->>'reason'`.as('reason'))
      .where('kind', '=', 'auto_closed').where('at', '>=', opts.from).where('at', '<', opts.to).execute(),
  ]);
  const row = (r: (typeof opened)[number]): StatsCaseRow => ({
    number: r.number, severity: r.severity, state: r.state, openedAt: r.opened_at, firstResponseDueAt: r.first_response_due_at,
    firstResponseAt: r.first_response_at, slaBreachedAt: r.sla_breached_at,
  });
  return computeCaseStats({
    window: { from: opts.from, to: opts.to }, now: opts.now, calendar: opts.calendar,
    opened: opened.map(row), touched: touched.map(row),
    open: open.map((o) => ({ severity: o.severity, state: o.state, count: Number(o.n) })),
    autoClosed: autoClosed.map((a) => a.reason ?? 'unknown'),
  });
}
