// The outbox end to end: rows enqueued in a transaction, claimed, rendered, sent to a real
// smtp-server sink on 127.0.0.1 (or written as .eml files), and recorded. Time is passed to
// runOnce, so retries are driven by moving `now` forward, never by waiting.
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import { hostname } from 'node:os';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log/logger.js';
import type { OutgoingMail } from '../../src/notify/mail-kinds.js';
import { OutboxDispatcher, type OutboxDispatcherOptions } from '../../src/notify/outbox-dispatcher.js';
import { claimDueMail, enqueueMail, outboxSummary, requeueFailedMail } from '../../src/notify/outbox-store.js';
import { loadMailTemplates, SAMPLE_MAIL_DATA, type MailTemplates } from '../../src/notify/templates.js';
import { createFileTransport, createSmtpTransport, type MailTransport, type OutgoingEnvelope, type SendResult } from '../../src/notify/transport.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { tempDir } from '../support/temp-dirs.js';

const SUPPORT = 'support@casemail.test';
const DOMAIN = 'casemail.test';
const LOOP_HEADER = 'X-Casemail-Loop';
const BASE_SECONDS = 30;
const T0 = new Date('2026-11-30T09:00:00.000Z');

function at(secondsAfterT0: number): Date {
  return new Date(T0.getTime() + secondsAfterT0 * 1000);
}

