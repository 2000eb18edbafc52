// The operator's view: `casemail case show N`, `outbox list|retry`, `quarantine list|show|retry`
// and `stats`. Each has --json (docs/operator-json.md) and a readable form otherwise; every value
// from mail goes through terminal-text.ts. Exit 0 done, 1 not found or refused, 2 usage.
// I/O: the database, and for `quarantine retry` the intake (MessageHandler, as `held release`).
import { caseView, formatCaseTimeline } from '../cases/case-view.js';
import { caseStats, parseStatsBound, type CaseStats } from '../cases/case-stats.js';
import { calendarOf } from '../cases/case-rules.js';
import { describeRelease } from '../cases/held-release.js';
import { MessageHandler } from '../cases/message-handler.js';
import { listQuarantined, retryQuarantined, showQuarantined, type QuarantineRetryOutcome } from '../cases/quarantine-store.js';
import { formatDuration } from '../calendar/time-words.js';
import { createUnderstandPool } from '../ingest/understand-pool.js';
import { listOutbox, retryOutboxRow } from '../notify/outbox-store.js';
import { loadContext, openForCommand, type AppContext, type GlobalOptions } from './context.js';
import { stringifyForTerminal, terminalLine } from './terminal-text.js';
import type { DatabaseHandle } from '../db/database.js';

