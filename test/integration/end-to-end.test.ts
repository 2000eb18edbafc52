// The spine, end to end: a real Dovecot (IMAP with IDLE), the real service (in-process), the
// test database (the embedded server or DATABASE_URL) and a real smtp-server sink receiving what we send.
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { startService, type RunningService } from '../../src/cli/start-command.js';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../support/dovecot.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail, buildRequest } from '../support/mail-builder.js';
import { acknowledgements, appendAll, distinctAnswered, folderCount, headerOf, serviceConfig } from '../support/service-harness.js';

describeWithDovecot(`end to end on ${databaseKind()}: Dovecot -> cases -> acknowledgements at the sink`, () => {
  let tdb: TestDatabase;
  let dovecot: DovecotServer;
  let sink: SmtpSink;
  let service: RunningService | null = null;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
  });
  afterAll(async () => tdb?.close());

  beforeEach(async () => {
    dovecot = await startDovecot();
    sink = await startSmtpSink();
    const ctx = serviceConfig(dovecot, sink);
    service = await startService(ctx, tdb);
  });
  afterEach(async () => {
    await service?.stop();
    service = null;
    await sink?.stop();
    await dovecot?.stop();
  });

  it('turns 200 APPENDed requests into 200 cases with 200 acknowledgements answering each, and moves them', async () => {
    const raws = Array.from({ length: 200 }, (_, i) => buildRequest(i, { messageId: `<bulk-${i}-${Date.now()}@acme.example>` }));
    const ids = raws.map((r) => headerOf(r, 'Message-ID'));
    await appendAll(dovecot, raws);
    const got = await sink.waitFor((m) => distinctAnswered(m).size >= 200, 120_000);
    const acks = acknowledgements(got);
    expect(new Set(acks.map((a) => headerOf(a.raw, 'In-Reply-To')))).toEqual(new Set(ids));
    for (const a of acks) {
      expect(headerOf(a.raw, 'Subject')).toMatch(/^\[Case #\d+\] Export problem \d+$/);
      expect(a.rcptTo).toEqual(['bob@acme.example']);
    }
    const cases = await tdb.db.selectFrom('cases').select('number').where('subject', 'like', 'Export problem %').execute();
    expect(cases).toHaveLength(200);
    // Moved only after commit; wait for the intake's last move to show.
    await expect.poll(() => folderCount(dovecot, 'Processed'), { timeout: 20_000, interval: 200 }).toBe(200);
    expect(await folderCount(dovecot, 'INBOX')).toBe(0);
  });

  it('makes one case and one acknowledgement of a message that arrives by IMAP and by SMTP', async () => {
    const raw = buildMail({ messageId: `<both-ways-${Date.now()}@acme.example>`, subject: 'Arrives twice' });
    await appendAll(dovecot, [raw]);
    const smtpIn = nodemailer.createTransport({ host: '127.0.0.1', port: service!.smtp!.port, secure: false, ignoreTLS: true });
    await smtpIn.sendMail({ envelope: { from: 'bob@acme.example', to: ['support@casemail.localhost'] }, raw });
    await appendAll(dovecot, [raw]);
    const answered = await sink.waitFor((m) => acknowledgements(m).some((a) => headerOf(a.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID')), 20_000);
    // Let the other copies be handled too: the second APPEND lands in Processed once handled.
    await expect.poll(() => folderCount(dovecot, 'Processed'), { timeout: 20_000, interval: 100 }).toBe(2);
    const cases = await tdb.db.selectFrom('cases').select('number').where('subject', '=', 'Arrives twice').execute();
    expect(cases).toHaveLength(1);
    const acks = acknowledgements(sink.messages).filter((a) => headerOf(a.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID'));
    expect(acks).toHaveLength(1);
    expect(answered.length).toBeGreaterThan(0);
  });

  it('acknowledges a message APPENDed while the service idles within 3 s', async () => {
    // Idle first: nothing to do, the intake has caught up.
    await appendAll(dovecot, [buildMail({ subject: 'warm-up' })]);
    await sink.waitFor((m) => acknowledgements(m).length >= 1, 20_000);
    const raw = buildMail({ messageId: `<idle-${Date.now()}@acme.example>`, subject: 'Sent while idle' });
    await appendAll(dovecot, [raw]);
    const got = await sink.waitFor((m) => acknowledgements(m).some((a) => headerOf(a.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID')), 3_000);
    expect(got.length).toBeGreaterThan(0);
  });

  it('keeps acknowledgements while the SMTP server is down and delivers them all when it is back', async () => {
    await sink.stop();
    const raws = Array.from({ length: 5 }, (_, i) => buildMail({ messageId: `<down-${i}-${Date.now()}@acme.example>`, subject: `While down ${i}` }));
    await appendAll(dovecot, raws);
    // The cases commit and the outbox rows wait.
    await expect.poll(async () => (await tdb.db.selectFrom('outbox').innerJoin('cases', 'cases.id', 'outbox.case_id')
      .select('outbox.id').where('cases.subject', 'like', 'While down %').where('outbox.kind', '=', 'acknowledgement').where('outbox.status', '=', 'pending').execute()).length,
    { timeout: 20_000, interval: 100 }).toBe(5);
    await sink.restart();
    const got = await sink.waitFor((m) => acknowledgements(m).filter((a) => /While down/.test(headerOf(a.raw, 'Subject') ?? '')).length >= 5, 30_000);
    expect(acknowledgements(got).filter((a) => /While down/.test(headerOf(a.raw, 'Subject') ?? ''))).toHaveLength(5);
  });

  it('quarantines an oversize message and goes on with the ones behind it', async () => {
    await service!.stop();
    const ctx = serviceConfig(dovecot, sink, { limits: { maxMessageBytes: 100_000 } });
    service = await startService(ctx, tdb);
    const big = buildMail({ messageId: `<big-${Date.now()}@acme.example>`, subject: 'Too big', body: 'y'.repeat(150_000) });
    const after = buildMail({ messageId: `<after-big-${Date.now()}@acme.example>`, subject: 'Behind the big one' });
    await appendAll(dovecot, [big, after]);
    await sink.waitFor((m) => acknowledgements(m).some((a) => headerOf(a.raw, 'In-Reply-To') === headerOf(after, 'Message-ID')), 20_000);
    await expect.poll(() => folderCount(dovecot, 'Quarantine'), { timeout: 20_000, interval: 100 }).toBe(1);
    const q = await tdb.db.selectFrom('messages').select(['status', 'status_reason']).where('message_id_header', '=', headerOf(big, 'Message-ID')).execute();
    expect(q).toEqual([{ status: 'quarantined', status_reason: 'oversize' }]);
  });
});
