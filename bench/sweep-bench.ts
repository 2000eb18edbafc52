// The timer sweep at scale: a throwaway PostgreSQL database with 1,000,000 cases (900,000 closed,
// 100,000 open, exactly 1,000 due at the bench's `now`: SLA warnings, breaches, reminders and
// auto-closes), each with a requester and one inbound message. Times a tick with nothing due, the
// tick that handles the 1,000 and a second tick at the same instant, checks what was queued, and
// prints the plans of the due and lock statements. I/O: the server DATABASE_URL names (default
// postgres://postgres@127.0.0.1:5432/test), where it creates and drops casemail_bench_sweep_<pid>.
import { createHash } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';
import pg from 'pg';
import { loadConfig } from '../src/config/config.js';
import { openDatabase, migrateToLatest, type Db } from '../src/db/database.js';
import { importDirectory } from '../src/directory/directory-store.js';
import { addBusinessDays } from '../src/calendar/business-calendar.js';
import { calendarOf, reminderInstants } from '../src/cases/case-rules.js';
import { dueCasesQuery, lockTimerFactsQuery, sweep } from '../src/schedule/sweep.js';
import { silentLogger } from '../src/log/logger.js';
import type { AddRow } from './table.js';
import { onCleanup } from './cleanup.js';

const TOTAL = 1_000_000;
const CLOSED = 900_000;
const ORGS = 10;
const CONTACTS_PER_ORG = 100;
const ENGINEERS = 20;
/** A Wednesday afternoon (UTC, the default calendar): every due instant lies in the 6 hours before. */
const NOW = new Date('2026-12-09T14:00:00Z');
/** Before every due instant, after every past instant that is no longer live: a tick with nothing due. */
const QUIET = new Date(NOW.getTime() - 6 * 3_600_000);
const RUNS = 20;
/** openDatabase's default: the sweep shares the service's pool. */
const POOL = 10;

/** How the 1,000 due cases divide, and what each queues (one mail each). */
const DUE_MIX = { warning: 250, breach: 250, infoReminder: 150, confirmationReminder: 100, infoClose: 125, confirmationClose: 125 } as const;
const DUE = Object.values(DUE_MIX).reduce((a, b) => a + b, 0);
const EXPECTED_MAIL: Record<string, number> = {
  'sla-warning': DUE_MIX.warning, 'sla-breach': DUE_MIX.breach, 'info-reminder': DUE_MIX.infoReminder,
  'confirmation-reminder': DUE_MIX.confirmationReminder, 'auto-close-notice': DUE_MIX.infoClose + DUE_MIX.confirmationClose,
};

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = performance.now();
  const value = await f();
  return { ms: performance.now() - t, value };
}

async function serverVersion(db: Db): Promise<string> {
  return (await sql<{ v: string }>`select current_setting('server_version') as v`.execute(db)).rows[0]!.v;
}

/** Puts the due cases back as they were before the tick, and empties what it wrote. */
async function restoreDue(db: Db): Promise<void> {
  await sql`delete from outbox`.execute(db);
  await sql`delete from case_events`.execute(db);
  // What the sweep changes on a case (an update: deleting the rows would take their participants along).
  await sql`
    update cases c set state = s.state, state_entered_at = s.state_entered_at, closed_at = s.closed_at, close_reason = s.close_reason,
           auto_close_at = s.auto_close_at, auto_close_reason = s.auto_close_reason, next_reminder_at = s.next_reminder_at,
           sla_warned_at = s.sla_warned_at, sla_breached_at = s.sla_breached_at, updated_at = s.updated_at
      from bench_due_snapshot s where c.id = s.id`.execute(db);
  await sql`vacuum analyze cases`.execute(db);
}

