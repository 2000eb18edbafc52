// Automatic mail through the real SMTP intake (issue 8): an Amazon SES bounce inside an SNS
// envelope and a plain-text bounce from a bare `MAILER-DAEMON` both report on acknowledgements we
// sent. Neither may be answered: nothing reaches their senders, they are stored as automatic and
// attached to the case they report on, and the failed recipients are marked bouncing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startService, type RunningService } from '../../src/cli/start-command.js';
import { silentLogger } from '../../src/log/logger.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';
import { headerOf, sendToIntake, smtpUrl } from '../support/service-harness.js';
import { tempDir } from '../support/temp-dirs.js';

const SUPPORT = 'support@casemail.localhost';
const SNS_SENDER = 'no-reply@sns.amazonaws.com';

describe(`automatic mail through SMTP is never answered, on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let sink: SmtpSink;
  let service: RunningService;
  const now = new Date('2026-11-24T09:00:00Z');

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    sink = await startSmtpSink();
    const config = loadConfig({
      env: { SMTP_URL: smtpUrl(sink), REPLY_TOKEN_SECRET: 'automatic-mail-scenario-secret' },
      overrides: {
        dataDir: tempDir('casemail-automatic-'), demoDirectory: false, logLevel: 'silent',
        smtpIntake: { enabled: true, host: '127.0.0.1', port: 0 }, imap: { mailboxes: [] }, outbox: { retryBaseSeconds: 0.2 },
      },
    });
    service = await startService({ config, logger: silentLogger }, tdb, { clock: () => now });
  });
  afterAll(async () => {
    await service?.stop();
    await sink?.stop();
    await tdb?.close();
  });

  const send = (raw: Buffer, from: string) => sendToIntake(service.smtp!.port, raw, { from, to: [SUPPORT] });
  async function waitOne(pred: (m: SinkMessage) => boolean): Promise<SinkMessage> {
    return (await sink.waitFor((ms) => ms.some(pred), 20_000)).find(pred)!;
  }
  /** A customer's new request, answered by its acknowledgement (what the bounces report on). */
  async function openCase(from: string, subject: string): Promise<{ number: number; ack: SinkMessage }> {
    const raw = buildMail({ from, subject, body: 'Since this morning the export stops with error E42.\n' });
    expect(await send(raw, /<(.+)>/.exec(from)![1]!)).toMatch(/OK: processed/);
    const ack = await waitOne((m) => headerOf(m.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID'));
    return { number: Number(/\[Case #(\d+)\]/.exec(headerOf(ack.raw, 'Subject') ?? '')![1]), ack };
  }
  const messageRow = (id: number) => tdb.db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const contact = (address: string) => tdb.db.selectFrom('contacts').select(['bouncing_since', 'bounce_reason']).where('address', '=', address).executeTakeFirstOrThrow();
  const rowId = (reply: string) => Number(/OK: \w+ (\d+)/.exec(reply)?.[1]);

  it('an SES bounce over SNS and a bare MAILER-DAEMON text bounce: stored as bounces on their cases, nobody answered', async () => {
    const carol = await openCase('Carol <carol@acme.example>', 'Invoices missing');
    const bob = await openCase('Bob Builder <bob@acme.example>', 'Export fails');
    const carolAckId = headerOf(carol.ack.raw, 'Message-ID')!;
    const bobAckId = headerOf(bob.ack.raw, 'Message-ID')!;

    // SES sends with its own Message-ID; ours is in the notification's mail object.
    const notification = {
      notificationType: 'Bounce',
      bounce: {
        bounceType: 'Permanent', bounceSubType: 'General', timestamp: '2026-11-24T09:00:05.000Z', feedbackId: 'feedback-1',
        bouncedRecipients: [{ emailAddress: 'carol@acme.example', action: 'failed', status: '5.1.1', diagnosticCode: 'smtp; 550 5.1.1 user unknown' }],
      },
      mail: {
        timestamp: '2026-11-24T09:00:01.000Z', source: SUPPORT, messageId: '0100019-ses-own-id', destination: ['carol@acme.example'],
        commonHeaders: { from: [SUPPORT], to: ['carol@acme.example'], messageId: carolAckId, subject: headerOf(carol.ack.raw, 'Subject') },
      },
    };
    const envelope = {
      Type: 'Notification', MessageId: '5d6e7f80-1111-4222-8333-944455556666', TopicArn: 'arn:aws:sns:eu-west-1:111122223333:casemail-bounces',
      Message: JSON.stringify(notification), Timestamp: '2026-11-24T09:00:06.000Z', SignatureVersion: '1', Signature: 'eA==',
      SigningCertURL: 'https://sns.eu-west-1.amazonaws.com/cert.pem', UnsubscribeURL: 'https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe',
    };
    const sesReply = await send(buildMail({ from: `AWS Notifications <${SNS_SENDER}>`, subject: 'AWS Notification Message', body: `${JSON.stringify(envelope)}\n` }), SNS_SENDER);

    const daemonBounce = buildMail({
      from: 'MAILER-DAEMON', subject: 'Returned mail',
      body: [
        'The message you sent could not be delivered to the following address.', '',
        '    bob@acme.example      user unknown', '',
        '------ Returned message ------',
        `From: ${SUPPORT}`, 'To: bob@acme.example', `Message-ID: ${bobAckId}`, '', 'We have your request.', '',
      ].join('\n'),
    });
    const daemonReply = await send(daemonBounce, '');

    // Both are automatic and report on our acknowledgements: attached to those cases, not opened, not answered.
    for (const [reply, number] of [[sesReply, carol.number], [daemonReply, bob.number]] as const) {
      expect(reply).toMatch(/OK: processed/);
      const row = await messageRow(rowId(reply));
      expect(row.kind).toBe('bounce');
      expect(row.status_reason).toBe('automatic: bounce');
      const caseRow = await tdb.db.selectFrom('cases').select('number').where('id', '=', row.case_id!).executeTakeFirstOrThrow();
      expect(caseRow.number).toBe(number);
    }
    expect((await contact('carol@acme.example')).bounce_reason).toBe('5.1.1');
    expect((await contact('bob@acme.example')).bouncing_since).not.toBeNull();

    // A later request is acknowledged: the outbox ran past the bounces, and nothing went to their senders.
    await openCase('Ada Admin <ada@acme.example>', 'A question about reports');
    const toBounceSenders = sink.messages.filter((m) => m.rcptTo.some((r) => /sns\.amazonaws\.com|mailer-daemon/i.test(r)) || m.rcptTo.length === 0);
    expect(toBounceSenders).toEqual([]);
    const queued = await tdb.db.selectFrom('outbox').select(['to_addresses', 'cc_addresses']).execute();
    expect(queued.flatMap((q) => [...q.to_addresses, ...q.cc_addresses]).filter((r) => /sns\.amazonaws|mailer-daemon/i.test(r))).toEqual([]);
    // No new case was opened for either bounce.
    expect((await tdb.db.selectFrom('cases').select('id').execute()).length).toBe(3);
  });
});
