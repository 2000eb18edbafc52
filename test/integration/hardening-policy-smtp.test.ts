// Intake policy hardening (issue 11) as a sender sees it: mail goes in through the real SMTP
// intake of the running service (in-process, test database) and whatever we answer arrives at
// the real smtp-server sink. IMAP (a throwaway Dovecot) only for the empty message a mailbox holds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { loadConfig } from '../../src/config/config.js';
import { startService, type RunningService } from '../../src/cli/start-command.js';
import { silentLogger } from '../../src/log/logger.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';
import { appendAll, folderCount, headerOf, serviceConfig, smtpUrl } from '../support/service-harness.js';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../support/dovecot.js';
import { manyIssues } from '../support/issue-list.js';
import { tempDir } from '../support/temp-dirs.js';

const SUPPORT = 'support@casemail.localhost';
const SECRET = 'scenario-reply-token-secret';

describe(`intake policy through SMTP into the sink on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let sink: SmtpSink;
  let service: RunningService;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    sink = await startSmtpSink();
    const config = loadConfig({
      env: { SMTP_URL: smtpUrl(sink), REPLY_TOKEN_SECRET: SECRET },
      overrides: {
        dataDir: tempDir('casemail-policy-'), demoDirectory: false, logLevel: 'silent',
        smtpIntake: { enabled: true, host: '127.0.0.1', port: 0 }, imap: { mailboxes: [] }, outbox: { retryBaseSeconds: 0.2 },
        // Erin hears of every case here; the per-address limit on automatic mail (loop-safety.test.ts) is not under test.
        limits: { maxAcknowledgementsPerSenderPerHour: 5, maxAutomaticMailPerAddressPerHour: 1000 },
      },
    });
    service = await startService({ config, logger: silentLogger }, tdb);
  });
  afterAll(async () => {
    await service?.stop();
    await sink?.stop();
    await tdb?.close();
  });

  /** Sends over SMTP to the intake; resolves with the server's reply once it has committed. */
  async function send(raw: Buffer, envelope: { from: string; to: string[] } = { from: 'bob@acme.example', to: [SUPPORT] }): Promise<string> {
    const client = nodemailer.createTransport({ host: '127.0.0.1', port: service.smtp!.port, secure: false, ignoreTLS: true });
    try {
      return String((await client.sendMail({ envelope, raw })).response);
    } finally {
      client.close();
    }
  }

  const rowId = (reply: string) => Number(/OK: \w+ (\d+)/.exec(reply)?.[1]);
  const withTag = (messages: readonly SinkMessage[], number: number) => messages.filter((m) => (headerOf(m.raw, 'Subject') ?? '').includes(`[Case #${number}]`));
  const outboxSettled = async () => {
    await expect.poll(async () => (await tdb.db.selectFrom('outbox').select('id').where('status', '=', 'pending').execute()).length, { timeout: 20_000, interval: 100 }).toBe(0);
  };

  it('a mail listing 100 issues opens 10 cases; the sender gets 5 acknowledgements (hourly cap), the engineers 10 notifications', async () => {
    const reply = await send(buildMail({ from: 'Carol <carol@acme.example>', subject: 'A hundred problems', body: manyIssues(100) }), { from: 'carol@acme.example', to: [SUPPORT] });
    expect(reply).toMatch(/OK: processed/);
    const cases = await tdb.db.selectFrom('messages').innerJoin('case_events', 'case_events.message_id', 'messages.id')
      .select('case_events.case_id').where('messages.id', '=', rowId(reply)).where('case_events.kind', '=', 'case_opened').execute();
    expect(cases).toHaveLength(10);
    await sink.waitFor((m) => m.filter((x) => x.rcptTo.includes('carol@acme.example')).length >= 5 && m.filter((x) => x.rcptTo.includes('erin@vendor.example')).length >= 10, 30_000);
    await outboxSettled();
    expect(sink.messages.filter((m) => m.rcptTo.includes('carol@acme.example'))).toHaveLength(5);
    expect(sink.messages.filter((m) => m.rcptTo.includes('erin@vendor.example'))).toHaveLength(10);
    const row = await tdb.db.selectFrom('messages').select('status_reason').where('id', '=', rowId(reply)).executeTakeFirstOrThrow();
    expect(row.status_reason).toMatch(/maxCasesPerMessage 10.*maxAcknowledgementsPerSenderPerHour 5/);
  });

  it('sends with a signed VERP return path; a bounce to it marks the recipient, a forged bounce marks nobody', async () => {
    const raw = buildMail({ from: 'Bob Builder <bob@acme.example>', subject: 'Bounce me' });
    await send(raw);
    const [ack] = await sink.waitFor((m) => m.some((x) => headerOf(x.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID')), 20_000)
      .then((m) => m.filter((x) => headerOf(x.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID')));
    expect(ack!.mailFrom).toMatch(/^support\+bounce-\d+\.[0-9a-f]{20}@casemail\.localhost$/);

    // Anyone can claim Carol's mail bounces: not believed.
    const forged = buildMail({
      from: 'mailer-daemon@evil.example', subject: 'Undelivered Mail Returned to Sender', headers: { 'X-Failed-Recipients': 'carol@acme.example' },
      body: 'This is a permanent error. The following address failed:\n\n  carol@acme.example\n    550 5.1.1 user unknown\n',
    });
    expect(await send(forged, { from: '', to: [SUPPORT] })).toMatch(/OK/);
    expect((await tdb.db.selectFrom('contacts').select('bouncing_since').where('address', '=', 'carol@acme.example').executeTakeFirstOrThrow()).bouncing_since).toBeNull();

    // The real bounce comes back to the envelope sender we used, as an MTA sends it.
    const real = buildMail({
      from: 'Mail Delivery System <mailer-daemon@mx.acme.example>', to: ack!.mailFrom, subject: 'Mail delivery failed: returning message to sender',
      headers: { 'X-Failed-Recipients': 'bob@acme.example' },
      body: 'This message was created automatically by mail delivery software.\n\nA message that you sent could not be delivered to one or more of its recipients. This is a permanent error.\n\n  bob@acme.example\n    550 5.1.1 mailbox unavailable\n',
    });
    expect(await send(real, { from: '', to: [ack!.mailFrom] })).toMatch(/OK: processed/);
    expect((await tdb.db.selectFrom('contacts').select('bouncing_since').where('address', '=', 'bob@acme.example').executeTakeFirstOrThrow()).bouncing_since).not.toBeNull();
    await tdb.db.updateTable('contacts').set({ bouncing_since: null, bounce_reason: null }).where('address', '=', 'bob@acme.example').execute();
  });

  it('keeps a stranger\'s auto-reply with a case tag off the case and answers nothing', async () => {
    const raw = buildMail({ from: 'Ada Admin <ada@acme.example>', subject: 'Tagged later' });
    await send(raw, { from: 'ada@acme.example', to: [SUPPORT] });
    const acks = await sink.waitFor((m) => m.some((x) => headerOf(x.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID')), 20_000);
    const tag = /\[Case #(\d+)\]/.exec(headerOf(acks.find((x) => headerOf(x.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID'))!.raw, 'Subject') ?? '')!;
    const reply = await send(buildMail({ from: 'mallory@evil.example', subject: `${tag[0]} Automatic reply`, headers: { 'Auto-Submitted': 'auto-replied' } }), { from: 'mallory@evil.example', to: [SUPPORT] });
    expect(reply).toMatch(/OK: ignored/);
    const row = await tdb.db.selectFrom('messages').select(['status', 'case_id']).where('id', '=', rowId(reply)).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'ignored', case_id: null });
    await outboxSettled();
    expect(sink.messages.filter((m) => m.rcptTo.includes('mallory@evil.example'))).toEqual([]);
  });

  it('answers two strangers alike whether the case number they write to exists or not: not at all (issue 7, spec 3.5)', async () => {
    const raw = buildMail({ from: 'Bob Builder <bob@acme.example>', subject: 'Probe target' });
    await send(raw);
    const got = await sink.waitFor((m) => m.some((x) => headerOf(x.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID')), 20_000);
    const number = Number(/\[Case #(\d+)\]/.exec(headerOf(got.find((x) => headerOf(x.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID'))!.raw, 'Subject') ?? '')![1]);
    const a = await send(buildMail({ from: 'probe-a@evil.example', subject: `[Case #${number}] status?`, body: 'What is the status?\n' }), { from: 'probe-a@evil.example', to: [SUPPORT] });
    const b = await send(buildMail({ from: 'probe-b@evil.example', subject: `[Case #${number + 777}] status?`, body: 'What is the status?\n' }), { from: 'probe-b@evil.example', to: [SUPPORT] });
    expect(a).toMatch(/OK: held/);
    expect(b).toMatch(/OK: held/);
    // A stranger without a case tag is still told how to get support: the quiet answer is the tag's.
    await send(buildMail({ from: 'probe-c@evil.example', subject: 'status?', body: 'What is the status?\n' }), { from: 'probe-c@evil.example', to: [SUPPORT] });
    await sink.waitFor((m) => m.some((x) => x.rcptTo.includes('probe-c@evil.example')), 20_000);
    await outboxSettled();
    expect(sink.messages.filter((x) => x.rcptTo.includes('probe-a@evil.example') || x.rcptTo.includes('probe-b@evil.example'))).toEqual([]);
  });

  it('holds a reply with two From headers as ambiguous_sender: the case does not close and nobody is answered', async () => {
    const raw = buildMail({ from: 'Bob Builder <bob@acme.example>', subject: 'Two froms target' });
    await send(raw);
    const got = await sink.waitFor((m) => m.some((x) => headerOf(x.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID')), 20_000);
    const number = Number(/\[Case #(\d+)\]/.exec(headerOf(got.find((x) => headerOf(x.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID'))!.raw, 'Subject') ?? '')![1]);
    await outboxSettled();
    const before = sink.messages.length;
    const reply = await send(buildMail({ subject: `Re: [Case #${number}] Two froms target`, headers: { From: 'eve@evil.example' }, body: 'close\n' }));
    expect(reply).toMatch(/OK: held/);
    const row = await tdb.db.selectFrom('messages').select(['status', 'status_reason']).where('id', '=', rowId(reply)).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'held', status_reason: 'ambiguous_sender' });
    expect((await tdb.db.selectFrom('cases').select('state').where('number', '=', number).executeTakeFirstOrThrow()).state).toBe('new');
    await outboxSettled();
    // The sender is not answered; the case's assignee hears of the held message.
    const tagged = withTag(sink.messages.slice(before), number);
    expect(tagged.filter((m) => !m.rcptTo.includes('erin@vendor.example'))).toEqual([]);
    expect(tagged.map((m) => headerOf(m.raw, 'Subject'))).toEqual([`[Case #${number}] Message held: Re: [Case #${number}] Two froms target`]);
  });

  it('opens and acknowledges a request with NUL characters in its subject and body', async () => {
    const raw = Buffer.from(buildMail({ from: 'Ada Admin <ada@acme.example>', subject: 'NUL\0 in subject', body: 'Body with a NUL\0 here.\n' }));
    const reply = await send(raw, { from: 'ada@acme.example', to: [SUPPORT] });
    expect(reply).toMatch(/OK: processed/);
    const got = await sink.waitFor((m) => m.some((x) => headerOf(x.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID')), 20_000);
    const ack = got.find((x) => headerOf(x.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID'))!;
    expect(ack.rcptTo).toEqual(['ada@acme.example']);
    expect(ack.raw.includes(0)).toBe(false);
  });

  it('refuses an empty DATA and stores nothing', async () => {
    const count = async () => Number((await tdb.db.selectFrom('messages').select((eb) => eb.fn.countAll<string>().as('n')).where('direction', '=', 'inbound').executeTakeFirstOrThrow()).n);
    const before = await count();
    const error = await send(Buffer.alloc(0)).then(() => null, (e: Error & { responseCode?: number }) => e);
    // The handler throws code empty_message; the SMTP intake refuses it for good (a 451 would
    // only make the sender retry the same nothing).
    expect(error?.responseCode).toBe(550);
    expect(await count()).toBe(before);
  });
});

describeWithDovecot(`an empty message in the IMAP mailbox on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let dovecot: DovecotServer;
  let sink: SmtpSink;
  let service: RunningService;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    dovecot = await startDovecot();
    sink = await startSmtpSink();
    service = await startService(serviceConfig(dovecot, sink), tdb);
  });
  afterAll(async () => {
    await service?.stop();
    await sink?.stop();
    await dovecot?.stop();
    await tdb?.close();
  });

  it('goes to the quarantine folder unstored and does not hold up the request behind it', async () => {
    const request = buildMail({ subject: 'Behind an empty one' });
    await appendAll(dovecot, [Buffer.from('Return-Path: <bob@acme.example>\r\n\r\n'), request]);
    await sink.waitFor((m) => m.some((x) => headerOf(x.raw, 'In-Reply-To') === headerOf(request, 'Message-ID')), 30_000);
    await expect.poll(() => folderCount(dovecot, 'Quarantine'), { timeout: 20_000, interval: 200 }).toBe(1);
    const inbound = await tdb.db.selectFrom('messages').select('subject').where('direction', '=', 'inbound').execute();
    expect(inbound.map((m) => m.subject)).toEqual(['Behind an empty one']);
  });
});