export async function runSweepBench(log: (line: string) => void, add: AddRow = () => undefined): Promise<void> {
  const baseUrl = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const dbName = `casemail_bench_sweep_${process.pid}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  const dropOnInterrupt = onCleanup(`database ${dbName}`, () => admin.query(`drop database if exists ${dbName} with (force)`));
  const url = new URL(baseUrl);
  url.pathname = `/${dbName}`;
  // Installed before the pool connects: each connection binds its client's query method once.
  const profile = process.env.BENCH_SWEEP_PROFILE ? profileStatements() : null;
  const handle = await openDatabase({ databaseUrl: url.toString(), poolSize: POOL });
  const { db } = handle;
  try {
    const settings = loadConfig({ env: {} }).settings;
    await migrateToLatest(db);
    const loadSeconds = (await timed(() => load(db, settings, log))).ms / 1000;
    log(`sweep: loaded ${TOTAL.toLocaleString('en')} cases (${CLOSED.toLocaleString('en')} closed, ${(TOTAL - CLOSED).toLocaleString('en')} open, ${DUE} due at ${NOW.toISOString()}) with participants and messages in ${loadSeconds.toFixed(1)} s`);

    const deps = { db, settings, logger: silentLogger };
    const quiet: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await timed(() => sweep(deps, QUIET));
      quiet.push(r.ms);
      if (r.value.due !== 0) throw new Error(`sweep bench: ${r.value.due} cases due at the quiet instant ${QUIET.toISOString()}`);
    }

    // The plans first: at NOW the due query still finds the 1,000.
    const plans: [string, string[]][] = [
      [`plan of the due query at ${NOW.toISOString()} (dueCasesQuery, before the tick: it finds the ${DUE})`, await explain(db, dueCasesQuery(NOW, settings.timers.sweepBatch))],
      [`plan of the due query at ${QUIET.toISOString()} (a quiet tick)`, await explain(db, dueCasesQuery(QUIET, settings.timers.sweepBatch))],
      [`plan of the locking read of a group of 25 cases (lockTimerFactsQuery, in a rolled-back transaction)`, await explainLocked(db, lockTimerFactsQuery(Array.from({ length: 25 }, (_, i) => CLOSED + 1 + i)))],
    ];

    // BENCH_SWEEP_CONCURRENCY=4,8,16 times the due tick at each (the due cases are restored in between); default: the sweep's default.
    const rounds = (process.env.BENCH_SWEEP_CONCURRENCY ?? '').split(',').map((x) => x.trim()).filter(Boolean).map(Number);
    if (rounds.length === 0) rounds.push(NaN);
    await sql`create table bench_due_snapshot as select * from cases where id between ${CLOSED + 1}::bigint and ${CLOSED + DUE}::bigint`.execute(db);
    const problems: string[] = [];
    const rows: string[] = [];
    const ok = (ms: number, target: number) => (ms < target ? 'ok' : 'MISSED');
    const head = `${'tick'.padEnd(44)} ${'ms'.padStart(9)} ${'target'.padStart(9)}  result`;
    add({ group: 'scale', name: `sweep tick, nothing due, ${TOTAL.toLocaleString('en')} cases (median of ${RUNS})`, value: median(quiet), unit: 'ms', target: { max: 50 } });
    rows.push(`${`nothing due (median of ${RUNS})`.padEnd(44)} ${median(quiet).toFixed(1).padStart(9)} ${'< 50'.padStart(9)}  ${ok(median(quiet), 50)} (min ${Math.min(...quiet).toFixed(1)}, max ${Math.max(...quiet).toFixed(1)})`);
    let byKindLine = '';
    for (const [round, concurrency] of rounds.entries()) {
      if (round > 0) await restoreDue(db);
      const roundDeps = Number.isNaN(concurrency) ? deps : { ...deps, concurrency };
      const label = Number.isNaN(concurrency) ? 'default concurrency' : `concurrency ${concurrency}`;
      profile?.start();
      const cpu = process.cpuUsage();
      const busy = await timed(() => sweep(roundDeps, NOW));
      const used = process.cpuUsage(cpu);
      profile?.stop();
      const byKind = new Map((await sql<{ kind: string; n: number }>`select kind, count(*) as n from outbox group by kind`.execute(db)).rows.map((r) => [r.kind, Number(r.n)]));
      const queued = [...byKind.values()].reduce((x, y) => x + y, 0);
      const again = await timed(() => sweep(roundDeps, NOW));
      if (busy.value.due !== DUE) problems.push(`${label}: due ${busy.value.due}, expected ${DUE}`);
      if (busy.value.acted !== DUE) problems.push(`${label}: acted on ${busy.value.acted}, expected ${DUE} (skipped ${busy.value.skipped}, failed ${busy.value.failed})`);
      if (queued !== DUE) problems.push(`${label}: ${queued} outbox rows, expected ${DUE}`);
      for (const [kind, n] of Object.entries(EXPECTED_MAIL)) if ((byKind.get(kind) ?? 0) !== n) problems.push(`${label}: ${byKind.get(kind) ?? 0} ${kind} mails, expected ${n}`);
      if (again.value.due !== 0) problems.push(`${label}: the second sweep at the same instant found ${again.value.due} due`);
      add({ group: 'scale', name: `sweep tick, ${DUE} due of ${TOTAL.toLocaleString('en')} cases (${label})`, value: busy.ms, unit: 'ms', target: { max: 1000 }, note: `acted ${busy.value.acted}, ${queued} mails queued` });
      add({ group: 'scale', name: 'sweep tick again at the same instant', value: again.ms, unit: 'ms', note: `due ${again.value.due}` });
      rows.push(`${`${DUE} due (${label})`.padEnd(44)} ${busy.ms.toFixed(1).padStart(9)} ${'< 1000'.padStart(9)}  ${ok(busy.ms, 1000)} (acted ${busy.value.acted}, ${queued} mails queued; this process's CPU ${((used.user + used.system) / 1000).toFixed(0)} ms, ${(used.system / 1000).toFixed(0)} of it in the kernel)`);
      rows.push(`${'  then again at the same instant'.padEnd(44)} ${again.ms.toFixed(1).padStart(9)} ${''.padStart(9)}  due ${again.value.due}`);
      byKindLine = `sweep: mails queued by kind: ${[...byKind].map(([k, n]) => `${k} ${n}`).join(', ')}; events: ${Object.entries(busy.value.events).map(([k, n]) => `${k} ${n}`).join(', ')}`;
    }

    log(`sweep: PostgreSQL ${await serverVersion(db)}, batch ${settings.timers.sweepBatch}, pool of ${POOL} connections (the service's default)`);
    log(head);
    for (const r of rows) log(r);
    log(byKindLine);
    if (profile) {
      log(`sweep: statements of the due tick${rounds.length > 1 ? 's' : ''} (BENCH_SWEEP_PROFILE; send to result, waiting for the server included)`);
      log(`${'statement'.padEnd(72)} ${'count'.padStart(6)} ${'per case'.padStart(8)} ${'total ms'.padStart(9)} ${'mean ms'.padStart(8)}`);
      for (const [text, p] of [...profile.stats].sort((x, y) => y[1].ms - x[1].ms)) {
        log(`${text.padEnd(72)} ${String(p.n).padStart(6)} ${(p.n / (DUE * rounds.length)).toFixed(2).padStart(8)} ${p.ms.toFixed(0).padStart(9)} ${(p.ms / p.n).toFixed(2).padStart(8)}`);
      }
    }
    log(problems.length ? `sweep: CHECK FAILED: ${problems.join('; ')}` : `sweep: checks passed (each due tick acted on ${DUE} cases and queued ${DUE} mails of the expected kinds; the second sweep found nothing due)`);
    for (const [title, lines] of plans) {
      log(`sweep: ${title}`);
      for (const line of lines) log(`  ${line}`);
    }
    if (problems.length) throw new Error(`sweep checks failed: ${problems.join('; ')}`);
  } finally {
    profile?.uninstall();
    await handle.close();
    await dropOnInterrupt();
    await admin.end();
  }
}