function positiveId(command: string, what: string, value: string): number | null {
  const id = Number(String(value).replace(/^#/, ''));
  if (/^#?\d+$/.test(value) && Number.isSafeInteger(id) && id > 0) return id;
  process.stderr.write(`casemail ${command}: "${terminalLine(String(value))}" is not a ${what}\n`);
  return null;
}

/** Who did it, for audit events: the operator's login name, else 'operator'. */
function operator(): string {
  return process.env.USER?.trim() || 'operator';
}

/** A read command: quiet context, an existing database only. */
async function readOnly(opts: GlobalOptions, command: string): Promise<{ ctx: AppContext; handle: DatabaseHandle } | null> {
  const ctx = loadContext(opts, 'stderr', { quiet: true });
  if (!ctx) return null;
  const handle = await openForCommand(ctx, command, { migrate: 'auto', create: 'existing' });
  return handle ? { ctx, handle } : null;
}

const col = (value: string, width: number) => (value.length > width ? `${value.slice(0, width - 1)}…` : value.padEnd(width));

export async function runCaseShow(opts: GlobalOptions, num: string, json = false): Promise<number> {
  const n = positiveId('case show', 'case number', num);
  if (n === null) return 2;
  const open = await readOnly(opts, 'case show');
  if (!open) return 1;
  const { ctx, handle } = open;
  try {
    const settings = ctx.config.settings;
    const shown = await caseView(handle.db, n, { supportAddress: settings.addresses.support });
    if (!shown) {
      process.stderr.write(`casemail case show: no case #${n}\n`);
      return 1;
    }
    if (json) process.stdout.write(stringifyForTerminal(shown) + '\n');
    else process.stdout.write(formatCaseTimeline(shown, { timeZone: settings.calendar.timeZone, prefix: settings.caseNumber.prefix, now: new Date(), esc: terminalLine }));
    return 0;
  } finally {
    await handle.close();
  }
}

export async function runOutboxList(opts: GlobalOptions, o: { failed?: boolean; json?: boolean; limit?: string }): Promise<number> {
  const limit = o.limit === undefined ? 100 : Number(o.limit);
  if (!Number.isInteger(limit) || limit <= 0 || limit > 10_000) {
    process.stderr.write(`casemail outbox list: --limit "${terminalLine(String(o.limit))}" is not a number from 1 to 10000\n`);
    return 2;
  }
  const open = await readOnly(opts, 'outbox list');
  if (!open) return 1;
  try {
    const rows = await listOutbox(open.handle.db, { failed: o.failed === true, limit });
    if (o.json) {
      process.stdout.write(stringifyForTerminal(rows) + '\n');
      return 0;
    }
    if (rows.length === 0) {
      process.stdout.write(o.failed ? 'no failed or held-back mail\n' : 'the outbox is empty\n');
      return 0;
    }
    process.stdout.write(`${'id'.padStart(6)}  ${col('created', 20)}  ${col('status', 9)}  ${col('kind', 22)}  ${col('case', 8)}  ${col('to', 28)}  ${'tries'.padStart(5)}  ${col('next attempt', 20)}  last error\n`);
    for (const r of rows) {
      const c = r.caseNumber !== null ? `#${r.caseNumber}` : '-';
      const next = r.status === 'pending' ? r.nextAttemptAt.slice(0, 19) + 'Z' : '-';
      process.stdout.write(`${String(r.id).padStart(6)}  ${col(r.createdAt.slice(0, 19) + 'Z', 20)}  ${col(r.status, 9)}  ${col(terminalLine(r.kind), 22)}  ${col(c, 8)}  ${col(terminalLine(r.to.join(', ')), 28)}  ${String(r.attempts).padStart(5)}  ${col(next, 20)}  ${terminalLine(r.lastError ?? '')}\n`);
    }
    return 0;
  } finally {
    await open.handle.close();
  }
}

export async function runOutboxRetry(opts: GlobalOptions, value: string): Promise<number> {
  const id = positiveId('outbox retry', 'outbox id', value);
  if (id === null) return 2;
  const ctx = loadContext(opts);
  if (!ctx) return 1;
  const handle = await openForCommand(ctx, 'outbox retry', { migrate: 'auto', create: 'existing' });
  if (!handle) return 1;
  try {
    const r = await retryOutboxRow(handle.db, id, { now: new Date(), actor: operator() });
    if (!r.ok) {
      const why = r.why === 'not_found' ? `no outbox row ${id}`
        : r.status === 'sent' ? `outbox row ${id} was sent; it is not sent twice` : `outbox row ${id} is already pending`;
      process.stderr.write(`casemail outbox retry: ${why}\n`);
      return 1;
    }
    process.stdout.write(`outbox row ${id} (${r.previous}) queued again: the running service sends it on its next poll\n`);
    return 0;
  } finally {
    await handle.close();
  }
}

export async function runQuarantineList(opts: GlobalOptions, json: boolean): Promise<number> {
  const open = await readOnly(opts, 'quarantine list');
  if (!open) return 1;
  try {
    const rows = await listQuarantined(open.handle.db);
    if (json) {
      process.stdout.write(stringifyForTerminal(rows) + '\n');
      return 0;
    }
    if (rows.length === 0) process.stdout.write('no quarantined messages\n');
    for (const r of rows) {
      process.stdout.write(`${String(r.id).padStart(6)}  ${r.receivedAt}  ${col(terminalLine(r.from ?? '(no sender)'), 30)}  ${col(terminalLine(r.reason ?? ''), 9)}  ${col(terminalLine(r.subject ?? ''), 40)}  ${terminalLine(r.error ?? '')}\n`);
    }
    return 0;
  } finally {
    await open.handle.close();
  }
}

export async function runQuarantineShow(opts: GlobalOptions, value: string, json: boolean): Promise<number> {
  const id = positiveId('quarantine show', 'message id', value);
  if (id === null) return 2;
  const open = await readOnly(opts, 'quarantine show');
  if (!open) return 1;
  try {
    const m = await showQuarantined(open.handle.db, id);
    if (!m) {
      process.stderr.write(`casemail quarantine show: no quarantined message ${id}\n`);
      return 1;
    }
    if (json) {
      process.stdout.write(stringifyForTerminal(m) + '\n');
      return 0;
    }
    const line = (label: string, v: string) => process.stdout.write(`${label.padEnd(10)}${terminalLine(v)}\n`);
    line('message', String(m.id));
    line('status', m.status === 'released' ? `released (${m.statusReason ?? ''})` : m.status);
    line('received', `${m.receivedAt} via ${m.source}${m.mailbox ? ` (${m.mailbox})` : ''}`);
    line('size', m.size === null ? 'not stored' : `${m.size} bytes${m.headersOnly ? ' (headers only: the body was over the limit)' : ''}`);
    line('reason', m.reason ?? '');
    line('error', m.error ?? '');
    process.stdout.write('\n');
    for (const h of m.headers) process.stdout.write(`${terminalLine(h.name)}: ${terminalLine(h.value)}\n`);
    return 0;
  } finally {
    await open.handle.close();
  }
}

function describeRetry(id: number, outcome: QuarantineRetryOutcome): string {
  if (!outcome.ok) {
    if (outcome.why === 'not_found') return `no quarantined message ${id}`;
    if (outcome.why === 'not_quarantined') return `message ${id} is not quarantined (it is ${outcome.status})`;
    if (outcome.why === 'headers_only') return `message ${id} was over the size limit and only its headers were kept; nothing to retry`;
  }
  if (outcome.ok && outcome.result.status === 'quarantined') return `message ${id} failed again and stays quarantined`;
  return describeRelease(id, outcome as Parameters<typeof describeRelease>[1]).replace(' released: ', ' retried: ').replace(' not released: ', ' not retried: ');
}

export async function runQuarantineRetry(opts: GlobalOptions, value: string): Promise<number> {
  const id = positiveId('quarantine retry', 'message id', value);
  if (id === null) return 2;
  const ctx = loadContext(opts);
  if (!ctx) return 1;
  const handle = await openForCommand(ctx, 'quarantine retry', { migrate: 'auto', create: 'existing' });
  if (!handle) return 1;
  const understanding = createUnderstandPool(ctx.config.settings, ctx.logger, 1);
  try {
    const intake = new MessageHandler({
      db: handle.db, settings: ctx.config.settings, logger: ctx.logger, clock: () => new Date(), replyTokenSecret: ctx.config.secrets.replyTokenSecret,
      parse: (r) => understanding.parse(r),
    });
    const outcome = await retryQuarantined(handle.db, intake, id, new Date());
    const text = terminalLine(describeRetry(id, outcome));
    // Failing again, or the intake finding it stored already, changed nothing: refused.
    if (!outcome.ok || outcome.result.status === 'duplicate' || outcome.result.status === 'quarantined') {
      process.stderr.write(`casemail quarantine retry: ${text}\n`);
      return 1;
    }
    process.stdout.write(`${text}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`casemail quarantine retry: message ${id} not retried: ${terminalLine((err as Error).message)}\n`);
    return 1;
  } finally {
    await understanding.close();
    await handle.close().catch(() => {});
  }
}

const percent = (x: number | null) => (x === null ? '-' : `${(x * 100).toFixed(1)}%`);
const businessTime = (minutes: number | null) => (minutes === null ? '-' : `${minutes} min (${formatDuration(minutes * 60_000)})`);
const counts = (r: Record<string, number>) => Object.entries(r).map(([k, n]) => `${k}: ${n}`).join(', ') || 'none';

/** The readable form of `casemail stats`. */
export function formatStats(s: CaseStats): string {
  const out: string[] = [`Cases from ${s.window.from} to ${s.window.to} (${s.window.timeZone}); now ${s.now}`, ''];
  out.push(`Open cases now: ${s.open.total}`);
  out.push(`  by severity: ${counts(s.open.bySeverity)}`);
  out.push(`  by state:    ${counts(s.open.byState)}`);
  for (const o of s.open.bySeverityAndState) out.push(`  severity ${o.severity}  ${o.state.padEnd(20)} ${o.count}`);
  out.push('', 'First response, cases opened in the window:');
  out.push(`  ${'severity'.padEnd(9)} ${'opened'.padStart(6)} ${'within'.padStart(6)} ${'missed'.padStart(6)} ${'pending'.padStart(7)}  within target`);
  for (const r of s.firstResponse.perSeverity) {
    out.push(`  ${String(r.severity).padEnd(9)} ${String(r.opened).padStart(6)} ${String(r.withinTarget).padStart(6)} ${String(r.missed).padStart(6)} ${String(r.pending).padStart(7)}  ${percent(r.shareWithinTarget)}`);
  }
  const bm = s.firstResponse.businessMinutes;
  out.push(`  business time to first response (${bm.count} answered): median ${businessTime(bm.median)}, p90 ${businessTime(bm.p90)}`);
  out.push('', `SLA breaches in the window: ${s.breaches.total}${s.breaches.total ? ` (by severity: ${counts(s.breaches.bySeverity)}; cases ${s.breaches.cases.map((n) => `#${n}`).join(', ')})` : ''}`);
  out.push(`Auto-closed in the window: ${s.autoClosed.total}${s.autoClosed.total ? ` (${counts(s.autoClosed.byReason)})` : ''}`);
  return out.join('\n') + '\n';
}

export async function runStats(opts: GlobalOptions, o: { from?: string; to?: string; json?: boolean; now?: string }): Promise<number> {
  if (!o.from || !o.to) {
    process.stderr.write('casemail stats: --from DATE and --to DATE are required (YYYY-MM-DD, the --to day included, or ISO instants)\n');
    return 2;
  }
  const ctx = loadContext(opts, 'stderr', { quiet: true });
  if (!ctx) return 1;
  const calendar = calendarOf(ctx.config.settings);
  const from = parseStatsBound(o.from, calendar.timeZone, false);
  const to = parseStatsBound(o.to, calendar.timeZone, true);
  const now = o.now === undefined ? new Date() : parseStatsBound(o.now, calendar.timeZone, false);
  for (const [name, given, parsed] of [['--from', o.from, from], ['--to', o.to, to], ['--now', o.now, now]] as const) {
    if (given !== undefined && parsed === null) {
      process.stderr.write(`casemail stats: ${name} "${terminalLine(given)}" is not a date (YYYY-MM-DD) or ISO instant\n`);
      return 2;
    }
  }
  if (from!.getTime() >= to!.getTime()) {
    process.stderr.write('casemail stats: --from must be before --to\n');
    return 2;
  }
  const handle = await openForCommand(ctx, 'stats', { migrate: 'auto', create: 'existing' });
  if (!handle) return 1;
  try {
    const stats = await caseStats(handle.db, { from: from!, to: to!, now: now!, calendar });
    process.stdout.write(o.json ? stringifyForTerminal(stats) + '\n' : formatStats(stats));
    return 0;
  } finally {
    await handle.close();
  }
}
