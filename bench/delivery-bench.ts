// Delivery alone: fills the outbox of a throwaway PostgreSQL database with N acknowledgements
// (one case, distinct customers), then runs the real OutboxDispatcher with the real SMTP transport
// against the bench sink until the outbox is drained and every mail has arrived. Reports mails/s
// and the statements the database client sent per mail (every pg query() call is counted).
// I/O: a database on BENCH_DATABASE_URL's server, a local smtp-server, the clock.
// Alone: `npm run build && node dist/bench/delivery-bench.js [N] [runs]`; DELIVERY_PROFILE=file.cpuprofile
// profiles the delivery phase only (not the filling), DELIVERY_BATCH / DELIVERY_CONCURRENCY override the knobs.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import pg from 'pg';
import { migrateToLatest, openDatabase } from '../src/db/database.js';
import { silentLogger } from '../src/log/logger.js';
import type { OutgoingMail } from '../src/notify/mail-kinds.js';
import { OutboxDispatcher } from '../src/notify/outbox-dispatcher.js';
import { enqueueMails, outboxSummary } from '../src/notify/outbox-store.js';
import { loadMailTemplates, SAMPLE_MAIL_DATA } from '../src/notify/templates.js';
import { createSmtpTransport } from '../src/notify/transport.js';
import { createDatabase, startServer } from './bench-db.js';
import { startSink } from './bench-sink.js';
import { cleanupAll } from './cleanup.js';
import { repoRoot } from './dovecot.js';

export interface DeliveryResult {
  mails: number;
  seconds: number;
  rate: number;
  statementsPerMail: number;
}

let queries = 0;
let counting = false;

/** Counts every statement (and BEGIN/COMMIT) the pool's clients send while `counting` is on; returns the undo. */
function countQueries(): () => void {
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function countedQuery(this: pg.Client, ...args: unknown[]) {
    if (counting) queries += 1;
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof pg.Client.prototype.query;
  return () => {
    pg.Client.prototype.query = original;
  };
}

const SUPPORT = 'support@casemail.test';

/** One run on a fresh database: enqueue `n` acknowledgements, deliver them all, time it. */
export async function runDeliveryOnce(n: number): Promise<DeliveryResult> {
  const uncount = countQueries();
  const server = await startServer('postgres');
  const bench = await createDatabase(server, 'delivery');
  const handle = await openDatabase({ databaseUrl: bench.url });
  const sink = await startSink();
  const transport = createSmtpTransport({
    url: `smtp://127.0.0.1:${sink.port}`, ...(process.env.DELIVERY_MAX_MESSAGES ? { maxMessages: Number(process.env.DELIVERY_MAX_MESSAGES) } : {}),
  });
  try {
    const db = handle.db;
    await migrateToLatest(db);
    const now = new Date();
    const org = await db.insertInto('organisations').values({ key: 'acme', name: 'Acme' }).returning('id').executeTakeFirstOrThrow();
    const c = await db.insertInto('cases').values({
      organisation_id: org.id, subject: 'Export fails', severity: 2, severity_source: 'default', severity_reasons: '[]',
      opened_at: now, first_response_due_at: new Date(now.getTime() + 8 * 3600_000), state_entered_at: now,
    }).returning(['id', 'number']).executeTakeFirstOrThrow();
    const data = { ...SAMPLE_MAIL_DATA.acknowledgement, case: { number: c.number, tag: `[Case #${c.number}]`, subject: 'Export fails' } };
    const mails: OutgoingMail[] = Array.from({ length: n }, (_, i) => ({
      causeKey: `ack:bench:${i}`, kind: 'acknowledgement', caseId: c.id, to: [`customer${i}@example.com`],
      subject: `[Case #${c.number}] Export fails`, inReplyTo: `<customer-${i}@mail.example.com>`,
      references: [`<customer-${i}@mail.example.com>`], autoSubmitted: 'auto-replied', data,
    }));
    for (let i = 0; i < n; i += 500) {
      await db.transaction().execute((trx) => enqueueMails(trx, mails.slice(i, i + 500), { messageIdDomain: 'casemail.test', now }));
    }
    const dispatcher = new OutboxDispatcher({
      db, transport, templates: loadMailTemplates(path.join(repoRoot(), 'templates')), logger: silentLogger,
      supportAddress: SUPPORT, loopHeader: 'X-Casemail-Loop', maxAttempts: 5, retryBaseSeconds: 30,
      ...(process.env.DELIVERY_BATCH ? { batchSize: Number(process.env.DELIVERY_BATCH) } : {}),
      ...(process.env.DELIVERY_CONCURRENCY ? { concurrency: Number(process.env.DELIVERY_CONCURRENCY) } : {}),
    });
    const profile = process.env.DELIVERY_PROFILE ? new Session() : null;
    if (profile) {
      profile.connect();
      await profile.post('Profiler.enable');
      await profile.post('Profiler.start');
    }
    queries = 0;
    counting = true;
    const started = performance.now();
    const r = await dispatcher.runOnce(new Date());
    await sink.waitFor(n, 120_000);
    const seconds = (performance.now() - started) / 1000;
    counting = false;
    if (profile) {
      const { profile: taken } = await profile.post('Profiler.stop');
      writeFileSync(process.env.DELIVERY_PROFILE!, JSON.stringify(taken));
      profile.disconnect();
    }
    const summary = await outboxSummary(db);
    if (r.sent !== n || summary.sent !== n) throw new Error(`delivery bench: sent ${r.sent} (outbox says ${summary.sent}) of ${n}`);
    return { mails: n, seconds, rate: n / seconds, statementsPerMail: queries / n };
  } finally {
    counting = false;
    await transport.close();
    await sink.stop();
    await handle.close();
    await bench.drop();
    await server.stop();
    uncount();
  }
}

if (process.argv[1] && path.basename(process.argv[1]) === 'delivery-bench.js') {
  const n = Number(process.argv[2] ?? 2000);
  const runs = Number(process.argv[3] ?? 3);
  try {
    for (let i = 0; i < runs; i++) {
      const r = await runDeliveryOnce(n);
      process.stdout.write(`delivery: ${r.mails} acknowledgements in ${r.seconds.toFixed(2)} s = ${r.rate.toFixed(1)} mail/s, ${r.statementsPerMail.toFixed(2)} statements/mail\n`);
    }
  } finally {
    await cleanupAll();
  }
}
