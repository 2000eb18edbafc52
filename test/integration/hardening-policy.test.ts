// Intake policy hardening (issue 11) through the message handler on a real database: caps on
// cases and acknowledgements, doubtful senders, strangers' automatic mail, forged bounces,
// case-number probing, NUL characters and empty input. The scenario tests through the SMTP
// intake into the sink are in hardening-policy-smtp.test.ts.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { MessageHandler } from '../../src/cases/message-handler.js';
import { showCase } from '../../src/cases/case-queries.js';
import type { IntakeSource } from '../../src/ingest/intake-types.js';
import { returnPathFor } from '../../src/threading/return-path-token.js';
import { silentLogger } from '../../src/log/logger.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';
import { manyIssues } from '../support/issue-list.js';

const SUPPORT = 'support@casemail.localhost';
const smtp: IntakeSource = { kind: 'smtp', mailbox: null, uidValidity: null, uid: null, envelopeRecipients: [SUPPORT] };
const NOW = new Date('2026-11-30T09:00:00Z');
const SECRET = 'test-reply-token-secret';
const HOUR = 60 * 60 * 1000;

/** A permanent bounce (text, as Exim writes it) claiming `failed` could not be reached. */
function bounce(opts: { failed: string; from?: string; to?: string; originalId?: string; envelopeTo?: string }): { raw: Buffer; source: IntakeSource } {
  const body = [
    'This message was created automatically by mail delivery software.', '',
    'A message that you sent could not be delivered to one or more of its recipients. This is a permanent error.', '',
    `  ${opts.failed}`, '    host mx.example said: 550 5.1.1 user unknown', '',
    '------ This is a copy of the message, including all the headers. ------', '',
    ...(opts.originalId ? [`Message-ID: ${opts.originalId}`] : []), 'Subject: whatever', '',
  ].join('\n');
  const raw = buildMail({
    from: opts.from ?? 'Mail Delivery System <mailer-daemon@mx.example>', to: opts.to ?? SUPPORT,
    subject: 'Mail delivery failed: returning message to sender', body, headers: { 'X-Failed-Recipients': opts.failed, 'Auto-Submitted': 'auto-replied' },
  });
  return { raw, source: { ...smtp, envelopeRecipients: [opts.envelopeTo ?? opts.to ?? SUPPORT] } };
}