describe(`outbox dispatcher on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let sink: SmtpSink;
  let smtp: MailTransport;
  let templates: MailTemplates;
  let caseId: number;
  let caseNumber: number;
  let seq = 0;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    sink = await startSmtpSink();
    smtp = createSmtpTransport({ url: `smtp://${sink.host}:${sink.port}`, connectionTimeoutMs: 5000, greetingTimeoutMs: 5000, socketTimeoutMs: 10_000 });
    templates = loadMailTemplates(path.resolve('templates'));
    const org = await tdb.db.insertInto('organisations').values({ key: 'acme', name: 'Acme' }).returning('id').executeTakeFirstOrThrow();
    const c = await tdb.db.insertInto('cases').values({
      organisation_id: org.id, subject: 'Export fails', severity: 2, severity_source: 'default', severity_reasons: '[]',
      opened_at: T0, first_response_due_at: at(8 * 3600), state_entered_at: T0,
    }).returning(['id', 'number']).executeTakeFirstOrThrow();
    caseId = c.id;
    caseNumber = c.number;
  });

  afterAll(async () => {
    await smtp?.close();
    await sink?.stop();
    await tdb?.close();
  });

  beforeEach(async () => {
    await tdb.db.deleteFrom('messages').where('direction', '=', 'outbound').execute();
    await tdb.db.deleteFrom('outbox').execute();
    sink.setFailure(null);
    sink.clear();
  });

  function dispatcher(overrides: Partial<OutboxDispatcherOptions> = {}): OutboxDispatcher {
    return new OutboxDispatcher({
      db: tdb.db, transport: smtp, templates, logger: silentLogger, supportAddress: SUPPORT, loopHeader: LOOP_HEADER,
      maxAttempts: 5, retryBaseSeconds: BASE_SECONDS, random: () => 0, ...overrides,
    });
  }

  function ack(overrides: Partial<OutgoingMail<'acknowledgement'>> = {}): OutgoingMail<'acknowledgement'> {
    seq += 1;
    const data = { ...SAMPLE_MAIL_DATA.acknowledgement, case: { number: caseNumber, tag: `[Case #${caseNumber}]`, subject: 'Export fails' } };
    return {
      causeKey: `ack:test:${seq}`, kind: 'acknowledgement', caseId, to: [`customer${seq}@example.com`],
      subject: `[Case #${caseNumber}] Export fails`, inReplyTo: `<customer-${seq}@mail.example.com>`,
      references: [`<customer-${seq}@mail.example.com>`], autoSubmitted: 'auto-replied', data, ...overrides,
    };
  }

  async function enqueue(mail: OutgoingMail, now = T0): Promise<{ inserted: boolean; messageIdHeader: string }> {
    return tdb.db.transaction().execute((trx) => enqueueMail(trx, mail, { messageIdDomain: DOMAIN, now }));
  }

  async function row(messageIdHeader: string) {
    return tdb.db.selectFrom('outbox').selectAll().where('message_id_header', '=', messageIdHeader).executeTakeFirstOrThrow();
  }

  const parse = (m: SinkMessage): Promise<ParsedMail> => simpleParser(m.raw);
  const headerBlock = (m: SinkMessage): string => m.raw.toString('utf8').split(/\r?\n\r?\n/)[0] ?? '';

  it('writes one row per cause: a second enqueue of the same cause keeps the first Message-ID and sends one mail', async () => {
    const mail = ack();
    const first = await enqueue(mail);
    const second = await enqueue({ ...mail, subject: 'different' }, at(60));
    expect(first.inserted).toBe(true);
    expect(second).toEqual({ inserted: false, messageIdHeader: first.messageIdHeader });
    expect(first.messageIdHeader).toMatch(new RegExp(`^<[A-Za-z0-9_-]+@${DOMAIN.replace('.', '\\.')}>$`));

    const d = dispatcher();
    expect(await d.runOnce(at(1))).toEqual({ sent: 1, retried: 0, failed: 0 });
    expect(await d.runOnce(at(2))).toEqual({ sent: 0, retried: 0, failed: 0 });
    await sink.waitFor(1);
    expect(sink.messages).toHaveLength(1);
    expect((await tdb.db.selectFrom('outbox').select('id').execute())).toHaveLength(1);
  });

  it('sends from the support address with the tag, our Message-ID, threading, Auto-Submitted, the loop header and both bodies; records the outbound message', async () => {
    const mail = ack({ cc: ['colleague@example.com'], replyTo: SUPPORT });
    const { messageIdHeader } = await enqueue(mail);
    expect(await dispatcher().runOnce(at(5))).toEqual({ sent: 1, retried: 0, failed: 0 });

    const [received] = await sink.waitFor(1);
    const parsed = await parse(received!);
    expect(received!.mailFrom).toBe(SUPPORT);
    expect([...received!.rcptTo].sort()).toEqual(['colleague@example.com', mail.to[0]].sort());
    expect(parsed.from?.value[0]?.address).toBe(SUPPORT);
    expect(parsed.subject).toBe(`[Case #${caseNumber}] Export fails`);
    expect(parsed.messageId).toBe(messageIdHeader);
    expect(parsed.inReplyTo).toBe(mail.inReplyTo);
    expect(parsed.references).toBe(mail.inReplyTo);
    expect(parsed.headers.get('auto-submitted')).toBe('auto-replied');
    expect(parsed.headers.get('x-casemail-loop')).toBe(SUPPORT);
    expect(parsed.date?.toISOString()).toBe(at(5).toISOString());
    expect(parsed.text).toContain(`keep [Case #${caseNumber}] in the subject`);
    expect(parsed.html).toContain(`[Case #${caseNumber}]`);
    expect(String(parsed.headers.get('content-type') && (parsed.headers.get('content-type') as { value: string }).value)).toBe('multipart/alternative');

    const r = await row(messageIdHeader);
    expect(r).toMatchObject({ status: 'sent', attempts: 1, locked_until: null, locked_by: null, last_error: null });
    expect(r.sent_at?.toISOString()).toBe(at(5).toISOString());
    const recorded = await tdb.db.selectFrom('messages').innerJoin('raw_messages', 'raw_messages.sha256', 'messages.raw_sha256')
      .select(['messages.direction', 'messages.source', 'messages.status', 'messages.case_id', 'messages.in_reply_to', 'messages.references', 'raw_messages.bytes'])
      .where('messages.message_id_header', '=', messageIdHeader).execute();
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ direction: 'outbound', source: 'outbox', status: 'sent', case_id: caseId, in_reply_to: mail.inReplyTo, references: mail.references });
    expect(Buffer.from(recorded[0]!.bytes).equals(received!.raw)).toBe(true);
  });

  it('retries a 4xx answer later (with backoff) and then delivers', async () => {
    sink.setFailure({ code: 451, message: '4.3.0 try again later', times: 1 });
    const { messageIdHeader } = await enqueue(ack());
    const d = dispatcher();
    expect(await d.runOnce(at(0))).toEqual({ sent: 0, retried: 1, failed: 0 });
    const waiting = await row(messageIdHeader);
    expect(waiting).toMatchObject({ status: 'pending', attempts: 1, locked_until: null });
    expect(waiting.last_error).toContain('451');
    expect(waiting.last_error).toContain('try again later');
    expect(waiting.next_attempt_at.toISOString()).toBe(at(BASE_SECONDS).toISOString());

    expect(await d.runOnce(at(BASE_SECONDS - 1))).toEqual({ sent: 0, retried: 0, failed: 0 });
    expect(await d.runOnce(at(BASE_SECONDS))).toEqual({ sent: 1, retried: 0, failed: 0 });
    const [received] = await sink.waitFor(1);
    expect((await parse(received!)).messageId).toBe(messageIdHeader);
    expect(await row(messageIdHeader)).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('doubles the wait after each temporary failure and marks the row failed after maxAttempts', async () => {
    sink.setFailure({ code: 421, message: '4.7.0 busy' });
    const { messageIdHeader } = await enqueue(ack());
    const d = dispatcher({ maxAttempts: 3 });
    expect(await d.runOnce(at(0))).toMatchObject({ retried: 1 });
    expect((await row(messageIdHeader)).next_attempt_at.toISOString()).toBe(at(30).toISOString());
    expect(await d.runOnce(at(30))).toMatchObject({ retried: 1 });
    expect((await row(messageIdHeader)).next_attempt_at.toISOString()).toBe(at(30 + 60).toISOString());
    expect(await d.runOnce(at(90))).toEqual({ sent: 0, retried: 0, failed: 1 });
    const failed = await row(messageIdHeader);
    expect(failed).toMatchObject({ status: 'failed', attempts: 3 });
    expect(failed.last_error).toMatch(/gave up after 3 attempts: .*421/);
    expect(sink.messages).toHaveLength(0);

    // An operator requeues it once the relay is fixed.
    sink.setFailure(null);
    expect(await requeueFailedMail(tdb.db, { now: at(100) })).toBe(1);
    expect(await d.runOnce(at(100))).toMatchObject({ sent: 1 });
    await sink.waitFor(1);
  });

  it('marks a 5xx answer failed at once with the server reply, and other rows still go out', async () => {
    sink.setFailure({ code: 550, message: '5.1.1 mailbox unavailable', stage: 'rcpt', times: 1 });
    const bad = await enqueue(ack());
    const good = await enqueue(ack(), at(1));
    expect(await dispatcher().runOnce(at(2))).toEqual({ sent: 1, retried: 0, failed: 1 });
    const failed = await row(bad.messageIdHeader);
    expect(failed.status).toBe('failed');
    expect(failed.last_error).toContain('550');
    expect(failed.last_error).toContain('5.1.1 mailbox unavailable');
    const [received] = await sink.waitFor(1);
    expect((await parse(received!)).messageId).toBe(good.messageIdHeader);
    expect(await outboxSummary(tdb.db)).toMatchObject({ pending: 0, sent: 1, failed: 1 });
  });

  it('keeps mail waiting while the SMTP server is down and delivers all of it once it is back', async () => {
    await sink.stop();
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await enqueue(ack())).messageIdHeader);
    const d = dispatcher();
    try {
      expect(await d.runOnce(at(0))).toEqual({ sent: 0, retried: 5, failed: 0 });
      for (const id of ids) {
        const r = await row(id);
        expect(r.status).toBe('pending');
        expect(r.last_error).toMatch(/ECONNREFUSED|ECONNECTION|ESOCKET/);
      }
      expect(await d.runOnce(at(10))).toEqual({ sent: 0, retried: 0, failed: 0 });
    } finally {
      await sink.restart();
    }
    expect(await d.runOnce(at(3600))).toEqual({ sent: 5, retried: 0, failed: 0 });
    const received = await sink.waitFor(5);
    const receivedIds = await Promise.all(received.map(async (m) => (await parse(m)).messageId));
    expect(receivedIds.sort()).toEqual([...ids].sort());
  });

  it('re-sends a row whose lease expired (its dispatcher died) with the same Message-ID', async () => {
    const { messageIdHeader } = await enqueue(ack());
    // A dispatcher claimed the row at T0 and died before sending or recording anything.
    const claimed = await claimDueMail(tdb.db, { now: T0, leaseMs: 600_000, owner: 'dead-dispatcher', limit: 10 });
    expect(claimed.map((c) => c.messageIdHeader)).toEqual([messageIdHeader]);

    const d = dispatcher({ leaseSeconds: 600 });
    expect(await d.runOnce(at(599))).toEqual({ sent: 0, retried: 0, failed: 0 });
    expect(await d.runOnce(at(601))).toEqual({ sent: 1, retried: 0, failed: 0 });
    const [received] = await sink.waitFor(1);
    expect((await parse(received!)).messageId).toBe(messageIdHeader);
    expect(await row(messageIdHeader)).toMatchObject({ status: 'sent', attempts: 2, locked_by: null });
  });

  it('frees at start the rows a dead dispatcher on this host had claimed, and leaves live or foreign leases alone', async () => {
    const dead = await enqueue(ack({ causeKey: 'lease:dead' }));
    const live = await enqueue(ack({ causeKey: 'lease:live' }));
    const foreign = await enqueue(ack({ causeKey: 'lease:foreign' }));
    // A pid that cannot be alive (above pid_max), this process's parent (alive), another host.
    const owners = { [dead.messageIdHeader]: `${hostname()}:4194399:aaaaaa`, [live.messageIdHeader]: `${hostname()}:${process.ppid}:bbbbbb`, [foreign.messageIdHeader]: 'elsewhere.example:12:cccccc' };
    for (const [id, owner] of Object.entries(owners)) {
      await tdb.db.updateTable('outbox').set({ locked_by: owner, locked_until: at(600) }).where('message_id_header', '=', id).execute();
    }
    const d = dispatcher({ leaseSeconds: 600 });
    expect(await d.releaseAbandoned()).toBe(1);
    expect(await d.runOnce(at(1))).toEqual({ sent: 1, retried: 0, failed: 0 });
    const [received] = await sink.waitFor(1);
    expect((await parse(received!)).messageId).toBe(dead.messageIdHeader);
    expect(await row(live.messageIdHeader)).toMatchObject({ status: 'pending', locked_by: owners[live.messageIdHeader] });
    expect(await row(foreign.messageIdHeader)).toMatchObject({ status: 'pending', locked_by: 'elsewhere.example:12:cccccc' });
    await tdb.db.deleteFrom('outbox').where('cause_key', 'in', ['lease:live', 'lease:foreign']).execute();
  });

  it('after a death between the server accepting and the commit, the second delivery carries the same Message-ID', async () => {
    const { messageIdHeader } = await enqueue(ack());
    // This transport hands the mail to the server, then never returns: the process "died" there.
    let releaseHung!: (err: Error) => void;
    const hung = new Promise<never>((_, reject) => (releaseHung = reject));
    const dying: MailTransport = {
      name: 'dies after accept',
      async send(envelope: OutgoingEnvelope): Promise<SendResult> {
        await smtp.send(envelope);
        return hung;
      },
      async close() {},
    };
    const first = dispatcher({ transport: dying, leaseSeconds: 600, owner: 'first' });
    const firstRun = first.runOnce(T0);
    await sink.waitFor(1);

    const second = dispatcher({ leaseSeconds: 600, owner: 'second' });
    expect(await second.runOnce(at(300))).toEqual({ sent: 0, retried: 0, failed: 0 });
    expect(await second.runOnce(at(601))).toEqual({ sent: 1, retried: 0, failed: 0 });
    const received = await sink.waitFor(2);
    const ids = await Promise.all(received.map(async (m) => (await parse(m)).messageId));
    expect(ids).toEqual([messageIdHeader, messageIdHeader]);

    // The "dead" one wakes up with an error: it must not undo the recorded delivery.
    releaseHung(Object.assign(new Error('connection lost'), { code: 'ECONNECTION' }));
    await firstRun;
    expect(await row(messageIdHeader)).toMatchObject({ status: 'sent' });
    const outbound = await tdb.db.selectFrom('messages').select('id').where('message_id_header', '=', messageIdHeader).execute();
    expect(outbound).toHaveLength(1);
  });

  it('strips CR/LF from a subject, a display name and a Reply-To so a header injection does not create a header or a recipient', async () => {
    const { messageIdHeader } = await enqueue(ack({
      subject: `[Case #${caseNumber}] Hi\r\nBcc: victim@evil.example\r\nX-Injected: yes`,
      fromName: 'Erin\r\nBcc: victim2@evil.example\nX-Injected-Name: yes\r via Support',
      replyTo: `support+c${caseNumber}@casemail.test\r\nX-Injected-Reply: yes\n\rCc: victim3@evil.example`,
    }));
    const stored = await row(messageIdHeader);
    expect(stored.subject).toBe(`[Case #${caseNumber}] Hi Bcc: victim@evil.example X-Injected: yes`);
    expect(`${stored.subject}${stored.from_name}${stored.reply_to}`).not.toMatch(/[\r\n]/);
    expect(await dispatcher().runOnce(at(1))).toMatchObject({ sent: 1 });
    const [received] = await sink.waitFor(1);
    const headers = headerBlock(received!);
    expect(headers).not.toMatch(/^(Bcc|Cc|X-Injected[\w-]*):/im);
    expect(received!.rcptTo.filter((r) => r.includes('evil.example'))).toEqual([]);
    const parsed = await parse(received!);
    expect(parsed.subject).toBe(`[Case #${caseNumber}] Hi Bcc: victim@evil.example X-Injected: yes`);
    expect(parsed.from?.value[0]?.name).toBe('Erin Bcc: victim2@evil.example X-Injected-Name: yes via Support');
    expect(parsed.from?.value[0]?.address).toBe(SUPPORT);
    expect([...parsed.headers.keys()].filter((k) => k.startsWith('x-injected'))).toEqual([]);
    expect(parsed.cc).toBeUndefined();
    // The Reply-To that read as a group after its breaks were removed is not sent at all (no extra reply address).
    expect(parsed.replyTo).toBeUndefined();
  });

  it('sends a Reply-To that is one plain address as it is', async () => {
    await enqueue(ack({ replyTo: `support+c${caseNumber}@casemail.test` }));
    expect(await dispatcher().runOnce(at(1))).toMatchObject({ sent: 1 });
    const [received] = await sink.waitFor(1);
    expect((await parse(received!)).replyTo?.value.map((v) => v.address)).toEqual([`support+c${caseNumber}@casemail.test`]);
  });

  it('drops malformed threading ids instead of copying them into headers', async () => {
    await enqueue(ack({ inReplyTo: '<ok@mail.example.com>\r\nX-Evil: 1', references: ['garbage with spaces', '<ref@mail.example.com>'] }));
    expect(await dispatcher().runOnce(at(1))).toMatchObject({ sent: 1 });
    const [received] = await sink.waitFor(1);
    const parsed = await parse(received!);
    expect(parsed.inReplyTo).toBe('<ok@mail.example.com>');
    expect(parsed.references).toEqual(['<ref@mail.example.com>', '<ok@mail.example.com>']);
    expect(headerBlock(received!)).not.toMatch(/^X-Evil:/im);
  });

  it('marks a row whose template cannot render failed with the error, and sends the rest', async () => {
    const broken = await enqueue(ack({ data: { ...SAMPLE_MAIL_DATA.acknowledgement, case: undefined } as never }));
    const unknown = await enqueue(ack());
    await tdb.db.updateTable('outbox').set({ template: 'no-such-kind' }).where('message_id_header', '=', unknown.messageIdHeader).execute();
    const good = await enqueue(ack());
    expect(await dispatcher().runOnce(at(1))).toEqual({ sent: 1, retried: 0, failed: 2 });
    expect((await row(broken.messageIdHeader)).last_error).toMatch(/cannot build the mail: .*not defined/);
    expect((await row(unknown.messageIdHeader)).last_error).toMatch(/unknown mail kind "no-such-kind"/);
    const [received] = await sink.waitFor(1);
    expect((await parse(received!)).messageId).toBe(good.messageIdHeader);
  });

  it('lets two dispatchers work the same queue without sending anything twice', async () => {
    const ids = [];
    for (let i = 0; i < 30; i++) ids.push((await enqueue(ack())).messageIdHeader);
    const a = dispatcher({ owner: 'a', batchSize: 4 });
    const b = dispatcher({ owner: 'b', batchSize: 4 });
    const [ra, rb] = await Promise.all([a.runOnce(at(1)), b.runOnce(at(1))]);
    expect(ra.sent + rb.sent).toBe(30);
    const received = await sink.waitFor(30);
    const receivedIds = await Promise.all(received.map(async (m) => (await parse(m)).messageId));
    expect(new Set(receivedIds).size).toBe(30);
    expect(receivedIds.sort()).toEqual([...ids].sort());
  });

  it('runs in the background: wake() after a commit delivers without waiting for the poll, stop() ends the loop', async () => {
    let clockReads = 0;
    const d = dispatcher({ pollIntervalMs: 600_000, clock: () => {
      clockReads += 1;
      return at(clockReads);
    } });
    d.start();
    try {
      const { messageIdHeader } = await enqueue(ack());
      d.wake();
      const [received] = await sink.waitFor(1);
      expect((await parse(received!)).messageId).toBe(messageIdHeader);
    } finally {
      await d.stop();
    }
    const reads = clockReads;
    await enqueue(ack());
    d.wake();
    expect(clockReads).toBe(reads);
    expect((await outboxSummary(tdb.db)).pending).toBe(1);
  });

  it('stop() lets the send in flight finish and be recorded, and gives the other claimed rows back', async () => {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await enqueue(ack())).messageIdHeader);
    let started!: () => void;
    const sendStarted = new Promise<void>((resolve) => (started = resolve));
    let proceed!: () => void;
    const mayProceed = new Promise<void>((resolve) => (proceed = resolve));
    const slow: MailTransport = {
      name: 'slow',
      async send(envelope) {
        started();
        await mayProceed;
        return smtp.send(envelope);
      },
      async close() {},
    };
    const d = dispatcher({ transport: slow, concurrency: 1, pollIntervalMs: 600_000, clock: () => at(1) });
    d.start();
    await sendStarted;
    const stopped = d.stop();
    proceed();
    await stopped;

    await sink.waitFor(1);
    const rows = await Promise.all(ids.map(row));
    expect(rows.map((r) => r.status)).toEqual(['sent', 'pending', 'pending']);
    expect(rows.map((r) => r.attempts)).toEqual([1, 0, 0]);
    expect(rows.map((r) => r.locked_by)).toEqual([null, null, null]);
    expect(sink.messages).toHaveLength(1);
  });

  it('records mails accepted together in shared commits: every row sent at its instant with its own outbound message', async () => {
    const mails = Array.from({ length: 12 }, () => ack());
    const ids = (await Promise.all(mails.map((m) => enqueue(m)))).map((r) => r.messageIdHeader);
    expect(await dispatcher({ concurrency: 12 }).runOnce(at(3))).toEqual({ sent: 12, retried: 0, failed: 0 });
    const rows = await Promise.all(ids.map(row));
    expect(rows.map((r) => [r.status, r.locked_by, r.sent_at?.toISOString()])).toEqual(ids.map(() => ['sent', null, at(3).toISOString()]));
    const outbound = await tdb.db.selectFrom('messages').innerJoin('raw_messages', 'raw_messages.sha256', 'messages.raw_sha256')
      .select(['message_id_header', 'raw_sha256', 'case_id', 'in_reply_to', 'references', 'from_address', 'subject', 'sent_at', 'kind', 'status', 'source', 'visible_text', 'bytes'])
      .where('direction', '=', 'outbound').execute();
    expect(outbound.map((m) => m.message_id_header).sort()).toEqual([...ids].sort());
    expect(new Set(outbound.map((m) => m.raw_sha256)).size).toBe(12);
    await sink.waitFor(12);
    for (const m of outbound) {
      const mail = mails[ids.indexOf(m.message_id_header!)]!;
      expect(m).toMatchObject({
        case_id: caseId, in_reply_to: mail.inReplyTo, references: mail.references, from_address: SUPPORT, subject: mail.subject,
        sent_at: at(3), kind: 'acknowledgement', status: 'sent', source: 'outbox',
      });
      expect(m.visible_text).toContain(`Case #${caseNumber}`);
      // The stored bytes are the bytes the relay got.
      const got = sink.messages.find((x) => x.raw.toString('latin1').includes(m.message_id_header!));
      expect(Buffer.from(m.bytes).equals(got!.raw)).toBe(true);
    }
  });

  it('a row the database refuses to record does not keep the others of its commit from being recorded', async () => {
    const bad = ack({ subject: 'refuse-to-record' });
    const good = Array.from({ length: 6 }, () => ack());
    const badId = (await enqueue(bad)).messageIdHeader;
    const goodIds = (await Promise.all(good.map((m) => enqueue(m)))).map((r) => r.messageIdHeader);
    // A real refusal from PostgreSQL (not a lost connection) for one outbound message row.
    await sql`create function refuse_outbound() returns trigger language plpgsql as $$
      begin if new.subject = 'refuse-to-record' then raise exception 'refused for the test'; end if; return new; end $$`.execute(tdb.db);
    await sql`create trigger refuse_outbound before insert on messages for each row execute function refuse_outbound()`.execute(tdb.db);
    // Every send is held until all seven reached the relay, then answered with the refused row last:
    // the first answered is recorded alone, the six others (the refused one among them) together.
    const badRowId = (await row(badId)).id;
    const held: { id: number | undefined; release: () => void }[] = [];
    const gated: MailTransport = {
      name: 'gated smtp',
      async send(envelope: OutgoingEnvelope): Promise<SendResult> {
        const result = await smtp.send(envelope);
        await new Promise<void>((release) => {
          held.push({ id: envelope.label?.outboxId, release });
          if (held.length < 7) return;
          held.sort((a, b) => Number(a.id === badRowId) - Number(b.id === badRowId));
          for (const h of held) h.release();
        });
        return result;
      },
      close: async () => {},
    };
    try {
      await dispatcher({ concurrency: 7, transport: gated }).runOnce(at(4));
    } finally {
      await sql`drop trigger refuse_outbound on messages`.execute(tdb.db);
      await sql`drop function refuse_outbound()`.execute(tdb.db);
    }
    expect((await Promise.all(goodIds.map(row))).map((r) => r.status)).toEqual(goodIds.map(() => 'sent'));
    // Sent but not recorded: left to its lease (the double delivery spec §6 allows).
    const left = await row(badId);
    expect([left.status, left.locked_by]).toEqual(['pending', expect.any(String)]);
    expect(sink.messages).toHaveLength(7);
  });

  it('reads bouncing addresses once per batch, and each mail drops only its own', async () => {
    const org = await tdb.db.selectFrom('organisations').select('id').executeTakeFirstOrThrow();
    for (const address of ['gone1@example.com', 'gone2@example.com']) {
      await tdb.db.insertInto('contacts').values({ organisation_id: org.id, address, bouncing_since: T0, bounce_reason: `550 no ${address}` })
        .onConflict((oc) => oc.doNothing()).execute();
    }
    const first = await enqueue(ack({ to: ['gone1@example.com'] }));
    const second = await enqueue(ack({ to: ['gone2@example.com'] }));
    const mixed = await enqueue(ack({ to: ['alive@example.com'], cc: ['gone1@example.com'] }));
    expect(await dispatcher().runOnce(at(5))).toEqual({ sent: 1, retried: 0, failed: 2 });
    const [r1, r2, r3] = await Promise.all([first, second, mixed].map((m) => row(m.messageIdHeader)));
    expect(r1!.status).toBe('failed');
    expect(r1!.last_error).toContain('gone1@example.com');
    expect(r1!.last_error).not.toContain('gone2@example.com');
    expect(r2!.last_error).toContain('gone2@example.com');
    expect(r2!.last_error).not.toContain('gone1@example.com');
    expect(r3!.status).toBe('sent');
    const [received] = await sink.waitFor(1);
    expect(received!.rcptTo).toEqual(['alive@example.com']);
  });

  it('writes .eml files with the file transport, atomically and named by time, case and row', async () => {
    const dir = tempDir('casemail-outbox-');
    try {
      const { messageIdHeader } = await enqueue(ack());
      const noCase = await enqueue({
        causeKey: 'not-entitled:test', kind: 'not-entitled', caseId: null, to: ['stranger@example.com'], subject: 'Re: help',
        autoSubmitted: 'auto-replied', data: SAMPLE_MAIL_DATA['not-entitled'],
      });
      const d = dispatcher({ transport: createFileTransport(dir) });
      expect(await d.runOnce(at(2))).toEqual({ sent: 2, retried: 0, failed: 0 });
      const files = (await readdir(dir)).sort();
      const id = (await row(messageIdHeader)).id;
      const noCaseId = (await row(noCase.messageIdHeader)).id;
      expect(files).toEqual([`20261130T090002000Z-case${caseNumber}-${id}.eml`, `20261130T090002000Z-nocase-${noCaseId}.eml`].sort());
      const parsed = await simpleParser(await readFile(path.join(dir, files[0]!)));
      expect(parsed.messageId).toBe(messageIdHeader);
      expect(sink.messages).toHaveLength(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