async function explain(db: Db, query: RawBuilder<unknown>): Promise<string[]> {
  const r = await sql<{ 'QUERY PLAN': string }>`explain (analyze, buffers) ${query}`.execute(db);
  return r.rows.map((x) => x['QUERY PLAN']);
}

/** FOR UPDATE takes the lock even under explain analyze: explained in a transaction that rolls back. */
async function explainLocked(db: Db, query: RawBuilder<unknown>): Promise<string[]> {
  let lines: string[] = [];
  await db.transaction().execute(async (trx) => {
    lines = (await sql<{ 'QUERY PLAN': string }>`explain (analyze, buffers) ${query}`.execute(trx)).rows.map((x) => x['QUERY PLAN']);
    await sql`rollback`.execute(trx).catch(() => undefined);
    throw new Rollback();
  }).catch((err: unknown) => { if (!(err instanceof Rollback)) throw err; });
  return lines;
}

class Rollback extends Error {}

/** Counts and times every statement any pg client sends between start() and stop(): which statements a tick spends its time in. */
function profileStatements(): { stats: Map<string, { n: number; ms: number }>; start(): void; stop(): void; uninstall(): void } {
  const stats = new Map<string, { n: number; ms: number }>();
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  let recording = false;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const result = original.apply(this, args);
    if (!recording || !(result instanceof Promise)) return result;
    const first = args[0];
    const text = (typeof first === 'string' ? first : (first as { text?: string } | null)?.text ?? '?').replace(/\s+/g, ' ').trim().slice(0, 72);
    const t = performance.now();
    void result.then(() => {
      const e = stats.get(text) ?? { n: 0, ms: 0 };
      e.n += 1;
      e.ms += performance.now() - t;
      stats.set(text, e);
    }, () => undefined);
    return result;
  };
  return {
    stats, start: () => { recording = true; }, stop: () => { recording = false; }, uninstall: () => { proto.query = original; },
  };
}

