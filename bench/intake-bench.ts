// End-to-end intake throughput: 5 KB plain-text new requests APPENDed to a throwaway Dovecot,
// taken by the real IMAP intake and handler into PostgreSQL (committed case, acknowledgement and
// notification queued), next to the parse-only rate of the same messages. Needs Dovecot and
// PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ImapFlow } from 'imapflow';
import pg from 'pg';
import { loadConfig } from '../src/config/config.js';
import { openDatabase, migrateToLatest } from '../src/db/database.js';
import { importDirectory } from '../src/directory/directory-store.js';
import { MessageHandler } from '../src/cases/message-handler.js';
import { databaseCursorStore } from '../src/cases/mailbox-cursors.js';
import { ImapIntake } from '../src/ingest/imap-intake.js';
import { createUnderstandPool } from '../src/ingest/understand-pool.js';
import { parseMessage } from '../src/ingest/parse-message.js';
import { silentLogger } from '../src/log/logger.js';

interface DovecotScript {
  findDovecot(): string | null;
  start(options?: { noIdle?: boolean }): Promise<{ host: string; port: number; user: string; password: string; pid: number; dir: string; child?: { kill(s: string): boolean } }>;
  stop(pid: number, dir?: string): void;
}

function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

/** Requests come from this many contacts: one address sending thousands an hour is the throttled flood path, not the one to measure. */
const SENDERS = 100;

function request(i: number, stamp: number): Buffer {
  const para = `Our nightly export job number ${i} stops with error E42 after about ten minutes; restarting the worker does not help. `;
  const body = para.repeat(Math.ceil(5000 / para.length));
  return Buffer.from([
    `From: Contact ${i % SENDERS} <contact${i % SENDERS}@acme.example>`, 'To: support@casemail.localhost', `Subject: Export problem ${i}`,
    `Message-ID: <bench-${stamp}-${i}@acme.example>`, 'Date: Mon, 30 Nov 2026 10:00:00 +0000', 'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8', '', body, '',
  ].join('\r\n'));
}

export async function runIntakeBench(log: (line: string) => void, n = Number(process.env.BENCH_MESSAGES ?? 2000)): Promise<void> {
  const dovecotScript = (await import(pathToFileURL(path.join(repoRoot(), 'scripts/dovecot-test.mjs')).href)) as DovecotScript;
  if (!dovecotScript.findDovecot()) {
    log('intake: SKIPPED — Dovecot is not installed (apt-get install -y dovecot-imapd)');
    return;
  }
  const baseUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const dbName = `casemail_bench_${process.pid}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  const url = new URL(baseUrl);
  url.pathname = `/${dbName}`;
  const dovecot = await dovecotScript.start();
  const handle = await openDatabase({ databaseUrl: url.toString(), poolSize: 12 });
  try {
    await migrateToLatest(handle.db);
    await importDirectory(handle.db, {
      organisations: [{ key: 'acme', name: 'Acme', timeZone: 'Europe/Berlin' }],
      contracts: [{ organisation: 'acme', product: 'Server', startsOn: '2026-01-01', endsOn: '2027-12-31' }],
      contacts: Array.from({ length: SENDERS }, (_, i) => ({ organisation: 'acme', address: `contact${i}@acme.example`, name: `Contact ${i}`, role: 'contact' as const, active: true })),
      engineers: [{ address: 'erin@vendor.example', name: 'Erin', team: 'core', role: 'engineer', active: true }],
    });
    const stamp = Date.now();
    const raws = Array.from({ length: n }, (_, i) => request(i, stamp));

    let t = performance.now();
    for (const raw of raws) await parseMessage(raw);
    const parseRate = n / ((performance.now() - t) / 1000);

    const client = new ImapFlow({ host: dovecot.host, port: dovecot.port, secure: false, auth: { user: dovecot.user, pass: dovecot.password }, logger: false });
    await client.connect();
    for (const raw of raws) await client.append('INBOX', raw);
    await client.logout();

    const settings = loadConfig({ env: {} }).settings;
    // As `casemail start` runs it: parsing in the worker-thread pool under the time budget
    // (BENCH_IN_PROCESS=1 parses on the main thread instead, to see what the pool costs).
    const understanding = createUnderstandPool(settings, silentLogger);
    // BENCH_UNDERSTAND=1: the whole understanding in the pool, as start-command.ts passes it.
    const inPool = process.env.BENCH_UNDERSTAND ? { understand: (raw: Buffer) => understanding.understand(raw) } : { parse: (raw: Buffer) => understanding.parse(raw) };
    const handler = new MessageHandler({ db: handle.db, settings, logger: silentLogger, clock: () => new Date(), ...(process.env.BENCH_IN_PROCESS ? {} : inPool) });
    const intake = new ImapIntake({
      account: 'bench', host: dovecot.host, port: dovecot.port, secure: false, user: dovecot.user, pass: dovecot.password,
      folder: 'INBOX', processedFolder: 'Processed', quarantineFolder: 'Quarantine', logger: silentLogger,
      handler, cursors: databaseCursorStore(handle.db), maxAttempts: 3,
      ...(process.env.BENCH_CONCURRENCY ? { concurrency: Number(process.env.BENCH_CONCURRENCY) } : {}),
      ...(process.env.BENCH_BATCH ? { batchSize: Number(process.env.BENCH_BATCH) } : {}),
      ...(process.env.BENCH_GROUP ? { groupSize: Number(process.env.BENCH_GROUP) } : {}),
    });
    let processed = 0;
    const done = new Promise<void>((resolve) => {
      intake.on('acknowledged', (e) => {
        processed += e.processed.length + e.quarantined.length;
        if (processed >= n) resolve();
      });
    });
    t = performance.now();
    await intake.start();
    await done;
    const seconds = (performance.now() - t) / 1000;
    await intake.stop();
    await understanding.close();
    const cases = await handle.db.selectFrom('cases').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    const queued = await handle.db.selectFrom('outbox').select((eb) => eb.fn.countAll<number>().as('n')).where('kind', '=', 'acknowledgement').executeTakeFirstOrThrow();
    log(`intake: ${n} x 5 KB new requests, Dovecot -> committed case + acknowledgement queued (PostgreSQL, parsing ${process.env.BENCH_IN_PROCESS ? 'in process' : 'in the worker pool'}): ${(n / seconds).toFixed(0)} msg/s (${seconds.toFixed(2)} s; ${cases.n} cases, ${queued.n} acknowledgements queued)`);
    log(`intake: parse only, same messages: ${parseRate.toFixed(0)} msg/s`);
  } finally {
    await handle.close();
    dovecotScript.stop(dovecot.pid, dovecot.dir);
    await admin.query(`drop database if exists ${dbName} with (force)`);
    await admin.end();
  }
}
