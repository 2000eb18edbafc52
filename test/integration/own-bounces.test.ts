// Bounces of our own mail (spec 3, issue 9 part 5), through the real SMTP intake into the real
// smtp-server sink: a customer's acknowledgement comes back as an RFC 3464 delivery status
// notification; the address is marked bouncing, every open case the customer is on records it and
// its assignee is told; automatic mail already queued to the address is not sent; and the next
// message the customer writes clears the mark. The service's clock is moved by the test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { silentLogger } from '../../src/log/logger.js';
import { startService, type RunningService } from '../../src/cli/start-command.js';
import { caseView } from '../../src/cases/case-view.js';
import { caseSummary } from '../../src/notify/compose.js';
import { enqueueMail } from '../../src/notify/outbox-store.js';
import { SAMPLE_MAIL_DATA } from '../../src/notify/templates.js';
import type { OutgoingMail } from '../../src/notify/mail-kinds.js';
import { parseMessage } from '../../src/ingest/parse-message.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';
import { headerOf, sendToIntake, smtpUrl } from '../support/service-harness.js';
import { tempDir } from '../support/temp-dirs.js';

const SUPPORT = 'support@casemail.localhost';
const BOB = 'bob@acme.example';
const ERIN = 'erin@vendor.example';
const DOMAIN = 'casemail.localhost';

/**
 * What a Postfix-like MTA sends back when a mailbox does not exist: RFC 3464 multipart/report with
 * a human part, the per-recipient delivery status and the returned message's headers.
 */
function deliveryStatusNotification(original: Buffer, recipient: string): Buffer {
  const head = original.subarray(0, original.indexOf('\r\n\r\n')).toString('latin1');
  const b = 'dsn-boundary-4711';
  return Buffer.from([
    'From: Mail Delivery System <MAILER-DAEMON@mx.acme.example>',
    `To: ${SUPPORT}`,
    'Subject: Undelivered Mail Returned to Sender',
    `Message-ID: <dsn.${Math.random().toString(36).slice(2)}@mx.acme.example>`,
    'Date: Tue, 24 Nov 2026 09:05:00 +0000',
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${b}"`,
    '',
    `--${b}`,
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'This is the mail system at host mx.acme.example.',
    '',
    'I\'m sorry to have to inform you that your message could not',
    'be delivered to one or more recipients.',
    '',
    `<${recipient}>: host mx.acme.example said: 550 5.1.1 <${recipient}>: Recipient address rejected: User unknown`,
    '',
    `--${b}`,
    'Content-Type: message/delivery-status',
    '',
    'Reporting-MTA: dns; mx.acme.example',
    'Arrival-Date: Tue, 24 Nov 2026 09:04:58 +0000',
    '',
    `Final-Recipient: rfc822; ${recipient}`,
    `Original-Recipient: rfc822; ${recipient}`,
    'Action: failed',
    'Status: 5.1.1',
    `Diagnostic-Code: smtp; 550 5.1.1 <${recipient}>: Recipient address rejected: User unknown`,
    '',
    `--${b}`,
    'Content-Type: text/rfc822-headers',
    '',
    head,
    '',
    `--${b}--`,
    '',
  ].join('\r\n'));
}