type Settings = ReturnType<typeof loadConfig>['settings'];

/** The directory, then 999,000 cases by generate_series and the 1,000 due ones with instants from the business calendar. */
async function load(db: Db, settings: Settings, log: (line: string) => void): Promise<void> {
  let mark = performance.now();
  const phase = (what: string) => { log(`sweep: load: ${what} ${((performance.now() - mark) / 1000).toFixed(1)} s`); mark = performance.now(); };
  const outcome = await importDirectory(db, {
    organisations: Array.from({ length: ORGS }, (_, o) => ({ key: `org${o}`, name: `Organisation ${o}`, timeZone: o % 2 ? 'Europe/Berlin' : 'America/New_York' })),
    contracts: Array.from({ length: ORGS }, (_, o) => ({ organisation: `org${o}`, product: 'Server', startsOn: '2025-01-01', endsOn: '2027-12-31' })),
    contacts: Array.from({ length: ORGS * CONTACTS_PER_ORG }, (_, i) => ({
      organisation: `org${Math.floor(i / CONTACTS_PER_ORG)}`, address: `contact${i}@org${Math.floor(i / CONTACTS_PER_ORG)}.example`, name: `Contact ${i}`, role: 'contact' as const, active: true,
    })),
    engineers: [
      ...Array.from({ length: ENGINEERS }, (_, i) => ({ address: `engineer${i}@vendor.example`, name: `Engineer ${i}`, team: 'core', role: 'engineer' as const, active: true })),
      { address: 'sam@vendor.example', name: 'Sam Supervisor', team: 'core', role: 'supervisor' as const, active: true },
    ],
  });
  if (!outcome.ok) throw new Error(`sweep bench: directory import failed: ${JSON.stringify(outcome.problems)}`);
  phase('directory');
  const contactIds = (await db.selectFrom('contacts').select(['id', 'organisation_id']).orderBy('id').execute());
  const engineerIds = (await db.selectFrom('engineers').select('id').where('role', '=', 'engineer').orderBy('id').execute()).map((e) => Number(e.id));
  const firstContact = Number(contactIds[0]!.id);
  const contacts = contactIds.length;
  const firstEngineer = engineerIds[0]!;
  // Contacts were inserted organisation by organisation in order, so contact j belongs to the organisation of row j.
  const firstOrg = Number(contactIds[0]!.organisation_id);
  const orgOfContact = sql`${firstOrg}::bigint + (g % ${contacts}) / ${CONTACTS_PER_ORG}`;
  const contact = sql`${firstContact}::bigint + (g % ${contacts})`;
  for (const [j, c] of contactIds.entries()) {
    if (Number(c.organisation_id) !== firstOrg + Math.floor(j / CONTACTS_PER_ORG)) throw new Error('sweep bench: contacts are not numbered organisation by organisation');
  }
  // Every fifth open case is unassigned (its mail goes to every active engineer: no queue address is configured).
  const assignee = sql`case when g % 5 = 0 then null else ${firstEngineer}::bigint + (g % ${engineerIds.length}) end`;
  const now = sql`${NOW}::timestamptz`;
  // One connection for the bulk load: the rows are consistent by construction, so foreign-key
  // triggers are skipped (replica role) and commits do not wait for the disk.
  await db.connection().execute(async (conn) => {
    await sql`set session_replication_role = replica`.execute(conn);
    await sql`set synchronous_commit = off`.execute(conn);
    try {
      // 900,000 closed cases over the past two years; one in twenty never had a response (closed by the customer first).
      await sql`
        insert into cases (id, organisation_id, requester_contact_id, subject, severity, severity_source, state, assignee_engineer_id,
                           opened_at, first_response_due_at, first_response_at, sla_warning_due_at, state_entered_at, closed_at, close_reason, updated_at)
        select g, ${orgOfContact}, ${contact}, 'Closed request ' || g, 1 + g % 3, 'suggested', 'closed', ${firstEngineer}::bigint + (g % ${engineerIds.length}),
               o, o + interval '8 hours', case when g % 20 = 0 then null else o + interval '2 hours' end, o + interval '6 hours',
               o + interval '3 days', o + interval '3 days', 'engineer_closed', o + interval '3 days'
          from generate_series(1, ${CLOSED}::int) g, lateral (select ${now} - interval '4 days' - (g % 730) * interval '1 day' - (g % 1440) * interval '1 minute' as o) t`.execute(conn);
      phase('closed cases');

      // 99,000 open cases that are not due: deadlines in the future, or past ones that can no longer fire.
      await sql`
        insert into cases (id, organisation_id, requester_contact_id, subject, severity, severity_source, state, assignee_engineer_id,
                           opened_at, first_response_due_at, first_response_at, sla_warning_due_at, sla_warned_at,
                           state_entered_at, auto_close_at, auto_close_reason, next_reminder_at, updated_at)
        select g, ${orgOfContact}, ${contact}, 'Open request ' || g, 1 + g % 3, 'suggested', st, ${assignee},
               o, due, fr, warn, warned, entered,
               case when st in ('awaiting_customer', 'resolution_proposed') then ${now} + interval '5 days' + (g % 1440) * interval '1 minute' end,
               case st when 'awaiting_customer' then 'no_response' when 'resolution_proposed' then 'auto_resolved' end,
               case when st in ('awaiting_customer', 'resolution_proposed') then ${now} + interval '1 hour' + (g % 4320) * interval '1 minute' end,
               entered
          from generate_series(${CLOSED + DUE + 1}::int, ${TOTAL}::int) g,
          lateral (select case g % 8 when 0 then 'new' when 4 then 'new' when 1 then 'open' when 2 then 'open' when 5 then 'open'
                                     when 3 then 'awaiting_customer' when 6 then 'awaiting_customer' else 'resolution_proposed' end as st) s,
          lateral (select case
                     -- not answered yet, warning and breach ahead
                     when g % 8 = 0 then ${now} - interval '1 hour' + (g % 600) * interval '1 minute'
                     -- not answered, warned already; the breach is ahead
                     when g % 8 = 4 then ${now} - interval '5 hours' - (g % 60) * interval '1 minute'
                     else ${now} - interval '10 days' - (g % 7200) * interval '1 minute' end as o) t,
          lateral (select case when st = 'new' and g % 8 = 0 then o + interval '8 hours'
                               when st = 'new' then ${now} + interval '1 hour' + (g % 120) * interval '1 minute'
                               else o + interval '8 hours' end as due) d,
          lateral (select case when st = 'new' then null else o + interval '1 hour' end as fr,
                          case when st = 'new' and g % 8 = 0 then o + interval '6 hours'
                               when st = 'new' then ${now} - interval '1 hour' - (g % 60) * interval '1 minute'
                               else o + interval '6 hours' end as warn,
                          case when st = 'new' and g % 8 = 4 then ${now} - interval '1 hour' - (g % 60) * interval '1 minute' end as warned,
                          case when st = 'new' then o else ${now} - interval '1 day' - (g % 600) * interval '1 minute' end as entered) f`.execute(conn);
      phase('open cases');

      await conn.insertInto('cases').values(dueCases(settings, {
        id0: CLOSED + 1, contactId: (g) => firstContact + (g % contacts), orgOf: (g) => Number(contactIds[g % contacts]!.organisation_id),
        assignee: (g) => (g % 5 === 0 ? null : firstEngineer + (g % engineerIds.length)),
      })).execute();
      await sql`select setval('cases_id_seq', ${TOTAL}::bigint)`.execute(conn);
      phase('due cases');

      await sql`
        insert into case_participants (case_id, address, contact_id, role, added_at)
        select c.id, k.address, k.id, 'requester', c.opened_at from cases c join contacts k on k.id = c.requester_contact_id`.execute(conn);
      phase('participants');

      const raw = Buffer.from('From: someone@example.org\r\nSubject: bench\r\n\r\nOne raw message every bench row shares.\r\n');
      const sha = createHash('sha256').update(raw).digest('hex');
      await conn.insertInto('raw_messages').values({ sha256: sha, size: raw.length, bytes: raw }).execute();
      await sql`
        insert into messages (direction, case_id, raw_sha256, content_hash, message_id_header, from_address, subject, sent_at, received_at,
                              source, kind, sender_role, status, visible_text)
        select 'inbound', c.id, ${sha}, md5(c.id::text), '<bench-' || c.id || '@customer.example>', k.address, c.subject, c.opened_at, c.opened_at,
               'imap', 'human', 'customer', 'processed', 'The export stops with E42.'
          from cases c join contacts k on k.id = c.requester_contact_id`.execute(conn);
      phase('messages');
    } finally {
      await sql`reset session_replication_role`.execute(conn);
      await sql`reset synchronous_commit`.execute(conn);
    }
  });
  await sql`analyze`.execute(db);
  phase('analyze');
}

