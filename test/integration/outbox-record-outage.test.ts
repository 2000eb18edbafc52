// A database that goes away for a few seconds right after the relay accepted a mail (a restart)
// must not leave the row to its lease: the dispatcher keeps trying to record "sent" until the
// database is back, so the row is sent once and not again a lease later. Found by the chaos suite
// (dependency faults): it used to give up after about 1.3 s. The dispatcher reaches PostgreSQL
// through a TCP proxy (the PostgreSQL tier only: the embedded server listens on a Unix socket).
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/database.js';
import { silentLogger } from '../../src/log/logger.js';
import { OutboxDispatcher } from '../../src/notify/outbox-dispatcher.js';
import { enqueueMail } from '../../src/notify/outbox-store.js';
import { loadMailTemplates, SAMPLE_MAIL_DATA } from '../../src/notify/templates.js';
import { createSmtpTransport, type MailTransport } from '../../src/notify/transport.js';
import { startTcpProxy, type TcpProxy } from '../chaos/support/tcp-proxy.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';

const T0 = new Date('2026-11-30T09:00:00.000Z');
/** How long the database stays away: longer than the old ~1.3 s of record retries. */
const AWAY_MS = 3_000;

const suite = databaseKind() === 'postgres' ? describe : describe.skip;

suite('outbox: the database away just after a send', () => {
  let tdb: TestDatabase;
  let proxy: TcpProxy;
  let viaProxy: DatabaseHandle;
  let sink: SmtpSink;
  let smtp: MailTransport;
  let back: Promise<void> | null = null;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    const u = new URL(tdb.url);
    proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port) || 5432 });
    u.port = String(proxy.port);
    viaProxy = await openDatabase({ databaseUrl: u.toString(), poolSize: 2 });
    // The relay has the mail, then the database goes away for AWAY_MS (the outage itself, timed).
    sink = await startSmtpSink({
      onMessage: () => {
        back = proxy.down().then(() => new Promise<void>((resolve) => setTimeout(resolve, AWAY_MS))).then(() => proxy.up());
      },
    });
    smtp = createSmtpTransport({ url: `smtp://${sink.host}:${sink.port}`, connectionTimeoutMs: 5000, greetingTimeoutMs: 5000, socketTimeoutMs: 10_000 });
  });
  afterAll(async () => {
    await back;
    await smtp?.close();
    await sink?.stop();
    await viaProxy?.close();
    await proxy?.close();
    await tdb?.close();
  });

  it('records the mail as sent once the database is back, and does not send it again', async () => {
    const org = await tdb.db.insertInto('organisations').values({ key: 'acme', name: 'Acme' }).returning('id').executeTakeFirstOrThrow();
    const c = await tdb.db.insertInto('cases').values({
      organisation_id: org.id, subject: 'Export fails', severity: 2, severity_source: 'default', severity_reasons: '[]',
      opened_at: T0, first_response_due_at: new Date(T0.getTime() + 3_600_000), state_entered_at: T0,
    }).returning(['id', 'number']).executeTakeFirstOrThrow();
    const data = { ...SAMPLE_MAIL_DATA.acknowledgement, case: { number: c.number, tag: `[Case #${c.number}]`, subject: 'Export fails' } };
    const { messageIdHeader } = await enqueueMail(tdb.db, {
      causeKey: 'ack:outage', kind: 'acknowledgement', caseId: c.id, to: ['customer@example.com'], subject: `[Case #${c.number}] Export fails`,
      inReplyTo: '<customer@mail.example.com>', references: ['<customer@mail.example.com>'], autoSubmitted: 'auto-replied', data,
    }, { messageIdDomain: 'casemail.test', now: T0 });

    const dispatcher = new OutboxDispatcher({
      db: viaProxy.db, transport: smtp, templates: loadMailTemplates(path.resolve('templates')), logger: silentLogger,
      supportAddress: 'support@casemail.test', loopHeader: 'X-Casemail-Loop', maxAttempts: 5, retryBaseSeconds: 30, random: () => 0,
    });
    const first = await dispatcher.runOnce(T0);
    await back;
    expect(first).toEqual({ sent: 1, retried: 0, failed: 0 });
    const row = await tdb.db.selectFrom('outbox').select(['status', 'locked_until']).where('message_id_header', '=', messageIdHeader).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'sent', locked_until: null });
    // Well past any lease: nothing is due, nothing goes out again.
    expect(await dispatcher.runOnce(new Date(T0.getTime() + 24 * 3_600_000))).toEqual({ sent: 0, retried: 0, failed: 0 });
    expect(sink.messages).toHaveLength(1);
  });
});