describe(`intake policy hardening on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let handler: MessageHandler;
  const settings = loadConfig({ env: {}, overrides: { limits: { maxNewCasesPerSenderPerHour: 4, maxAcknowledgementsPerSenderPerHour: 3 } } }).settings;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    handler = new MessageHandler({ db: tdb.db, settings, logger: silentLogger, clock: () => NOW, replyTokenSecret: SECRET });
  });
  afterAll(async () => tdb?.close());

  const messageRow = (id: string) => tdb.db.selectFrom('messages').selectAll().where('id', '=', Number(id)).executeTakeFirstOrThrow();
  const eventsOf = (number: number) => tdb.db.selectFrom('case_events').innerJoin('cases', 'cases.id', 'case_events.case_id')
    .select(['case_events.kind', 'case_events.data', 'case_events.message_id']).where('cases.number', '=', number).orderBy('case_events.id').execute();
  const outboxOf = (number: number) => tdb.db.selectFrom('outbox').innerJoin('cases', 'cases.id', 'outbox.case_id')
    .select(['outbox.id', 'outbox.kind', 'outbox.message_id_header', 'outbox.to_addresses']).where('cases.number', '=', number).orderBy('outbox.id').execute();
  const bouncing = async (address: string) => (await tdb.db.selectFrom('contacts').select('bouncing_since').where('address', '=', address).executeTakeFirstOrThrow()).bouncing_since;

  describe('caps', () => {
    it('opens at most maxCasesPerMessage cases from one message; the rest stay in the last case, and the operator sees it', async () => {
      // The shared handler caps new cases per hour at 4; this one has the default caps.
      const defaults = loadConfig({ env: {}, overrides: {} }).settings;
      const h = new MessageHandler({ db: tdb.db, settings: defaults, logger: silentLogger, clock: () => NOW });
      const r = await h.handleAt(buildMail({ from: 'Ada Admin <ada@acme.example>', subject: 'Thirty problems', body: manyIssues(30) }), smtp, NOW);
      expect(r.status).toBe('processed');
      expect(r.caseNumbers).toHaveLength(10);
      expect(r.reason).toMatch(/maxCasesPerMessage 10 \(30 issues found, 10 cases opened/);
      const row = await messageRow(r.messageId);
      expect(row.status_reason).toMatch(/maxCasesPerMessage/);
      const last = await tdb.db.selectFrom('cases').select('id').where('number', '=', r.caseNumbers[9]!).executeTakeFirstOrThrow();
      const acks = await tdb.db.selectFrom('outbox').select('id').where('kind', '=', 'acknowledgement').where('cause_key', 'like', `ack:${r.messageId}:%`).execute();
      expect(acks).toHaveLength(10);
      const notices = await tdb.db.selectFrom('outbox').select(['case_id', 'data']).where('kind', '=', 'new-case-notification').where('case_id', '=', last.id).execute();
      // Issues 10 to 30 are the last case's text; the notification carries its first part (the
      // outbox clips it) and says where the rest is.
      const noticeText = String((notices[0]!.data as { text: string }).text);
      expect(noticeText).toContain('E109');
      expect(noticeText).toMatch(/more characters; `casemail case show \d+`/);
      // `casemail case show` of the last case shows the event; the message row belongs to the first.
      expect((await showCase(tdb.db, r.caseNumbers[9]!))!.events.map((e) => e.kind)).toContain('intake_limit_reached');
      expect((await showCase(tdb.db, r.caseNumbers[0]!))!.messages[0]!.status_reason).toMatch(/maxCasesPerMessage/);
    });

    it('past the hourly caps of one sender still opens a case per message, acknowledges no more, and counts from the database', async () => {
      const results = [];
      for (let i = 0; i < 5; i++) {
        results.push(await handler.handleAt(buildMail({ from: 'Carol <carol@acme.example>', subject: `Carol problem ${i}` }), smtp, new Date(NOW.getTime() + i * 60_000)));
      }
      expect(results.every((r) => r.status === 'processed' && r.caseNumbers.length === 1)).toBe(true);
      const acked = await Promise.all(results.map(async (r) => (await outboxOf(r.caseNumbers[0]!)).some((o) => o.kind === 'acknowledgement')));
      expect(acked).toEqual([true, true, true, false, false]);
      // The engineers are still told about every case.
      const told = await Promise.all(results.map(async (r) => (await outboxOf(r.caseNumbers[0]!)).some((o) => o.kind === 'new-case-notification')));
      expect(told).toEqual([true, true, true, true, true]);
      expect(results[3]!.reason).toMatch(/maxAcknowledgementsPerSenderPerHour 3/);
      expect((await messageRow(results[4]!.messageId)).status_reason).toMatch(/maxNewCasesPerSenderPerHour 4.*maxAcknowledgementsPerSenderPerHour 3/);
      expect((await eventsOf(results[4]!.caseNumbers[0]!)).map((e) => e.kind)).toContain('intake_limit_reached');

      // A fresh handler (a restart) sees the same count; an hour after the first, acknowledgements resume.
      const restarted = new MessageHandler({ db: tdb.db, settings, logger: silentLogger, clock: () => NOW });
      const stillCapped = await restarted.handleAt(buildMail({ from: 'carol@acme.example', subject: 'Carol problem 5' }), smtp, new Date(NOW.getTime() + 10 * 60_000));
      expect((await outboxOf(stillCapped.caseNumbers[0]!)).some((o) => o.kind === 'acknowledgement')).toBe(false);
      const later = await restarted.handleAt(buildMail({ from: 'carol@acme.example', subject: 'Carol problem 6' }), smtp, new Date(NOW.getTime() + HOUR + 5 * 60_000));
      expect(later.reason).toBeNull();
      expect((await outboxOf(later.caseNumbers[0]!)).some((o) => o.kind === 'acknowledgement')).toBe(true);
    });

    it('holds the acknowledgement cap when one sender\'s messages arrive in parallel', async () => {
      const at = new Date(NOW.getTime() + 3 * 24 * HOUR);
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) =>
        handler.handleAt(buildMail({ from: 'carol@acme.example', subject: `Parallel ${i}` }), smtp, at)));
      expect(results.every((r) => r.status === 'processed')).toBe(true);
      const acks = await tdb.db.selectFrom('outbox').select('id').where('kind', '=', 'acknowledgement')
        .where('cause_key', 'in', results.map((r) => `ack:${r.messageId}:${r.caseNumbers[0]}`)).execute();
      expect(acks).toHaveLength(3);
    });

    it('past the hourly new-case cap, a message listing several issues becomes one case', async () => {
      const at = new Date(NOW.getTime() + 5 * HOUR);
      for (let i = 0; i < 4; i++) await handler.handleAt(buildMail({ from: 'ada@acme.example', subject: `Ada filler ${i}` }), smtp, at);
      const r = await handler.handleAt(buildMail({ from: 'ada@acme.example', subject: 'Three more', body: manyIssues(3) }), smtp, at);
      expect(r.caseNumbers).toHaveLength(1);
      expect(r.reason).toMatch(/maxNewCasesPerSenderPerHour 4/);
    });
  });

  describe('doubtful senders', () => {
    it('holds a participant\'s reply with a second From header as ambiguous_sender instead of joining the case', async () => {
      const r = await handler.handleAt(buildMail({ subject: 'Doubt base' }), smtp, NOW);
      const [num] = r.caseNumbers as [number];
      const raw = buildMail({ subject: `Re: [Case #${num}] Doubt base`, headers: { From: 'Eve <eve@evil.example>' }, body: 'please close\n' });
      const held = await handler.handleAt(raw, smtp, NOW);
      expect(held).toMatchObject({ status: 'held', reason: 'ambiguous_sender' });
      const c = await tdb.db.selectFrom('cases').select('state').where('number', '=', num).executeTakeFirstOrThrow();
      expect(c.state).toBe('new'); // "please close" did not close it
      const to = (await tdb.db.selectFrom('outbox').select('to_addresses').where('cause_key', 'like', 'not-entitled:eve@%').execute());
      expect(to).toEqual([]);
    });

    it('holds one From with two mailboxes and no Sender; with Sender it is an ordinary request', async () => {
      const doubtful = await handler.handleAt(buildMail({ from: 'bob@acme.example, eve@evil.example', subject: 'Two authors' }), smtp, NOW);
      expect(doubtful).toMatchObject({ status: 'held', reason: 'ambiguous_sender', caseNumbers: [] });
      const fine = await handler.handleAt(buildMail({ from: 'bob@acme.example, eve@evil.example', subject: 'Two authors, one sender', headers: { Sender: 'bob@acme.example' } }), smtp, NOW);
      expect(fine.status).toBe('processed');
    });
  });

  describe('automatic mail from strangers', () => {
    it('stores a stranger\'s auto-reply naming a case without attaching it; the case\'s audit trail records it', async () => {
      const r = await handler.handleAt(buildMail({ subject: 'Auto base' }), smtp, NOW);
      const [num] = r.caseNumbers as [number];
      const auto = await handler.handleAt(buildMail({ from: 'mallory@evil.example', subject: `[Case #${num}] Out of office`, headers: { 'Auto-Submitted': 'auto-replied' } }), smtp, NOW);
      expect(auto.status).toBe('ignored');
      expect(auto.caseNumbers).toEqual([]);
      const row = await messageRow(auto.messageId);
      expect(row).toMatchObject({ status: 'ignored', case_id: null });
      expect(row.status_reason).toMatch(/not allowed/);
      const events = await eventsOf(num);
      expect(events.find((e) => e.kind === 'automatic_mail_not_attached')?.message_id).toBe(Number(auto.messageId));
      expect(events.map((e) => e.kind)).not.toContain('automatic_mail_attached');
      // The requester's own out-of-office is still attached.
      const own = await handler.handleAt(buildMail({ subject: `[Case #${num}] Out of office`, headers: { 'Auto-Submitted': 'auto-replied' } }), smtp, NOW);
      expect(own).toMatchObject({ status: 'processed', caseNumbers: [num] });
    });
  });

  describe('bounces', () => {
    it('ignores a forged bounce: an address is not marked by X-Failed-Recipients and a 550 line alone', async () => {
      await handler.handleAt(buildMail({ subject: 'Bounce base' }), smtp, NOW);
      const { raw, source } = bounce({ failed: 'bob@acme.example' });
      await handler.handleAt(raw, source, NOW);
      expect(await bouncing('bob@acme.example')).toBeNull();
    });

    it('marks the recipient of our acknowledgement that a bounce quoting its Message-ID names, and attaches it to the case', async () => {
      const r = await handler.handleAt(buildMail({ from: 'Ada Admin <ada@acme.example>', subject: 'Ada needs help' }), smtp, new Date(NOW.getTime() + 9 * HOUR));
      const [num] = r.caseNumbers as [number];
      const ack = (await outboxOf(num)).find((o) => o.kind === 'acknowledgement')!;
      // Naming someone the mail did not go to marks nobody.
      const wrong = bounce({ failed: 'carol@acme.example', originalId: ack.message_id_header });
      await handler.handleAt(wrong.raw, wrong.source, NOW);
      expect(await bouncing('carol@acme.example')).toBeNull();
      const right = bounce({ failed: 'ada@acme.example', originalId: ack.message_id_header });
      const b = await handler.handleAt(right.raw, right.source, NOW);
      expect(b).toMatchObject({ status: 'processed', caseNumbers: [num] });
      expect(await bouncing('ada@acme.example')).not.toBeNull();
      await tdb.db.updateTable('contacts').set({ bouncing_since: null, bounce_reason: null }).where('address', '=', 'ada@acme.example').execute();
    });

    it('marks the recipient of the outbox row a signed VERP return path names; a forged token marks nobody', async () => {
      // Bob's acknowledgements at NOW are capped by the tests before; a day later they are not.
      const r = await handler.handleAt(buildMail({ subject: 'VERP base' }), smtp, new Date(NOW.getTime() + 30 * HOUR));
      const ack = (await outboxOf(r.caseNumbers[0]!)).find((o) => o.kind === 'acknowledgement')!;
      const forged = `support+bounce-${ack.id}.0123456789abcdef0123@casemail.localhost`;
      const f = bounce({ failed: 'bob@acme.example', to: forged });
      await handler.handleAt(f.raw, f.source, NOW);
      expect(await bouncing('bob@acme.example')).toBeNull();
      const verp = returnPathFor(SUPPORT, SECRET, ack.id);
      const g = bounce({ failed: 'bob@acme.example', to: verp });
      const got = await handler.handleAt(g.raw, g.source, NOW);
      expect(got).toMatchObject({ status: 'processed', caseNumbers: r.caseNumbers });
      expect(await bouncing('bob@acme.example')).not.toBeNull();
      await tdb.db.updateTable('contacts').set({ bouncing_since: null, bounce_reason: null }).where('address', '=', 'bob@acme.example').execute();
    });
  });

  describe('case-number probing', () => {
    it('answers an unknown sender the same whether the case number in the subject exists or not: not at all', async () => {
      const r = await handler.handleAt(buildMail({ subject: 'Probe base' }), smtp, NOW);
      const [num] = r.caseNumbers as [number];
      const exists = await handler.handleAt(buildMail({ from: 'probe1@evil.example', subject: `[Case #${num}] hello` }), smtp, NOW);
      const missing = await handler.handleAt(buildMail({ from: 'probe2@evil.example', subject: `[Case #${num + 5000}] hello` }), smtp, NOW);
      expect(exists.status).toBe('held');
      expect(missing.status).toBe('held');
      const answers = await tdb.db.selectFrom('outbox').select('id').where(sql<boolean>`to_addresses::text like '%probe%'`).execute();
      expect(answers).toEqual([]);
    });
  });

  describe('text PostgreSQL refuses', () => {
    it('opens the case for a request with NUL in subject, body and attachment file name; the raw bytes are kept as sent', async () => {
      const boundary = 'b1';
      const raw = Buffer.from([
        'From: Bob Builder <bob@acme.example>', `To: ${SUPPORT}`, 'Subject: Export\0 fails', 'Message-ID: <nul-1@acme.example>',
        'MIME-Version: 1.0', `Content-Type: multipart/mixed; boundary="${boundary}"`, '',
        `--${boundary}`, 'Content-Type: text/plain; charset=utf-8', '', 'The export\0 stops with E42.', '',
        `--${boundary}`, 'Content-Type: text/plain; name="log\0.txt"', 'Content-Disposition: attachment; filename="log\0.txt"', '', 'log line', '',
        `--${boundary}--`, '',
      ].join('\r\n'));
      const r = await handler.handleAt(raw, smtp, NOW);
      expect(r.status).toBe('processed');
      const c = await tdb.db.selectFrom('cases').select('subject').where('number', '=', r.caseNumbers[0]!).executeTakeFirstOrThrow();
      expect(c.subject).toBe('Export\uFFFD fails');
      const stored = await tdb.db.selectFrom('messages').innerJoin('raw_messages', 'raw_messages.sha256', 'messages.raw_sha256')
        .select(['raw_messages.bytes', 'messages.visible_text']).where('messages.id', '=', Number(r.messageId)).executeTakeFirstOrThrow();
      expect(Buffer.from(stored.bytes).equals(raw)).toBe(true);
      expect(stored.visible_text).toContain('export\uFFFD stops');
      const files = await tdb.db.selectFrom('message_attachments').select('filename').where('message_id', '=', Number(r.messageId)).execute();
      expect(files.map((f) => f.filename)).toEqual(['log\uFFFD.txt']);
    });
  });

  describe('empty input', () => {
    it.each([
      ['no bytes', Buffer.alloc(0)],
      ['only the Return-Path an intake adds', Buffer.from('Return-Path: <bob@acme.example>\r\n')],
    ])('refuses %s with code empty_message and stores nothing, not even in quarantine', async (_name, raw) => {
      const before = await tdb.db.selectFrom('messages').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
      await expect(handler.handle(raw, smtp)).rejects.toMatchObject({ code: 'empty_message' });
      await expect(handler.quarantine(raw, smtp, new Error('x'))).rejects.toMatchObject({ code: 'empty_message' });
      // IMAP cannot refuse what the mailbox holds: quarantine() answers "quarantined" (the intake
      // moves it to its quarantine folder, so it does not block the messages behind it), storing nothing.
      const imap: IntakeSource = { kind: 'imap', mailbox: 'support/INBOX', uidValidity: 1, uid: 99, envelopeRecipients: [] };
      await expect(handler.handle(raw, imap)).rejects.toMatchObject({ code: 'empty_message' });
      await expect(handler.quarantine(raw, imap, new Error('x'))).resolves.toMatchObject({ status: 'quarantined', reason: expect.stringMatching(/^empty message/) });
      const after = await tdb.db.selectFrom('messages').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
      expect(Number(after.n)).toBe(Number(before.n));
    });
  });
});