/** The 1,000 due cases, with each instant where the business calendar puts it (so reminders name the right one). */
function dueCases(settings: Settings, at: { id0: number; contactId: (g: number) => number; orgOf: (g: number) => number; assignee: (g: number) => number | null }) {
  const cal = calendarOf(settings);
  const t = settings.timers;
  const rows = [];
  let g = at.id0;
  const spread = (i: number, stepMs: number) => new Date(NOW.getTime() - 60_000 - i * stepMs);
  const base = (state: 'new' | 'awaiting_customer' | 'resolution_proposed', opened: Date) => ({
    id: g, organisation_id: at.orgOf(g), requester_contact_id: at.contactId(g), subject: `Due request ${g}`, severity: 2, severity_source: 'suggested', severity_reasons: '[]',
    state, assignee_engineer_id: at.assignee(g), opened_at: opened, updated_at: opened,
  });
  const check = (cond: boolean, what: string) => { if (!cond) throw new Error(`sweep bench: due case ${g}: ${what}`); };
  // SLA warnings: 75% of an 8-hour target passed within the last 5 hours, the breach still ahead.
  for (let i = 0; i < DUE_MIX.warning; i++, g++) {
    // 20 s apart, so all 250 lie within the 2 hours between the warning and the breach.
    const warn = spread(i, 20_000);
    const opened = new Date(warn.getTime() - 6 * HOUR);
    rows.push({ ...base('new', opened), first_response_due_at: new Date(opened.getTime() + 8 * HOUR), sla_warning_due_at: warn, state_entered_at: opened });
  }
  // SLA breaches: every other one was warned before; for the rest the warning is stale and skipped.
  for (let i = 0; i < DUE_MIX.breach; i++, g++) {
    // 40 s apart, so even the skipped warnings (2 hours before) lie after the quiet instant.
    const dueAt = spread(i, 40_000);
    const opened = new Date(dueAt.getTime() - 8 * HOUR);
    const warn = new Date(opened.getTime() + 6 * HOUR);
    rows.push({ ...base('new', opened), first_response_due_at: dueAt, sla_warning_due_at: warn, sla_warned_at: i % 2 ? warn : null, state_entered_at: opened });
  }
  const waiting = (state: 'awaiting_customer' | 'resolution_proposed', entered: Date, closeDays: number, reminders: Date[], next: Date | null) => {
    const opened = new Date(entered.getTime() - 2 * 86_400_000);
    return {
      ...base(state, opened), first_response_due_at: new Date(opened.getTime() + 8 * HOUR), first_response_at: new Date(opened.getTime() + HOUR),
      sla_warning_due_at: new Date(opened.getTime() + 6 * HOUR), state_entered_at: entered,
      auto_close_at: addBusinessDays(cal, entered, closeDays), auto_close_reason: state === 'awaiting_customer' ? 'no_response' : 'auto_resolved',
      next_reminder_at: next, reminders,
    };
  };
  // Reminders: the first reminder instant passed, the next one is ahead.
  const reminderCase = (state: 'awaiting_customer' | 'resolution_proposed', i: number) => {
    const info = state === 'awaiting_customer';
    const days = info ? t.infoReminderDays : t.confirmationReminderDays;
    const closeDays = info ? t.infoAutoCloseDays : t.confirmationAutoCloseDays;
    const anchor = spread(i, 37_000);
    // Back from the wanted reminder instant to the state's entry: whole business days before `anchor`.
    const entered = backBusinessDays(cal, anchor, days[0]!);
    const instants = reminderInstants(cal, entered, days, closeDays);
    check(instants[0]!.getTime() <= NOW.getTime() && instants[0]!.getTime() > QUIET.getTime() && (instants[1]?.getTime() ?? Infinity) > NOW.getTime(), 'reminder layout');
    const { reminders: _, ...row } = waiting(state, entered, closeDays, instants, instants[0]!);
    check(row.auto_close_at.getTime() > NOW.getTime(), 'reminder case closes later');
    return row;
  };
  for (let i = 0; i < DUE_MIX.infoReminder; i++, g++) rows.push(reminderCase('awaiting_customer', i));
  for (let i = 0; i < DUE_MIX.confirmationReminder; i++, g++) rows.push(reminderCase('resolution_proposed', i));
  // Auto-closes: every reminder went out, the close instant passed.
  const closeCase = (state: 'awaiting_customer' | 'resolution_proposed', i: number) => {
    const closeDays = state === 'awaiting_customer' ? t.infoAutoCloseDays : t.confirmationAutoCloseDays;
    const entered = backBusinessDays(cal, spread(i, 37_000), closeDays);
    const { reminders: _, ...row } = waiting(state, entered, closeDays, [], null);
    check(row.auto_close_at.getTime() <= NOW.getTime() && row.auto_close_at.getTime() > QUIET.getTime(), 'close layout');
    return row;
  };
  for (let i = 0; i < DUE_MIX.infoClose; i++, g++) rows.push(closeCase('awaiting_customer', i));
  for (let i = 0; i < DUE_MIX.confirmationClose; i++, g++) rows.push(closeCase('resolution_proposed', i));
  return rows;
}

/** The instant `days` business days before `at` (the calendar has no subtraction: step back a calendar day at a time until adding lands on `at`). */
function backBusinessDays(cal: ReturnType<typeof calendarOf>, at: Date, days: number): Date {
  for (let back = days; back < days * 3 + 10; back++) {
    const candidate = new Date(at.getTime() - back * 86_400_000);
    if (addBusinessDays(cal, candidate, days).getTime() === at.getTime()) return candidate;
  }
  throw new Error(`sweep bench: no instant ${days} business days before ${at.toISOString()}`);
}
