// A relayed engineer reply through the outbox to a real smtp-server sink: the engineer's name on
// our From, the non-inline attachments of the stored reply with their bytes, HTML without anything
// that runs (even when the row's HTML was never sanitised), and the size bound on attachments.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { insertMessageWithRaw } from '../../src/cases/message-store.js';
import { insertAttachmentRows } from '../../src/cases/plan-rows.js';
import { sha256 } from '../../src/ingest/content-hash.js';
import { parseMessage } from '../../src/ingest/parse-message.js';
import { silentLogger } from '../../src/log/logger.js';
import type { OutgoingMail } from '../../src/notify/mail-kinds.js';
import { OutboxDispatcher, type OutboxDispatcherOptions } from '../../src/notify/outbox-dispatcher.js';
import { enqueueMail } from '../../src/notify/outbox-store.js';
import { relayHtml } from '../../src/notify/relay-html.js';
import { loadMailTemplates, type MailTemplates } from '../../src/notify/templates.js';
import { createSmtpTransport, type MailTransport } from '../../src/notify/transport.js';
import { parseEngineerCommands } from '../../src/threading/engineer-commands.js';
import { relayTextWithSignature } from '../../src/threading/relay-text.js';
import { extractReply } from '../../src/threading/reply-text.js';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';

const SUPPORT = 'support@casemail.test';
const DOMAIN = 'casemail.test';
const CUSTOMER = 'ana@globex.example';
const T0 = new Date('2026-11-30T09:15:00.000Z');
const FIXTURE = new URL('../fixtures/mail/relay/engineer-reply-gmail-attachment.eml', import.meta.url);
const PDF = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from(Array.from({ length: 1024 }, (_, i) => i % 256)), Buffer.from('\n%%EOF\n')]);

