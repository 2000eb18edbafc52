// Outgoing mail against hostile input (issue 11), end to end: customers write through the real
// SMTP intake (nodemailer -> smtp-server) into the real service and database; what we send is
// read at a real smtp-server sink. A 200 KB subject, a notice that would go to one of our own
// addresses, a multi-megabyte request with an attachment, and line breaks hidden in encoded words.
import { simpleParser } from 'mailparser';
import { sql } from 'kysely';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type RunningService } from '../../src/cli/start-command.js';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log/logger.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { headerOf } from '../support/service-harness.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { tempDir } from '../support/temp-dirs.js';

const SUPPORT = 'support@casemail.localhost';

/** A service with SMTP intake only (no IMAP), sending to the sink. */
async function serviceWith(tdb: TestDatabase, sink: SmtpSink, extra: Record<string, unknown> = {}): Promise<RunningService> {
  const config = loadConfig({
    env: { SMTP_URL: `smtp://${sink.host}:${sink.port}` },
    overrides: {
      dataDir: tempDir('casemail-outgoing-'), demoDirectory: false,
      smtpIntake: { enabled: true, host: '127.0.0.1', port: 0 }, imap: { mailboxes: [] },
      outbox: { retryBaseSeconds: 0.2 }, logLevel: 'silent', ...extra,
    },
  });
  return startService({ config, logger: silentLogger }, tdb);
}

/** Sends one message to the service's SMTP intake, as a customer's server would. */
async function deliver(service: RunningService, message: Parameters<ReturnType<typeof nodemailer.createTransport>['sendMail']>[0]): Promise<void> {
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: service.smtp!.port, secure: false, ignoreTLS: true });
  try {
    await transport.sendMail({ to: SUPPORT, ...message });
  } finally {
    transport.close();
  }
}

/** A subject of 200,000 characters without a space, as encoded words on folded lines (legal input). */
function hugeEncodedSubject(): string {
  const word = `=?utf-8?B?${Buffer.from('a'.repeat(45)).toString('base64')}?=`;
  return Array.from({ length: 4445 }, () => word).join('\r\n ');
}

function headerLines(raw: Buffer): string[] {
  return raw.subarray(0, raw.indexOf('\r\n\r\n')).toString('utf8').split('\r\n');
}

const to = (m: SinkMessage, address: string) => m.rcptTo.map((r) => r.toLowerCase()).includes(address);

