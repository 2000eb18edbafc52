// Cases worked by mail (issue 7), as a customer and an engineer use them: every message goes in
// through the real SMTP intake of the running service (in-process, test database) and whatever we
// send arrives at the real smtp-server sink. The engineer answers the mails they received, the way
// a mail client does: Re: subject, In-Reply-To, the notification quoted below, a signature.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startService, type RunningService } from '../../src/cli/start-command.js';
import { silentLogger } from '../../src/log/logger.js';
import { parseMessage } from '../../src/ingest/parse-message.js';
import { addBusinessDays } from '../../src/calendar/business-calendar.js';
import { calendarOf } from '../../src/cases/case-rules.js';
import { caseView } from '../../src/cases/case-view.js';
import { replyAddressFor } from '../../src/threading/reply-token.js';
import { REPLY_MARKER } from '../../src/threading/reply-marker.js';
import { MessageHandler } from '../../src/cases/message-handler.js';
import { releaseHeld } from '../../src/cases/held-release.js';
import { importDirectory } from '../../src/directory/directory-store.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';
import { headerOf, outboxSettled as settled, sendToIntake, smtpUrl } from '../support/service-harness.js';
import { tempDir } from '../support/temp-dirs.js';

const SUPPORT = 'support@casemail.localhost';
const SECRET = 'engineer-mail-scenario-secret';
const ERIN = 'erin@vendor.example';

