// Threading and the operator's views at size: a fresh PostgreSQL database filled by SQL
// (generate_series) with 100,000 cases, 1,000,000 stored messages (10 a case) and 200,000 outbox
// rows, then the real threading lookup the intake uses (caseIdForMessageIds, then loadCase, as
// intake-facts.ts's findReferencedCase runs them) timed for replies and for unknown references,
// with the plans of both statements; and `casemail case list` and `casemail stats` timed, both the
// functions behind them and the CLI as a child. I/O: the database server, child processes.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql, type Compilable } from 'kysely';
import { loadConfig } from '../src/config/config.js';
import { migrateToLatest, openDatabase, type Db } from '../src/db/database.js';
import { importDirectory } from '../src/directory/directory-store.js';
import { caseIdForMessageIds } from '../src/cases/message-store.js';
import { loadCase } from '../src/cases/intake-facts.js';
import { listCases } from '../src/cases/case-queries.js';
import { caseStats } from '../src/cases/case-stats.js';
import { calendarOf } from '../src/cases/case-rules.js';
import { createDatabase, startServer } from './bench-db.js';
import { onCleanup } from './cleanup.js';
import { repoRoot } from './dovecot.js';
import { benchDirectory } from './mail-mixes.js';
import type { AddRow } from './table.js';

const NOW = new Date('2026-12-09T14:00:00Z');
const LOOKUPS = 500;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)]!;
}

async function fill(db: Db, cases: number, messages: number): Promise<void> {
  await importDirectory(db, benchDirectory());
  const raw = Buffer.from('From: someone@example.org\r\nSubject: bench\r\n\r\nOne raw message every bench row shares.\r\n');
  const sha = createHash('sha256').update(raw).digest('hex');
  await db.insertInto('raw_messages').values({ sha256: sha, size: raw.length, bytes: raw }).execute();
  await db.connection().execute(async (conn) => {
    await sql`set synchronous_commit = off`.execute(conn);
    const { rows: [who] } = await sql<{ org: string; first: string; n: string }>`select min(organisation_id) as org, min(id) as first, count(*) as n from contacts`.execute(conn);
    // Cases over the last year, 80% closed; numbers follow ids.
    await sql`
      insert into cases (id, number, organisation_id, requester_contact_id, subject, severity, severity_source, state, opened_at, first_response_due_at, first_response_at,
                         state_entered_at, closed_at, close_reason, updated_at)
      select g, 100000 + g, ${who!.org}::bigint, ${who!.first}::bigint + g % ${who!.n}::int, 'Export problem ' || g, 1 + g % 3, 'suggested',
             case when g % 5 = 0 then 'open' else 'closed' end, o, o + interval '8 hours', o + interval '2 hours', o,
             case when g % 5 = 0 then null else o + interval '3 days' end, case when g % 5 = 0 then null else 'engineer_closed' end, o
        from generate_series(1, ${cases}::int) g, lateral (select ${NOW}::timestamptz - (g % 365) * interval '1 day' - (g % 1440) * interval '1 minute' as o) t`.execute(conn);
    await sql`select setval('cases_id_seq', ${cases}::bigint)`.execute(conn);
    await sql`select setval('cases_number_seq', ${100000 + cases}::bigint)`.execute(conn).catch(() => undefined);
    await sql`
      insert into messages (direction, case_id, raw_sha256, content_hash, message_id_header, from_address, subject, sent_at, received_at, source, kind, sender_role, status, visible_text)
      select case when g % 2 = 0 then 'inbound' else 'outbound' end, 1 + g % ${cases}::int, ${sha}, md5(g::text), '<scale-' || g || '@acme.example>',
             'contact' || (g % 100) || '@acme.example', 'Export problem', ${NOW}::timestamptz - (g % 365) * interval '1 day', ${NOW}::timestamptz - (g % 365) * interval '1 day',
             'imap', 'human', 'customer', 'processed', 'The export stops with E42.'
        from generate_series(1, ${messages}::int) g`.execute(conn);
    await sql`
      insert into outbox (cause_key, kind, case_id, to_addresses, message_id_header, subject, template, data, status, next_attempt_at, sent_at)
      select 'scale:' || g, case when g % 2 = 0 then 'acknowledgement' else 'new-case-notification' end, 1 + g % ${cases}::int, '["contact0@acme.example"]'::jsonb,
             '<ack-' || g || '@casemail.localhost>', 'Re: Export problem', 'acknowledgement', '{}'::jsonb, 'sent', ${NOW}, ${NOW}
        from generate_series(1, ${cases * 2}::int) g`.execute(conn);
  });
  await sql`vacuum analyze`.execute(db);
}