describe(`outgoing mail hardening on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let sink: SmtpSink;
  let service: RunningService;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    sink = await startSmtpSink();
    service = await serviceWith(tdb, sink);
  });
  afterAll(async () => {
    await service?.stop();
    await sink?.stop();
    await tdb?.close();
  });

  it('answers a 200 KB subject with notices whose every header line is at most 998 characters', async () => {
    const stranger = `mallory-${Date.now()}@unknown.example`;
    const subject = hugeEncodedSubject();
    const strangerId = `<huge-subject-stranger-${Date.now()}@unknown.example>`;
    const contactId = `<huge-subject-contact-${Date.now()}@acme.example>`;
    // Raw messages: nodemailer would re-encode the subject; the encoded words are the attack.
    const raw = (from: string, id: string) => Buffer.from(
      `From: ${from}\r\nTo: ${SUPPORT}\r\nSubject: ${subject}\r\nMessage-ID: ${id}\r\nDate: Mon, 30 Nov 2026 09:00:00 +0000\r\n`
      + 'MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe export stops with E42.\r\n');
    await deliver(service, { envelope: { from: stranger, to: [SUPPORT] }, raw: raw(stranger, strangerId) });
    await deliver(service, { envelope: { from: 'bob@acme.example', to: [SUPPORT] }, raw: raw('Bob Builder <bob@acme.example>', contactId) });

    const answers = (list: readonly SinkMessage[]) => ({
      notice: list.find((m) => to(m, stranger)),
      ack: list.find((m) => to(m, 'bob@acme.example') && headerOf(m.raw, 'In-Reply-To') === contactId),
      notification: list.find((m) => to(m, 'erin@vendor.example') && /aaaa/.test(headerOf(m.raw, 'Subject') ?? '')),
    });
    const got = answers(await sink.waitFor((list) => Object.values(answers(list)).every(Boolean), 30_000));
    for (const m of [got.notice!, got.ack!, got.notification!]) {
      const longest = Math.max(...headerLines(m.raw).map((l) => l.length));
      expect(longest, headerLines(m.raw).find((l) => l.length > 998)?.slice(0, 80)).toBeLessThanOrEqual(998);
      const parsed = await simpleParser(m.raw);
      expect(parsed.subject!.length).toBeLessThanOrEqual(240);
      expect(parsed.subject).toMatch(/a{100}…$/);
    }
    expect((await simpleParser(got.notice!.raw)).subject).toMatch(/^Re: a{196}…$/);
    expect(headerOf(got.notice!.raw, 'In-Reply-To')).toBe(strangerId);
    // The rows themselves are small.
    const rows = await tdb.db.selectFrom('outbox').select(['subject']).where(sql`to_addresses::text`, 'like', `%${stranger}%`).execute();
    expect(rows.map((r) => r.subject.length)).toEqual([201]);
  });

  it('carries no CR or LF from a customer subject or display name into any header we send (encoded words decode to line breaks)', async () => {
    const id = `<crlf-${Date.now()}@acme.example>`;
    // RFC 2047 words are legal input and decode to CR LF: the subject and name below each hide a Bcc and a header.
    const q = (s: string) => `=?utf-8?B?${Buffer.from(s).toString('base64')}?=`;
    const raw = Buffer.from(
      `From: ${q('Bob\r\nBcc: victim@evil.example\r\nX-Injected-Name: 1')} <bob@acme.example>\r\nTo: ${SUPPORT}\r\n`
      + `Subject: ${q('Export fails\r\nBcc: victim@evil.example\r\nX-Injected: 1\nCc: victim2@evil.example')}\r\nMessage-ID: ${id}\r\n`
      + 'Date: Mon, 30 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe export stops with E42.\r\n');
    await deliver(service, { envelope: { from: 'bob@acme.example', to: [SUPPORT] }, raw });

    const ours = (list: readonly SinkMessage[]) => {
      const ack = list.find((m) => headerOf(m.raw, 'In-Reply-To') === id);
      const number = /\[Case #(\d+)\]/.exec(ack ? headerOf(ack.raw, 'Subject') ?? '' : '')?.[1];
      const notification = number ? list.find((m) => to(m, 'erin@vendor.example') && (headerOf(m.raw, 'Subject') ?? '').includes(`#${number}]`)) : undefined;
      return { ack, notification };
    };
    const got = ours(await sink.waitFor((list) => Object.values(ours(list)).every(Boolean), 20_000));
    for (const m of [got.ack!, got.notification!]) {
      expect(headerLines(m.raw).filter((l) => /^(Bcc|Cc|X-Injected[\w-]*):/i.test(l))).toEqual([]);
      expect(m.rcptTo.filter((r) => r.includes('evil.example'))).toEqual([]);
      const parsed = await simpleParser(m.raw);
      // The would-be headers stay subject text (the intake already joins the lines).
      expect(parsed.subject).toMatch(/Export fails ?Bcc: victim@evil\.example ?X-Injected: 1 ?Cc: victim2@evil\.example/);
      const names = [parsed.from, parsed.replyTo, ...[parsed.to ?? []].flat()].flatMap((a) => a?.value ?? []).map((v) => v.name ?? '');
      for (const value of [parsed.subject ?? '', ...names]) expect(value).not.toMatch(/[\r\n]/);
      expect([...parsed.headers.keys()].filter((k) => k.startsWith('x-injected') || k === 'cc' || k === 'bcc')).toEqual([]);
    }
    // The body of the notification shows the decoded name and subject; there line breaks are harmless text.
    expect((await simpleParser(got.notification!.raw)).text).toContain('Export fails');
  });

  it('never sends to our own address, +tag included: the notice is not sent and the row says why', async () => {
    const looped = `support+c${Date.now()}@casemail.localhost`;
    const id = `<own-address-${Date.now()}@casemail.localhost.example>`;
    await deliver(service, {
      envelope: { from: looped, to: [SUPPORT] }, from: `Support <${looped}>`, subject: 'Please help', text: 'Hello', messageId: id,
    });
    // The intake holds the message and queues a notice to the sender; the dispatcher must refuse it.
    await expect.poll(async () => (await tdb.db.selectFrom('outbox').select(['status', 'last_error'])
      .where(sql`to_addresses::text`, 'like', `%${looped}%`).execute()), { timeout: 20_000, interval: 100 })
      .toEqual([{ status: 'failed', last_error: `not sent: no recipient left: ${looped} (one of our own addresses)` }]);
    const held = await tdb.db.selectFrom('messages').select(['status']).where('message_id_header', '=', id).execute();
    expect(held).toEqual([{ status: 'held' }]);
    // And mail for customers still flows.
    const after = `<after-own-${Date.now()}@acme.example>`;
    await deliver(service, { from: 'Bob Builder <bob@acme.example>', subject: 'After the loop', text: 'E42 again', messageId: after });
    await sink.waitFor((list) => list.some((m) => headerOf(m.raw, 'In-Reply-To') === after), 20_000);
    expect(sink.messages.filter((m) => m.rcptTo.some((r) => /@casemail\.localhost$/i.test(r)))).toEqual([]);
  });

  it('sends a multi-megabyte request to engineers as its first 4,000 characters, a pointer to the case and the attachment by name and size', async () => {
    const line = (i: number) => `Line ${i}: the nightly export stops with error E42 at record ${i}.\n`;
    let text = '';
    for (let i = 0; text.length < 3_000_000; i++) text += line(i);
    const id = `<big-text-${Date.now()}@acme.example>`;
    await deliver(service, {
      from: 'Bob Builder <bob@acme.example>', subject: `Huge log pasted ${Date.now()}`, text, messageId: id,
      attachments: [{ filename: 'dump.bin', content: Buffer.alloc(200_000, 7) }],
    });
    const ack = (await sink.waitFor((list) => list.some((m) => headerOf(m.raw, 'In-Reply-To') === id), 60_000))
      .find((m) => headerOf(m.raw, 'In-Reply-To') === id)!;
    const number = Number(/\[Case #(\d+)\]/.exec(headerOf(ack.raw, 'Subject') ?? '')?.[1]);
    const [notification] = await sink.waitFor((list) => list.some((m) => to(m, 'erin@vendor.example') && (headerOf(m.raw, 'Subject') ?? '').includes(`#${number}]`)), 20_000)
      .then((list) => list.filter((m) => to(m, 'erin@vendor.example') && (headerOf(m.raw, 'Subject') ?? '').includes(`#${number}]`)));

    expect(notification!.raw.length).toBeLessThan(40_000);
    const parsed = await simpleParser(notification!.raw);
    expect(parsed.attachments).toEqual([]);
    expect(parsed.text).toContain(line(0).trim());
    expect(parsed.text).toMatch(new RegExp(`… \\([\\d,]+ more characters; \`casemail case show ${number}\`\\)`));
    expect(parsed.text).toMatch(/dump\.bin \(195 KB\)/);
    const row = await tdb.db.selectFrom('outbox').innerJoin('cases', 'cases.id', 'outbox.case_id').select(['outbox.data'])
      .where('cases.number', '=', number).where('outbox.kind', '=', 'new-case-notification').executeTakeFirstOrThrow();
    expect(JSON.stringify(row.data).length).toBeLessThan(10_000);
  });

  it('does not notify a queue address that is one of ours, and still acknowledges the customer', async () => {
    await service.stop();
    service = await serviceWith(tdb, sink, { addresses: { queue: 'support+queue@casemail.localhost' }, assignment: { rule: 'queue' } });
    const id = `<queue-own-${Date.now()}@acme.example>`;
    await deliver(service, { from: 'Bob Builder <bob@acme.example>', subject: 'Queue is ours', text: 'E42', messageId: id });
    await sink.waitFor((list) => list.some((m) => headerOf(m.raw, 'In-Reply-To') === id), 20_000);
    await expect.poll(async () => (await tdb.db.selectFrom('outbox').select(['status', 'last_error'])
      .where('kind', '=', 'new-case-notification').where(sql`to_addresses::text`, 'like', '%support+queue@%').execute()), { timeout: 20_000, interval: 100 })
      .toEqual([{ status: 'failed', last_error: 'not sent: no recipient left: support+queue@casemail.localhost (one of our own addresses)' }]);
    expect(sink.messages.filter((m) => m.rcptTo.some((r) => /@casemail\.localhost$/i.test(r)))).toEqual([]);
  });
});