describe(`cases worked by mail, through SMTP into the sink, on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let sink: SmtpSink;
  let service: RunningService;
  let settings: ReturnType<typeof loadConfig>['settings'];
  // The intake's clock: a Tuesday morning, before the real date so every outbox row is due at once.
  let now = new Date('2026-11-24T09:00:00Z');

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    sink = await startSmtpSink();
    const config = loadConfig({
      env: { SMTP_URL: smtpUrl(sink), REPLY_TOKEN_SECRET: SECRET },
      overrides: {
        dataDir: tempDir('casemail-engineer-'), demoDirectory: false, logLevel: 'silent',
        smtpIntake: { enabled: true, host: '127.0.0.1', port: 0 }, imap: { mailboxes: [] }, outbox: { retryBaseSeconds: 0.2 },
        // Every scenario here runs in the same hour; the per-address limit on automatic mail (loop-safety.test.ts) is not under test.
        limits: { maxAutomaticMailPerAddressPerHour: 1000 },
      },
    });
    settings = config.settings;
    service = await startService({ config, logger: silentLogger }, tdb, { clock: () => now });
  });
  afterAll(async () => {
    await service?.stop();
    await sink?.stop();
    await tdb?.close();
  });

  const send = (raw: Buffer, from: string, to: string[] = [SUPPORT]) => sendToIntake(service.smtp!.port, raw, { from, to });

  const rowId = (reply: string) => Number(/OK: \w+ (\d+)/.exec(reply)?.[1]);
  const subjectOf = (m: SinkMessage) => headerOf(m.raw, 'Subject') ?? '';
  const to = (who: string) => (m: SinkMessage) => m.rcptTo.includes(who);
  const received = (pred: (m: SinkMessage) => boolean) => sink.messages.filter(pred);
  async function waitOne(pred: (m: SinkMessage) => boolean, already = 0): Promise<SinkMessage> {
    const got = await sink.waitFor((ms) => ms.filter(pred).length > already, 20_000);
    return got.filter(pred)[already]!;
  }
  const outboxSettled = () => settled(tdb.db);
  const caseRow = (n: number) => tdb.db.selectFrom('cases').selectAll().where('number', '=', n).executeTakeFirstOrThrow();

  /** A customer's new request; resolves with its case number, acknowledgement and the engineer's notification. */
  async function openCase(subject: string, body = 'Since the update to 4.2 the nightly export stops with error E42.\n\nBob\n', from = 'Bob Builder <bob@acme.example>') {
    const raw = buildMail({ from, subject, body });
    const address = /<(.+)>/.exec(from)![1]!;
    const reply = await send(raw, address);
    expect(reply).toMatch(/OK: processed/);
    const ack = await waitOne((m) => headerOf(m.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID'));
    const number = Number(/\[Case #(\d+)\]/.exec(subjectOf(ack))![1]);
    const notification = await waitOne((m) => to(ERIN)(m) && subjectOf(m).includes(`[Case #${number}] New case`));
    return { raw, number, ack, notification };
  }

  /** What a mail client sends when the engineer answers `mail`: new text on top, a signature, then the quote. */
  async function engineerAnswers(mail: SinkMessage, newText: string, opts: { to?: string; subject?: string; inReplyTo?: string | null } = {}) {
    const original = await parseMessage(mail.raw);
    const quoted = original.text.trimEnd().split('\n').map((l) => `> ${l}`).join('\n');
    const body = `${newText}\n\n-- \nErin Engineer\nVendor Support, +49 30 1234567\n\nOn Tue, 24 Nov 2026 at 10:02, Support <${SUPPORT}> wrote:\n${quoted}\n`;
    const messageId = headerOf(mail.raw, 'Message-ID')!;
    const raw = buildMail({
      from: 'Erin Engineer <erin@vendor.example>', to: opts.to ?? headerOf(mail.raw, 'Reply-To') ?? SUPPORT,
      subject: opts.subject ?? `Re: ${subjectOf(mail)}`,
      ...(opts.inReplyTo === null ? {} : { inReplyTo: opts.inReplyTo ?? messageId, references: opts.inReplyTo ?? messageId }),
      body,
    });
    return { raw, reply: await send(raw, ERIN, [opts.to ?? SUPPORT]) };
  }

  /** The customer answers a mail they received, quoting it. */
  async function customerAnswers(mail: SinkMessage, newText: string, from = 'Bob Builder <bob@acme.example>') {
    const original = await parseMessage(mail.raw);
    const quoted = original.text.trimEnd().split('\n').map((l) => `> ${l}`).join('\n');
    const raw = buildMail({
      from, subject: `Re: ${subjectOf(mail)}`, inReplyTo: headerOf(mail.raw, 'Message-ID')!, references: headerOf(mail.raw, 'Message-ID')!,
      body: `${newText}\n\nOn Tue, 24 Nov 2026, Support wrote:\n${quoted}\n`,
    });
    return { raw, reply: await send(raw, /<(.+)>/.exec(from)![1]!) };
  }

  it('relays the engineer\'s answer to the new-case notification: exactly the new text, from support, in the case\'s thread; the case is open with a first response', async () => {
    const { raw, number, ack, notification } = await openCase('Export stops with E42');
    expect(headerOf(notification.raw, 'Reply-To')).toBe(replyAddressFor(SUPPORT, SECRET, number));
    const before = await caseRow(number);
    expect(before.state).toBe('new');
    expect(before.assignee_engineer_id).not.toBeNull();

    now = new Date('2026-11-24T10:05:00Z');
    const { reply } = await engineerAnswers(notification, 'Hello Bob,\n\nplease update to 4.2.1; it fixes E42.\n\nErin');
    expect(reply).toMatch(/OK: processed/);
    const relay = await waitOne((m) => to('bob@acme.example')(m) && headerOf(m.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID') && m !== ack);
    const parsed = await parseMessage(relay.raw);
    expect(parsed.from).toEqual({ name: 'Erin Engineer via Support', address: SUPPORT });
    expect(parsed.subject).toBe(`[Case #${number}] Export stops with E42`);
    expect(parsed.references).toContain(headerOf(raw, 'Message-ID'));
    // The reply marker stands above every mail we send, the relay included; below it exactly the new text.
    expect(parsed.text.trim()).toBe(`${REPLY_MARKER}\n\nHello Bob,\n\nplease update to 4.2.1; it fixes E42.\n\nErin\n\n-- \nErin Engineer\nVendor Support, +49 30 1234567`);
    expect(headerOf(relay.raw, 'Auto-Submitted')).toBeNull();
    expect(headerOf(relay.raw, 'Reply-To')).toBe(replyAddressFor(SUPPORT, SECRET, number));

    const after = await caseRow(number);
    expect(after.state).toBe('open');
    expect(after.first_response_at).toEqual(now);
  });

  it('#need-info relays the text and waits 15 business days; the customer\'s reply reopens the case, clears the deadline and tells the assignee', async () => {
    now = new Date('2026-11-24T11:00:00Z');
    const { number, notification } = await openCase('Licence server refuses seats');
    now = new Date('2026-11-24T11:30:00Z');
    await engineerAnswers(notification, '#need-info\nCould you send the licence server log (lserver.log)?\n\nErin');
    const relay = await waitOne((m) => to('bob@acme.example')(m) && subjectOf(m) === `[Case #${number}] Licence server refuses seats` && /Erin Engineer via Support/.test(headerOf(m.raw, 'From') ?? ''));
    const text = (await parseMessage(relay.raw)).text;
    expect(text.startsWith(`${REPLY_MARKER}\n\nCould you send the licence server log`)).toBe(true);
    expect(text).not.toContain('#need-info');
    const waiting = await caseRow(number);
    expect(waiting.state).toBe('awaiting_customer');
    expect(waiting.auto_close_reason).toBe('no_response');
    expect(waiting.auto_close_at).toEqual(addBusinessDays(calendarOf(settings), now, 15));
    expect(waiting.auto_close_at).toEqual(new Date('2026-12-15T11:30:00Z'));

    now = new Date('2026-11-25T08:00:00Z');
    const { reply } = await customerAnswers(relay, 'Here is the log: the server says "seat table locked".');
    expect(reply).toMatch(/OK: processed/);
    const open = await caseRow(number);
    expect(open.state).toBe('open');
    expect(open.auto_close_at).toBeNull();
    const told = await waitOne((m) => to(ERIN)(m) && subjectOf(m).startsWith(`[Case #${number}] Customer reply`));
    const toldText = (await parseMessage(told.raw)).text;
    expect(toldText).toContain('Here is the log: the server says "seat table locked".');
    expect(toldText).not.toContain('> Could you send');
  });

  it('a customer\'s reply above the reply marker reaches the engineer as only the new text, the quoted acknowledgement cut at the marker', async () => {
    const { number, ack } = await openCase('Export hangs at 99 percent');
    const ackText = (await parseMessage(ack.raw)).text;
    expect(ackText.startsWith(REPLY_MARKER)).toBe(true);
    // A client the quote heuristics do not know: "|" quoting under an attribution with neither date nor colon.
    const quoted = ackText.trimEnd().split('\n').map((l) => `| ${l}`.trimEnd()).join('\n');
    const newText = 'It hangs with PDF files over 200 pages.\nVersion 4.2.0 on Windows Server 2022.';
    now = new Date('2026-11-24T11:00:00Z');
    const raw = buildMail({
      from: 'Bob Builder <bob@acme.example>', subject: `Re: ${subjectOf(ack)}`,
      inReplyTo: headerOf(ack.raw, 'Message-ID')!, references: headerOf(ack.raw, 'Message-ID')!,
      body: `${newText}\n\nSupport wrote on Tuesday\n${quoted}\n`,
    });
    expect(await send(raw, 'bob@acme.example')).toMatch(/OK: processed/);
    const told = await waitOne((m) => to(ERIN)(m) && subjectOf(m).startsWith(`[Case #${number}] Customer reply`));
    const toldText = (await parseMessage(told.raw)).text;
    const message = /----- customer's message -----\n([\s\S]*?)\n----- end of customer's message -----/.exec(toldText)?.[1];
    expect(message).toBe(newText);
    expect(toldText).not.toContain('thank you for contacting support');
    // Our marker opens the engineer's notification too, so the engineer's answer is cut the same way.
    expect(toldText.startsWith(REPLY_MARKER)).toBe(true);
  });

  it('#severity 5 applies and relays nothing, stores the message, and tells the engineer which line is wrong', async () => {
    const { number, notification } = await openCase('Typo in the print dialog');
    const { reply } = await engineerAnswers(notification, '#severity 5\nThanks, we will look at it.');
    const error = await waitOne((m) => to(ERIN)(m) && subjectOf(m).startsWith(`[Case #${number}] Not applied`));
    const text = (await parseMessage(error.raw)).text;
    expect(text).toContain('#severity 5');
    expect(text).toMatch(/Line 1/);
    expect(text).toContain('#need-info');
    const stored = await tdb.db.selectFrom('messages').innerJoin('cases', 'cases.id', 'messages.case_id')
      .select(['cases.number', 'messages.status', 'messages.status_reason']).where('messages.id', '=', rowId(reply)).executeTakeFirstOrThrow();
    expect(stored).toMatchObject({ number, status: 'processed' });
    expect(stored.status_reason).toMatch(/command refused/);
    await outboxSettled();
    expect(received((m) => to('bob@acme.example')(m) && /via Support/.test(headerOf(m.raw, 'From') ?? '') && subjectOf(m).includes(`#${number}]`))).toEqual([]);
    expect((await caseRow(number)).severity).toBe(3);
  });

  it('#note reaches nobody outside and shows in the case\'s timeline', async () => {
    const { number, notification } = await openCase('Slow search on big projects');
    await engineerAnswers(notification, '#note\nReproduced on 4.2 with 50k items; index rebuild helps. Not telling the customer yet.');
    await outboxSettled();
    expect(received((m) => to('bob@acme.example')(m) && /via Support/.test(headerOf(m.raw, 'From') ?? '') && subjectOf(m).includes(`#${number}]`))).toEqual([]);
    const view = await caseView(tdb.db, number, { supportAddress: SUPPORT });
    const note = view!.timeline.find((t) => t.type === 'event' && t.kind === 'internal_note');
    expect(note).toMatchObject({ data: { text: expect.stringContaining('index rebuild helps') } });
    expect((await caseRow(number)).state).toBe('new');
  });

  it('#merge moves the case into another: later replies to the merged case\'s thread land in the target', async () => {
    const first = await openCase('Backup job fails on Sunday');
    const second = await openCase('Backup job: the same failure again');
    await engineerAnswers(second.notification, `#merge ${first.number}`);
    await expect.poll(async () => (await caseRow(second.number)).state, { timeout: 10_000, interval: 50 }).toBe('closed');
    expect((await caseRow(second.number)).close_reason).toBe('merged');
    const { reply } = await customerAnswers(second.ack, 'It failed again last night.');
    expect(reply).toMatch(/OK: processed/);
    const row = await tdb.db.selectFrom('messages').innerJoin('cases', 'cases.id', 'messages.case_id').select('cases.number')
      .where('messages.id', '=', rowId(reply)).executeTakeFirstOrThrow();
    expect(row.number).toBe(first.number);
    // The merged case's own messages moved too.
    const moved = await tdb.db.selectFrom('messages').select('id').where('message_id_header', '=', headerOf(second.raw, 'Message-ID')).executeTakeFirstOrThrow();
    expect((await tdb.db.selectFrom('messages').innerJoin('cases', 'cases.id', 'messages.case_id').select('cases.number').where('messages.id', '=', moved.id).executeTakeFirstOrThrow()).number).toBe(first.number);
  });

  it('holds a stranger\'s reply carrying a real case tag, and a forged In-Reply-To from another organisation: the assignee is told, the sender gets nothing', async () => {
    const { raw, number } = await openCase('Report designer crashes');
    const stranger = await send(buildMail({ from: 'Mallory <mallory@evil.example>', subject: `Re: [Case #${number}] Report designer crashes`, body: 'Any news?\n' }), 'mallory@evil.example');
    expect(stranger).toMatch(/OK: held/);
    const forged = await send(buildMail({
      from: 'Hank <hank@globex.example>', subject: 'Re: your case', inReplyTo: headerOf(raw, 'Message-ID')!, references: headerOf(raw, 'Message-ID')!, body: 'Let me in.\n',
    }), 'hank@globex.example');
    expect(forged).toMatch(/OK: held/);
    for (const id of [rowId(stranger), rowId(forged)]) {
      const m = await tdb.db.selectFrom('messages').select(['status', 'status_reason', 'case_id']).where('id', '=', id).executeTakeFirstOrThrow();
      expect(m).toMatchObject({ status: 'held', status_reason: 'not_allowed_on_case' });
    }
    await sink.waitFor((ms) => ms.filter((m) => to(ERIN)(m) && subjectOf(m).startsWith(`[Case #${number}] Message held`)).length >= 2, 20_000);
    await outboxSettled();
    expect(received(to('mallory@evil.example'))).toEqual([]);
    expect(received(to('hank@globex.example'))).toEqual([]);
  });

  it('threads a reply that carries only the reply token; a token with a wrong HMAC does not thread', async () => {
    const { number } = await openCase('Scheduler skips jobs');
    const token = replyAddressFor(SUPPORT, SECRET, number);
    const good = await send(buildMail({ to: token, subject: 'more details', body: 'It skips the 02:00 job only.\n' }), 'bob@acme.example', [token]);
    expect(good).toMatch(/OK: processed/);
    const stored = await tdb.db.selectFrom('messages').innerJoin('cases', 'cases.id', 'messages.case_id').select('cases.number').where('messages.id', '=', rowId(good)).executeTakeFirstOrThrow();
    expect(stored.number).toBe(number);

    const forgedToken = token.replace(/\.([0-9a-f]+)@/, (_m, mac: string) => `.${mac.slice(0, -1)}${mac.endsWith('0') ? '1' : '0'}@`);
    const bad = await send(buildMail({ to: forgedToken, subject: 'more details', body: 'Another thing entirely: printing is slow.\n' }), 'bob@acme.example', [forgedToken]);
    const badRow = await tdb.db.selectFrom('messages').innerJoin('case_events', 'case_events.message_id', 'messages.id').innerJoin('cases', 'cases.id', 'case_events.case_id')
      .select(['cases.number', 'case_events.kind']).where('messages.id', '=', rowId(bad)).execute();
    expect(badRow.some((r) => r.number === number)).toBe(false);
    expect(badRow.some((r) => r.kind === 'case_opened')).toBe(true);
  });

  it('holds an unknown sender\'s request; once the contact is in the directory, `held release` opens the case and acknowledges it', async () => {
    const raw = buildMail({ from: 'Nina New <nina@acme.example>', subject: 'Cannot log in after the upgrade', body: 'Since 4.2 the login page loops.\n' });
    const reply = await send(raw, 'nina@acme.example');
    expect(reply).toMatch(/OK: held/);
    const notice = await waitOne((m) => to('nina@acme.example')(m));
    expect(subjectOf(notice)).toMatch(/^Re: Cannot log in/);

    const fixed = await importDirectory(tdb.db, {
      organisations: [{ key: 'acme', name: 'Acme Industries', timeZone: 'Europe/Berlin' }], contracts: [],
      contacts: [{ organisation: 'acme', address: 'nina@acme.example', name: 'Nina New', role: 'contact', active: true }], engineers: [],
    });
    expect(fixed.ok).toBe(true);
    // What `casemail held release` does, with the intake's own handler.
    const handler = new MessageHandler({ db: tdb.db, settings, logger: silentLogger, clock: () => now, replyTokenSecret: SECRET });
    const outcome = await releaseHeld(tdb.db, handler, rowId(reply), now);
    expect(outcome).toMatchObject({ ok: true, result: { status: 'processed' } });
    const number = (outcome as { result: { caseNumbers: number[] } }).result.caseNumbers[0]!;
    const ack = await waitOne((m) => to('nina@acme.example')(m) && subjectOf(m) === `[Case #${number}] Cannot log in after the upgrade`);
    expect(headerOf(ack.raw, 'In-Reply-To')).toBe(headerOf(raw, 'Message-ID'));
    const old = await tdb.db.selectFrom('messages').select(['status', 'status_reason']).where('id', '=', rowId(reply)).executeTakeFirstOrThrow();
    expect(old.status).toBe('released');
    expect(old.status_reason).toMatch(/^released as message \d+$/);
  });
});