async function explain(db: Db, q: Compilable<unknown>): Promise<string[]> {
  const c = q.compile();
  const r = await sql<{ 'QUERY PLAN': string }>`explain (analyze, buffers) ${sql.raw(c.sql.replace(/\$(\d+)/g, (_, i: string) => {
    const v = c.parameters[Number(i) - 1];
    return typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`;
  }))}`.execute(db);
  return r.rows.map((x) => x['QUERY PLAN']);
}

export async function runScaleBench(add: AddRow, log: (line: string) => void, scale: number): Promise<void> {
  const cases = Math.max(1000, Math.round(100_000 * scale));
  const messages = cases * 10;
  const database = await createDatabase(await startServer('postgres'), 'scale');
  const handle = await openDatabase({ databaseUrl: database.url, poolSize: 4 });
  const { db } = handle;
  try {
    await migrateToLatest(db);
    const t = performance.now();
    await fill(db, cases, messages);
    log(`   scale: filled ${cases.toLocaleString('en')} cases, ${messages.toLocaleString('en')} messages, ${(cases * 2).toLocaleString('en')} outbox rows in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const size = `${messages.toLocaleString('en')} messages, ${cases.toLocaleString('en')} cases`;

    // A reply as mail clients write it: In-Reply-To our acknowledgement, References the request and the acknowledgement.
    const lookup = async (ids: string[]) => {
      const t0 = performance.now();
      await db.transaction().execute(async (trx) => {
        const id = await caseIdForMessageIds(trx, ids);
        if (id !== null) await loadCase(trx, id);
      });
      return performance.now() - t0;
    };
    const reply = (i: number) => {
      const g = 1 + ((i * 7919) % (cases * 2));
      return [`<ack-${g}@casemail.localhost>`, `<scale-${1 + ((i * 104729) % messages)}@acme.example>`];
    };
    for (let i = 0; i < 50; i++) await lookup(reply(i)); // warm the cache as a running service has it
    const replies: number[] = [];
    for (let i = 0; i < LOOKUPS; i++) replies.push(await lookup(reply(i + 50)));
    const misses: number[] = [];
    for (let i = 0; i < LOOKUPS; i++) misses.push(await lookup([`<elsewhere-${i}@other.example>`, `<elsewhere-${i}-b@other.example>`]));
    add({ group: 'scale', name: `thread a reply (caseIdForMessageIds + loadCase), ${size}: median`, value: median(replies), unit: 'ms', target: { max: 5 }, note: `${LOOKUPS} replies; p99 ${p99(replies).toFixed(2)} ms` });
    add({ group: 'scale', name: `thread a message with unknown references, ${size}: median`, value: median(misses), unit: 'ms', target: { max: 5 }, note: `${LOOKUPS} lookups; p99 ${p99(misses).toFixed(2)} ms` });

    const ids = reply(1);
    const plans: [string, string[]][] = [
      ['messages by Message-ID (caseIdForMessageIds, first statement)', await explain(db, db.selectFrom('messages').select(['case_id', 'id'])
        .where('message_id_header', 'in', ids).where('case_id', 'is not', null).orderBy('id', 'desc').limit(1))],
      ['outbox by Message-ID (caseIdForMessageIds, when no stored message matches)', await explain(db, db.selectFrom('outbox').select(['case_id'])
        .where('message_id_header', 'in', ids).where('case_id', 'is not', null).orderBy('id', 'desc').limit(1))],
    ];
    for (const [title, lines] of plans) {
      log(`   scale: plan of ${title}`);
      for (const line of lines) log(`     ${line}`);
    }

    const settings = loadConfig({ env: {} }).settings;
    const timeIt = async (f: () => Promise<unknown>) => {
      await f();
      const runs: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        await f();
        runs.push(performance.now() - t0);
      }
      return median(runs);
    };
    add({ group: 'scale', name: `case list (listCases, 500 newest), ${size}`, value: await timeIt(() => listCases(db, { state: null })), unit: 'ms', note: 'median of 5' });
    add({ group: 'scale', name: `case list --state open (listCases), ${size}`, value: await timeIt(() => listCases(db, { state: 'open' })), unit: 'ms', note: 'median of 5' });
    const from = new Date(NOW.getTime() - 30 * 86_400_000);
    add({ group: 'scale', name: `stats over 30 days (caseStats), ${size}`, value: await timeIt(() => caseStats(db, { from, to: NOW, now: NOW, calendar: calendarOf(settings) })), unit: 'ms', note: 'median of 5' });
    const yearFrom = new Date(NOW.getTime() - 365 * 86_400_000);
    add({ group: 'scale', name: `stats over a year (caseStats), ${size}`, value: await timeIt(() => caseStats(db, { from: yearFrom, to: NOW, now: NOW, calendar: calendarOf(settings) })), unit: 'ms', note: 'median of 5' });

    // The CLI as an operator runs it: node start-up, config, connection and output included.
    const dir = mkdtempSync(path.join(tmpdir(), 'casemail-bench-cli-'));
    const removeDir = onCleanup(`folder ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    try {
      writeFileSync(path.join(dir, 'casemail.json'), JSON.stringify({ dataDir: dir, demoDirectory: false }));
      const env = { PATH: process.env.PATH ?? '', DATABASE_URL: database.url, CASEMAIL_CONFIG: path.join(dir, 'casemail.json') };
      for (const [label, args] of [['casemail case list', ['case', 'list']], ['casemail stats --from (30 days) --to', ['stats', '--from', from.toISOString(), '--to', NOW.toISOString(), '--now', NOW.toISOString()]]] as const) {
        const t0 = performance.now();
        const r = spawnSync(process.execPath, [path.join(repoRoot(), 'bin/casemail.js'), ...args], { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
        const ms = performance.now() - t0;
        add({ group: 'scale', name: `${label} (CLI, wall time), ${size}`, value: r.status === 0 ? ms : null, unit: 'ms',
          note: r.status === 0 ? 'node start-up included' : `exit ${r.status}: ${(r.stderr || r.stdout).trim().split('\n')[0]}` });
      }
    } finally {
      await removeDir();
    }
  } finally {
    await handle.close();
    await database.drop();
  }
}