describe(`bounces of our own mail, through SMTP into the sink, on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let sink: SmtpSink;
  let service: RunningService;
  let settings: ReturnType<typeof loadConfig>['settings'];
  const T0 = new Date('2026-11-24T09:00:00Z');
  let now = T0;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    sink = await startSmtpSink();
    const config = loadConfig({
      env: { SMTP_URL: smtpUrl(sink) },
      overrides: {
        dataDir: tempDir('casemail-bounce-'), demoDirectory: false, logLevel: 'silent',
        smtpIntake: { enabled: true, host: '127.0.0.1', port: 0 }, imap: { mailboxes: [] }, outbox: { retryBaseSeconds: 0.2 },
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

  const send = (raw: Buffer, from: string) => sendToIntake(service.smtp!.port, raw, { from, to: [SUPPORT] });
  const subjectOf = (m: SinkMessage) => headerOf(m.raw, 'Subject') ?? '';
  const toWhom = (who: string) => (m: SinkMessage) => m.rcptTo.includes(who);
  async function waitOne(pred: (m: SinkMessage) => boolean, already = 0): Promise<SinkMessage> {
    const got = await sink.waitFor((ms) => ms.filter(pred).length > already, 20_000);
    return got.filter(pred)[already]!;
  }
  async function openCase(subject: string): Promise<{ number: number; id: number; ack: SinkMessage }> {
    const raw = buildMail({ from: 'Bob Builder <bob@acme.example>', subject });
    expect(await send(raw, BOB)).toMatch(/OK: processed/);
    const ack = await waitOne((m) => headerOf(m.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID'));
    const number = Number(/\[Case #(\d+)\]/.exec(subjectOf(ack))![1]);
    await waitOne((m) => toWhom(ERIN)(m) && subjectOf(m).includes(`[Case #${number}] New case`));
    const row = await tdb.db.selectFrom('cases').select('id').where('number', '=', number).executeTakeFirstOrThrow();
    return { number, id: row.id, ack };
  }
  /** A reminder-like automatic mail to Bob, as the timer sweep writes it (it does not look at bouncing marks). */
  function reminder(c: { id: number; number: number }, key: string): OutgoingMail<'info-reminder'> {
    const summary = caseSummary(settings, { number: c.number, subject: 'Export stops with E42' });
    return {
      causeKey: `test-reminder:${key}`, kind: 'info-reminder', caseId: c.id, to: [BOB], subject: `${summary.tag} Waiting for your information`,
      autoSubmitted: 'auto-generated', data: { ...SAMPLE_MAIL_DATA['info-reminder'], case: summary },
    };
  }
  const contact = () => tdb.db.selectFrom('contacts').select(['bouncing_since', 'bounce_reason']).where('address', '=', BOB).executeTakeFirstOrThrow();
  const eventsOf = (caseId: number, kind: string) => tdb.db.selectFrom('case_events').select(['kind', 'data', 'actor']).where('case_id', '=', caseId).where('kind', '=', kind).execute();

  it('marks the address, tells the assignee once per case, stops automatic mail to it, and clears the mark when the customer writes again', async () => {
    const first = await openCase('Export stops with E42');
    const second = await openCase('Licence server unreachable');
    // Queued before the bounce arrives, due an hour later.
    await tdb.db.transaction().execute((trx) => enqueueMail(trx, reminder(first, 'before-bounce'), { messageIdDomain: DOMAIN, now: new Date(T0.getTime() + 3_600_000) }));

    // The first acknowledgement bounces: the report names it by its Message-ID.
    now = new Date(T0.getTime() + 5 * 60_000);
    const dsn = deliveryStatusNotification(first.ack.raw, BOB);
    expect(await send(dsn, '')).toMatch(/OK: processed/);
    expect(await contact()).toEqual({ bouncing_since: now, bounce_reason: '5.1.1' });

    // Both open cases Bob is on record it, and Erin (the assignee) hears of each once.
    for (const c of [first, second]) {
      expect((await eventsOf(c.id, 'customer_unreachable')).map((e) => e.data)).toEqual([{ address: BOB, reason: '5.1.1' }]);
      const notice = await waitOne((m) => toWhom(ERIN)(m) && subjectOf(m) === `[Case #${c.number}] Customer unreachable: ${BOB}`);
      expect(headerOf(notice.raw, 'Auto-Submitted')).toBe('auto-generated');
      const text = (await parseMessage(notice.raw)).text;
      expect(text).toContain(`to ${BOB} bounced`);
      expect(text).toContain('(5.1.1)');
      expect(text).toContain('Nobody on this case can be reached by mail now');
    }
    // The same report delivered again changes nothing.
    expect(await send(dsn, '')).toMatch(/duplicate|already/i);
    expect(await tdb.db.selectFrom('outbox').select('id').where('kind', '=', 'customer-unreachable').execute()).toHaveLength(2);

    // The reminder queued before the bounce comes due: it is not sent to the bouncing address.
    now = new Date(T0.getTime() + 3_600_000 + 1000);
    await expect.poll(async () => (await tdb.db.selectFrom('outbox').select('status')
      .where('cause_key', '=', 'test-reminder:before-bounce').executeTakeFirstOrThrow()).status, { timeout: 20_000, interval: 50 }).toBe('failed');
    const failed = await tdb.db.selectFrom('outbox').select('last_error').where('cause_key', '=', 'test-reminder:before-bounce').executeTakeFirstOrThrow();
    expect(failed.last_error).toBe(`not sent: no recipient left: ${BOB} (bouncing since a permanent bounce (5.1.1))`);
    expect(sink.messages.filter(toWhom(BOB))).toHaveLength(2); // the two acknowledgements, nothing since
    const view = await caseView(tdb.db, first.number, { supportAddress: SUPPORT });
    expect(view!.timeline.some((i) => i.type === 'event' && i.kind === 'customer_unreachable')).toBe(true);

    // Bob writes again (a reply to his acknowledgement): the address works, the mark goes.
    const replyRaw = buildMail({
      from: 'Bob Builder <bob@acme.example>', subject: `Re: ${subjectOf(first.ack)}`,
      inReplyTo: headerOf(first.ack.raw, 'Message-ID')!, references: headerOf(first.ack.raw, 'Message-ID')!,
      body: 'The log file is attached now.\n\nBob\n',
    });
    expect(await send(replyRaw, BOB)).toMatch(/OK: processed/);
    expect(await contact()).toEqual({ bouncing_since: null, bounce_reason: null });
    expect((await eventsOf(first.id, 'customer_reachable_again')).map((e) => e.data)).toEqual([{ address: BOB }]);
    expect(await eventsOf(second.id, 'customer_reachable_again')).toEqual([]);

    // Automatic mail goes to Bob again.
    await tdb.db.transaction().execute((trx) => enqueueMail(trx, reminder(first, 'after-reply'), { messageIdDomain: DOMAIN, now }));
    await send(buildMail({ from: 'Bob Builder <bob@acme.example>', subject: 'New: printer queue stuck' }), BOB);
    await waitOne((m) => toWhom(BOB)(m) && subjectOf(m) === `[Case #${first.number}] Waiting for your information`);
  });
});
