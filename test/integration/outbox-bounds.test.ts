// The outbox against oversized input (issue 11), at the store and dispatcher level: rows are
// bounded when written; rows written before bounding existed go out bounded; a composed header
// line over 998 characters is refused with the reason; a cause key too long for the unique index
// still de-duplicates. Real database, real smtp-server sink; time passed to runOnce.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import type { OutgoingMail } from '../../src/notify/mail-kinds.js';
import { OutboxDispatcher } from '../../src/notify/outbox-dispatcher.js';
import { enqueueMail } from '../../src/notify/outbox-store.js';
import { loadMailTemplates, SAMPLE_MAIL_DATA } from '../../src/notify/templates.js';
import { createSmtpTransport, type MailTransport } from '../../src/notify/transport.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';

const SUPPORT = 'support@casemail.test';
const T0 = new Date('2026-11-30T09:00:00.000Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

describe(`outbox bounds on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let sink: SmtpSink;
  let smtp: MailTransport;
  let seq = 0;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    sink = await startSmtpSink();
    smtp = createSmtpTransport({ url: `smtp://${sink.host}:${sink.port}`, connectionTimeoutMs: 5000, greetingTimeoutMs: 5000, socketTimeoutMs: 10_000 });
  });
  afterAll(async () => {
    await smtp?.close();
    await sink?.stop();
    await tdb?.close();
  });
  beforeEach(async () => {
    await tdb.db.deleteFrom('messages').where('direction', '=', 'outbound').execute();
    await tdb.db.deleteFrom('outbox').execute();
    sink.clear();
  });

  const dispatcher = () => new OutboxDispatcher({
    db: tdb.db, transport: smtp, templates: loadMailTemplates(path.resolve('templates')), logger: silentLogger,
    supportAddress: SUPPORT, ownAddresses: [SUPPORT], loopHeader: 'X-Casemail-Loop', maxAttempts: 3, retryBaseSeconds: 30, random: () => 0,
  });

  function notification(overrides: Partial<OutgoingMail<'new-case-notification'>> = {}): OutgoingMail<'new-case-notification'> {
    seq += 1;
    return {
      causeKey: `new-case:test:${seq}`, kind: 'new-case-notification', caseId: null, to: ['erin@vendor.example'],
      subject: `[Case #100042] New case: ${'x'.repeat(100_000)}`, autoSubmitted: 'auto-generated',
      references: Array.from({ length: 300 }, (_, i) => `<ref-${i}@customer.example>`), inReplyTo: `<${'l'.repeat(3000)}@customer.example>`,
      data: { ...SAMPLE_MAIL_DATA['new-case-notification'], text: 'E42 '.repeat(500_000) },
      ...overrides,
    };
  }

  const enqueue = (mail: OutgoingMail) => tdb.db.transaction().execute((trx) => enqueueMail(trx, mail, { messageIdDomain: 'casemail.test', now: T0 }));

  it('writes a small row: subject, References, In-Reply-To and the customer text bounded', async () => {
    const { messageIdHeader } = await enqueue(notification());
    const row = await tdb.db.selectFrom('outbox').selectAll().where('message_id_header', '=', messageIdHeader).executeTakeFirstOrThrow();
    expect(row.subject).toBe(`[Case #100042] New case: ${'x'.repeat(200 - 25)}…`);
    expect(row.references).toHaveLength(20);
    expect(row.references[0]).toBe('<ref-0@customer.example>');
    expect(row.references.at(-1)).toBe('<ref-299@customer.example>');
    expect(row.in_reply_to).toBeNull();
    expect(JSON.stringify(row.data).length).toBeLessThan(6_000);
    expect((row.data as { text: string }).text).toMatch(/… \(1,996,000 more characters; `casemail case show 100042`\)$/);
  });

  it('sends a row written before bounding existed (huge subject and text) bounded, every header line <= 998', async () => {
    const { messageIdHeader } = await enqueue(notification());
    // As older code stored it: the raw subject and the whole text.
    await tdb.db.updateTable('outbox').set({
      subject: `[Case #100042] ${'y'.repeat(200_000)}`, data: JSON.stringify({ ...SAMPLE_MAIL_DATA['new-case-notification'], text: 'Z'.repeat(1_000_000) }),
    }).where('message_id_header', '=', messageIdHeader).execute();
    expect(await dispatcher().runOnce(at(1))).toEqual({ sent: 1, retried: 0, failed: 0 });
    const [received] = await sink.waitFor(1);
    const head = received!.raw.subarray(0, received!.raw.indexOf('\r\n\r\n')).toString('utf8');
    expect(Math.max(...head.split('\r\n').map((l) => l.length))).toBeLessThanOrEqual(998);
    const parsed = await simpleParser(received!.raw);
    expect(parsed.subject).toBe(`[Case #100042] ${'y'.repeat(200 - 15)}…`);
    expect(received!.raw.length).toBeLessThan(30_000);
  });

  it('refuses to send a composed mail with a header line over 998 characters and records why', async () => {
    const { messageIdHeader } = await enqueue(notification());
    // A Reply-To stored by older code, too long for one line and without a place to fold.
    await tdb.db.updateTable('outbox').set({ reply_to: `${'r'.repeat(1500)}@casemail.test` }).where('message_id_header', '=', messageIdHeader).execute();
    expect(await dispatcher().runOnce(at(1))).toEqual({ sent: 0, retried: 0, failed: 1 });
    const row = await tdb.db.selectFrom('outbox').select(['status', 'last_error']).where('message_id_header', '=', messageIdHeader).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'failed', last_error: expect.stringMatching(/^cannot build the mail: a header line has \d{4} characters \(RFC 5322 allows 998\)$/) });
    expect(sink.messages).toHaveLength(0);
  });

  it('de-duplicates by a cause key too long for the unique index', async () => {
    const causeKey = `not-entitled:${randomBytes(4000).toString('hex')}@x.example:2026-11-30`;
    const first = await enqueue(notification({ causeKey }));
    const second = await enqueue(notification({ causeKey }));
    expect(first.inserted).toBe(true);
    expect(second).toEqual({ inserted: false, messageIdHeader: first.messageIdHeader });
    expect(await tdb.db.selectFrom('outbox').select('id').execute()).toHaveLength(1);
  });
});