describe(`relay delivery on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let sink: SmtpSink;
  let smtp: MailTransport;
  let templates: MailTemplates;
  let caseId: number;
  let caseNumber: number;
  let replyRowId: number;
  let relay: { text: string; html: string | null };
  let seq = 0;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    sink = await startSmtpSink();
    smtp = createSmtpTransport({ url: `smtp://${sink.host}:${sink.port}`, connectionTimeoutMs: 5000, greetingTimeoutMs: 5000, socketTimeoutMs: 10_000 });
    templates = loadMailTemplates(path.resolve('templates'));
    const org = await tdb.db.insertInto('organisations').values({ key: 'globex', name: 'Globex' }).returning('id').executeTakeFirstOrThrow();
    const c = await tdb.db.insertInto('cases').values({
      organisation_id: org.id, subject: 'Export fails', severity: 2, severity_source: 'default', severity_reasons: '[]',
      opened_at: T0, first_response_due_at: new Date(T0.getTime() + 8 * 3600_000), state_entered_at: T0,
    }).returning(['id', 'number']).executeTakeFirstOrThrow();
    caseId = c.id;
    caseNumber = c.number;

    // The engineer's reply as the intake stores it: raw once, the row, its attachments.
    const raw = readFileSync(FIXTURE);
    const parsed = await parseMessage(raw);
    expect(parsed.attachments.map((a) => [a.filename, a.inline])).toEqual([['logo.png', true], ['export-fix-4.2.1.patch.pdf', false]]);
    replyRowId = await tdb.db.transaction().execute(async (trx) => {
      const id = await insertMessageWithRaw(trx, raw, {
        direction: 'inbound', case_id: caseId, content_hash: 'relay-delivery-fixture', message_id_header: parsed.messageId,
        from_address: 'erin@acme.example', subject: parsed.subject, received_at: T0, source: 'smtp', status: 'processed', kind: 'engineer-reply',
      });
      await insertAttachmentRows(trx, id, parsed.attachments, parsed.attachments.map((a) => sha256(a.content)));
      return id;
    });

    // What the engineer action will compute from it.
    const reply = extractReply({ text: parsed.text, html: parsed.html });
    const commands = parseEngineerCommands(reply.visibleText);
    if (!commands.ok) throw new Error(`fixture commands do not parse: ${commands.problem}`);
    expect(commands.commands).toEqual([{ kind: 'need-info' }]);
    relay = { text: relayTextWithSignature(commands.body, reply.signature), html: relayHtml(parsed.html ?? '', commands.commands.length) };
    expect(relay.html).not.toBeNull();
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

  function dispatcher(overrides: Partial<OutboxDispatcherOptions> = {}): OutboxDispatcher {
    return new OutboxDispatcher({
      db: tdb.db, transport: smtp, templates, logger: silentLogger, supportAddress: SUPPORT, loopHeader: 'X-Casemail-Loop',
      maxAttempts: 3, retryBaseSeconds: 30, random: () => 0, ...overrides,
    });
  }

  function relayMail(overrides: Partial<OutgoingMail<'engineer-relay'>> = {}): OutgoingMail<'engineer-relay'> {
    seq += 1;
    const tag = `[Case #${caseNumber}]`;
    return {
      causeKey: `relay:test:${seq}`, kind: 'engineer-relay', caseId, to: [CUSTOMER], replyTo: `support+c${caseNumber}@${DOMAIN}`,
      fromName: 'Erin Example via Support', attachmentsFrom: replyRowId,
      subject: `Re: ${tag} Export fails`, inReplyTo: '<customer-1@globex.example>', references: ['<customer-1@globex.example>'],
      autoSubmitted: null,
      data: { case: { number: caseNumber, tag, subject: 'Export fails' }, engineerName: 'Erin Example', text: relay.text, html: relay.html },
      ...overrides,
    };
  }

  async function send(mail: OutgoingMail, opts: Partial<OutboxDispatcherOptions> = {}) {
    await tdb.db.transaction().execute((trx) => enqueueMail(trx, mail, { messageIdDomain: DOMAIN, now: T0 }));
    expect(await dispatcher(opts).runOnce(new Date(T0.getTime() + 1000))).toEqual({ sent: 1, retried: 0, failed: 0 });
    const [received] = await sink.waitFor(1);
    return { received: received!, parsed: await simpleParser(received!.raw) };
  }

  it('stores from_name and attachments_from on the row', async () => {
    await tdb.db.transaction().execute((trx) => enqueueMail(trx, relayMail(), { messageIdDomain: DOMAIN, now: T0 }));
    const row = await tdb.db.selectFrom('outbox').select(['from_name', 'attachments_from']).executeTakeFirstOrThrow();
    expect(row).toEqual({ from_name: 'Erin Example via Support', attachments_from: replyRowId });
  });

  it('sends from the support address with the engineer\'s name, keeps Reply-To, and carries the attachment\'s bytes and the inline image the HTML shows', async () => {
    const { received, parsed } = await send(relayMail());
    expect(received.mailFrom).toBe(SUPPORT);
    expect(received.raw.toString('utf8')).toMatch(/^From: "?Erin Example via Support"? <support@casemail\.test>\r$/m);
    expect(parsed.from?.value).toEqual([{ name: 'Erin Example via Support', address: SUPPORT }]);
    expect(parsed.replyTo?.value[0]?.address).toBe(`support+c${caseNumber}@${DOMAIN}`);
    expect(parsed.subject).toBe(`Re: [Case #${caseNumber}] Export fails`);
    expect(parsed.inReplyTo).toBe('<customer-1@globex.example>');

    const files = parsed.attachments.map((a) => [a.filename, a.contentType, a.contentDisposition, a.cid ?? null]);
    expect(files).toEqual([['logo.png', 'image/png', 'inline', 'ii_logo@mail.acme.example'], ['export-fix-4.2.1.patch.pdf', 'application/pdf', 'attachment', null]]);
    expect(Buffer.compare(parsed.attachments[1]!.content, PDF)).toBe(0);
    expect(parsed.attachments[0]!.content.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');

    expect(parsed.text).toContain('Hello Ana,\nthe patch is attached; please send the log afterwards.');
    expect(parsed.text).toContain('Erin Example | Acme Support');
    expect(parsed.text).not.toMatch(/#need-info|E42|wrote:/);
    const html = String(parsed.html);
    expect(html).toContain('the patch is attached');
    expect(html).not.toMatch(/<script|alert|onerror|javascript:|#need-info|E42|gmail_quote/i);
  });

  it('sanitises a stored relay HTML again at sending, whoever wrote the row', async () => {
    const mail = relayMail({ attachmentsFrom: null });
    mail.data = { ...mail.data, html: '<p onclick="steal()">Hi <img src="https://x.example/a.png" onerror="alert(1)"></p><script>alert(2)</script><style>p{}</style><a href="javascript:alert(3)">x</a>' };
    const { parsed } = await send(mail);
    const html = String(parsed.html);
    expect(html).toContain('<p>Hi <img src="https://x.example/a.png" /></p>');
    expect(html).not.toMatch(/<script|alert|onclick|onerror|javascript:|p\{\}/);
    expect(parsed.attachments).toHaveLength(0);
    expect(parsed.from?.value[0]?.name).toBe('Erin Example via Support');
  });

  it('a text-only relay takes the attachment but not the inline image nobody shows', async () => {
    const mail = relayMail();
    mail.data = { ...mail.data, html: null };
    const { parsed } = await send(mail);
    expect(parsed.attachments.map((a) => a.filename)).toEqual(['export-fix-4.2.1.patch.pdf']);
    expect(Buffer.compare(parsed.attachments[0]!.content, PDF)).toBe(0);
  });

  it('without from_name the From is the service\'s own name', async () => {
    const { parsed } = await send(relayMail({ fromName: null, attachmentsFrom: null }), { fromName: 'Acme Support' });
    expect(parsed.from?.value).toEqual([{ name: 'Acme Support', address: SUPPORT }]);
  });

  it('over the size bound, sends without the attachments and names them in both bodies', async () => {
    const { parsed } = await send(relayMail(), { maxAttachmentBytes: 1000 });
    expect(parsed.attachments).toHaveLength(0);
    expect(parsed.text).toContain('[Not attached, too large to send by mail: logo.png (1 KB), export-fix-4.2.1.patch.pdf (1 KB).');
    expect(String(parsed.html)).toContain('Not attached, too large to send by mail: logo.png (1 KB), export-fix-4.2.1.patch.pdf');
  });

  /** A stored engineer reply whose raw message is `raw`, with `attachments` rows as given (and, for an old row, its bytes in `attachments`). */
  async function storedReply(tag: string, raw: Buffer, file: { name: string; bytes: Buffer; oldCopy: boolean }): Promise<number> {
    const sha = createHash('sha256').update(file.bytes).digest('hex');
    return tdb.db.transaction().execute(async (trx) => {
      const id = await insertMessageWithRaw(trx, raw, {
        direction: 'inbound', case_id: caseId, content_hash: `relay-${tag}`, message_id_header: `<${tag}@acme.example>`,
        from_address: 'erin@acme.example', subject: 'Re: Export fails', received_at: T0, source: 'smtp', status: 'processed', kind: 'engineer-reply',
      });
      if (file.oldCopy) await trx.insertInto('attachments').values({ sha256: sha, size: file.bytes.length, bytes: file.bytes }).onConflict((oc) => oc.doNothing()).execute();
      await trx.insertInto('message_attachments').values({
        message_id: id, position: 0, attachment_sha256: sha, size: file.bytes.length, filename: file.name, content_type: 'text/plain', content_id: null, inline: false, from_tnef: false,
      }).execute();
      return id;
    });
  }

  const textOnly = (tag: string) => Buffer.from(`From: erin@acme.example\r\nTo: ${SUPPORT}\r\nSubject: Re: Export fails\r\nMessage-ID: <${tag}@acme.example>\r\n\r\nSee the log.\r\n`);

  it('takes an attachment of a reply stored before 2026-12-02 from its stored copy (the raw carries none here)', async () => {
    const log = Buffer.from('an export log written before the attachments came from the raw message\n');
    const id = await storedReply('old-copy', textOnly('old-copy'), { name: 'old.log', bytes: log, oldCopy: true });
    const { parsed } = await send(relayMail({ attachmentsFrom: id }));
    expect(parsed.attachments.map((a) => [a.filename, a.content.toString('utf8')])).toEqual([['old.log', log.toString('utf8')]]);
  });

  it('fails the mail, saying which attachment, when the raw message does not carry it and no stored copy exists', async () => {
    const id = await storedReply('lost', textOnly('lost'), { name: 'lost.log', bytes: Buffer.from('bytes nowhere to be found\n'), oldCopy: false });
    await tdb.db.transaction().execute((trx) => enqueueMail(trx, relayMail({ attachmentsFrom: id }), { messageIdDomain: DOMAIN, now: T0 }));
    expect(await dispatcher().runOnce(new Date(T0.getTime() + 1000))).toEqual({ sent: 0, retried: 0, failed: 1 });
    const row = await tdb.db.selectFrom('outbox').select(['status', 'last_error']).executeTakeFirstOrThrow();
    expect(row.status).toBe('failed');
    expect(row.last_error).toMatch(/cannot build the mail: attachment lost\.log of message \d+ is not in its raw message/);
    expect(sink.messages).toHaveLength(0);
  });

  it('keeps no second copy of a stored reply\'s attachment bytes: the relay read them from the raw message', async () => {
    const pdfHash = createHash('sha256').update(PDF).digest('hex');
    expect(await tdb.db.selectFrom('attachments').select('sha256').where('sha256', '=', pdfHash).execute()).toEqual([]);
    const rows = await tdb.db.selectFrom('message_attachments').select(['position', 'size']).where('message_id', '=', replyRowId).orderBy('position').execute();
    expect(rows.map((r) => r.size)).toEqual([expect.any(Number), PDF.length]);
  });
});
