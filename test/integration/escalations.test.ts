// Escalations (spec section 7, issue 10 part 1), as senders use them: every message goes in
// through the real SMTP intake of the running service (in-process, test database) and whatever we
// send arrives at the real smtp-server sink. Sam is the one supervisor of the test directory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startService, type RunningService } from '../../src/cli/start-command.js';
import { silentLogger } from '../../src/log/logger.js';
import { parseMessage } from '../../src/ingest/parse-message.js';
import { MessageHandler } from '../../src/cases/message-handler.js';
import { releaseHeld } from '../../src/cases/held-release.js';
import { insertMessageWithRaw } from '../../src/cases/message-store.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';
import { headerOf, outboxSettled as settled, sendToIntake, smtpUrl } from '../support/service-harness.js';
import { tempDir } from '../support/temp-dirs.js';

const SUPPORT = 'support@casemail.localhost';
const ESCALATION = 'escalation@casemail.localhost';
const URGENT = 'urgent@casemail.localhost';
const SAM = 'sam@vendor.example';
const BOB = 'bob@acme.example';

describe(`escalations, through SMTP into the sink, on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let sink: SmtpSink;
  let service: RunningService;
  let settings: ReturnType<typeof loadConfig>['settings'];
  // A Tuesday morning, before the real date so every outbox row is due at once.
  let now = new Date('2026-11-24T09:00:00Z');

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    sink = await startSmtpSink();
    const config = loadConfig({
      env: { SMTP_URL: smtpUrl(sink) },
      overrides: {
        dataDir: tempDir('casemail-escalation-'), demoDirectory: false, logLevel: 'silent',
        smtpIntake: { enabled: true, host: '127.0.0.1', port: 0 }, imap: { mailboxes: [] }, outbox: { retryBaseSeconds: 0.2 },
        addresses: { escalationAliases: [URGENT] },
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

  const send = (raw: Buffer, from: string, to: string[]) => sendToIntake(service.smtp!.port, raw, { from, to });

  const subjectOf = (m: SinkMessage) => headerOf(m.raw, 'Subject') ?? '';
  const to = (who: string) => (m: SinkMessage) => m.rcptTo.includes(who);
  const answering = (raw: Buffer) => (m: SinkMessage) => headerOf(m.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID');
  async function waitOne(pred: (m: SinkMessage) => boolean, already = 0): Promise<SinkMessage> {
    const got = await sink.waitFor((ms) => ms.filter(pred).length > already, 20_000);
    return got.filter(pred)[already]!;
  }
  const outboxSettled = () => settled(tdb.db);
  const textOf = async (m: SinkMessage) => (await parseMessage(m.raw)).text;
  const caseRow = (n: number) => tdb.db.selectFrom('cases').selectAll().where('number', '=', n).executeTakeFirstOrThrow();
  const events = async (n: number, kind: string) => tdb.db.selectFrom('case_events').innerJoin('cases', 'cases.id', 'case_events.case_id')
    .select(['case_events.data', 'case_events.at']).where('cases.number', '=', n).where('case_events.kind', '=', kind).orderBy('case_events.id').execute();

  async function openCase(subject: string): Promise<number> {
    const raw = buildMail({ from: 'Bob Builder <bob@acme.example>', subject, body: 'The nightly export stops with error E42.\n\nBob\n' });
    expect(await send(raw, BOB, [SUPPORT])).toMatch(/OK: processed/);
    const ack = await waitOne(answering(raw));
    return Number(/\[Case #(\d+)\]/.exec(subjectOf(ack))![1]);
  }

  it('routes a Bcc to the escalation address (envelope only), an alias rewritten by the MTA (X-Original-To only) and a configured escalation alias', async () => {
    const number = await openCase('Export stops with E42');

    // Bcc: the headers name only a colleague; the escalation address is in the SMTP envelope alone.
    now = new Date('2026-11-24T10:00:00Z');
    const bcc = buildMail({ from: 'Bob Builder <bob@acme.example>', to: 'carol@acme.example', subject: 'Please escalate', body: `Nobody has answered on case ${number} yet.\n` });
    expect(await send(bcc, BOB, [ESCALATION])).toMatch(/OK: processed/);
    const notice = await waitOne((m) => to(SAM)(m) && subjectOf(m) === `[Case #${number}] Escalated: Export stops with E42`);
    const text = await textOf(notice);
    expect(text).toContain('was escalated by Bob Builder <bob@acme.example> (participant)');
    expect(text).toContain('This is the first escalation of this case.');
    expect(text).toMatch(/State: +new/);
    expect(text).toMatch(/Severity: +3, target within 24 business hours/);
    expect(text).toMatch(/Time left: +23 hours with no response yet/);
    expect(text).toMatch(/Last customer message: bob@acme\.example, .*\n +The nightly export stops with error E42\./);
    expect(text).toContain('Last engineer message: none');
    expect(text).toContain(`Nobody has answered on case ${number} yet.`);
    const receipt = await waitOne((m) => to(BOB)(m) && answering(bcc)(m));
    expect(subjectOf(receipt)).toBe(`[Case #${number}] Escalation received: Export stops with E42`);
    expect(await textOf(receipt)).toMatch(/current state: new/);
    expect(headerOf(receipt.raw, 'Auto-Submitted')).toBe('auto-replied');
    expect((await caseRow(number)).escalated_at).toEqual(now);

    // An alias the MTA rewrote to the support mailbox: only X-Original-To still says "escalation".
    now = new Date('2026-11-24T10:30:00Z');
    const rewritten = buildMail({
      from: 'Carol <carol@acme.example>', to: 'bob@acme.example', subject: `Case ${number}`, body: 'Please hurry.\n',
      headers: { 'X-Original-To': ESCALATION, 'Delivered-To': SUPPORT },
    });
    expect(await send(rewritten, 'carol@acme.example', [SUPPORT])).toMatch(/OK: processed/);
    // Carol is of Bob's organisation: her receipt names the case.
    expect(subjectOf(await waitOne((m) => to('carol@acme.example')(m) && answering(rewritten)(m)))).toBe(`[Case #${number}] Escalation received: Export stops with E42`);

    // A configured escalation alias, by Bcc.
    now = new Date('2026-11-24T11:00:00Z');
    const alias = buildMail({ from: 'Bob Builder <bob@acme.example>', to: 'carol@acme.example', subject: `Re: [Case #${number}] Export stops with E42`, body: 'Still waiting.\n' });
    expect(await send(alias, BOB, [URGENT])).toMatch(/OK: processed/);
    const third = await waitOne((m) => to(SAM)(m) && subjectOf(m) === `[Case #${number}] Escalated (3 times): Export stops with E42`);
    expect(await textOf(third)).toContain('Escalated 3 times, first on Tuesday 24 November 2026, 10:00 (UTC).');
    // The first instant is kept; each escalation is an event.
    expect((await caseRow(number)).escalated_at).toEqual(new Date('2026-11-24T10:00:00Z'));
    const recorded = await events(number, 'escalated');
    expect(recorded.map((e) => (e.data as { by: string }).by)).toEqual([BOB, 'carol@acme.example', BOB]);
    expect(recorded.map((e) => (e.data as { times: number }).times)).toEqual([1, 2, 3]);
    expect((recorded[2]!.data as { text: string }).text).toBe('Still waiting.');
  });

  it('a repeated escalation notifies twice; the second notice says 2 times and carries the SLA state as it is then', async () => {
    now = new Date('2026-11-25T08:00:00Z');
    const number = await openCase('Licence server refuses seats');
    now = new Date('2026-11-26T09:30:00Z');
    const first = buildMail({ from: 'Bob Builder <bob@acme.example>', to: ESCALATION, subject: `Escalate ticket #${number}`, body: 'Production is blocked.\n' });
    expect(await send(first, BOB, [ESCALATION])).toMatch(/OK: processed/);
    now = new Date('2026-11-26T10:00:00Z');
    const second = buildMail({ from: 'Bob Builder <bob@acme.example>', to: ESCALATION, subject: `Escalate ticket #${number} again`, body: 'Still blocked.\n' });
    expect(await send(second, BOB, [ESCALATION])).toMatch(/OK: processed/);
    const one = await waitOne((m) => to(SAM)(m) && subjectOf(m) === `[Case #${number}] Escalated: Licence server refuses seats`);
    const two = await waitOne((m) => to(SAM)(m) && subjectOf(m) === `[Case #${number}] Escalated (2 times): Licence server refuses seats`);
    expect(await textOf(one)).toContain('This is the first escalation of this case.');
    const text = await textOf(two);
    expect(text).toContain('Escalated 2 times, first on Thursday 26 November 2026, 09:30 (UTC).');
    // Opened Wednesday 08:00, severity 3: due Thursday 08:00; two hours overdue now.
    expect(text).toMatch(/Overdue: +2 hours, nobody has answered the customer/);
    expect(text).toContain('Still blocked.');
    expect(await events(number, 'escalated')).toHaveLength(2);
  });

  it('an unmatched escalation reaches the supervisors; its sender is asked for the case number once that day', async () => {
    now = new Date('2026-11-27T09:00:00Z');
    const first = buildMail({ from: 'Walter Stranger <walter@nowhere.example>', to: ESCALATION, subject: 'Nobody helps us', body: 'Our system has been down for a day.\n' });
    expect(await send(first, 'walter@nowhere.example', [ESCALATION])).toMatch(/OK: processed/);
    const notice = await waitOne((m) => to(SAM)(m) && subjectOf(m) === 'Unmatched escalation from walter@nowhere.example: Nobody helps us');
    expect(await textOf(notice)).toContain('Our system has been down for a day.');
    const ask = await waitOne((m) => to('walter@nowhere.example')(m));
    expect(subjectOf(ask)).toBe('Re: Nobody helps us');
    expect(await textOf(ask)).toMatch(/could not tell which case it is about/);

    // Bob's case number named by a stranger is no key: unmatched, and the number is not confirmed.
    now = new Date('2026-11-27T11:00:00Z');
    const second = buildMail({ from: 'Walter Stranger <walter@nowhere.example>', to: ESCALATION, subject: 'Case 100000', body: 'See case 100000.\n' });
    expect(await send(second, 'walter@nowhere.example', [ESCALATION])).toMatch(/OK: processed/);
    const notice2 = await waitOne((m) => to(SAM)(m) && subjectOf(m) === 'Unmatched escalation from walter@nowhere.example: Case 100000');
    expect(await textOf(notice2)).toContain('matched none of the sender\'s cases: 100000');
    await outboxSettled();
    expect(sink.messages.filter(to('walter@nowhere.example'))).toHaveLength(1);
    const stored = await tdb.db.selectFrom('messages').select(['status', 'status_reason', 'case_id']).where('message_id_header', '=', headerOf(second, 'Message-ID')!).executeTakeFirstOrThrow();
    expect(stored).toEqual({ status: 'processed', status_reason: 'escalation: unmatched', case_id: null });

    // Automatic mail to the escalation address is never answered.
    const auto = buildMail({ from: 'walter@nowhere.example', to: ESCALATION, subject: 'Out of office', headers: { 'Auto-Submitted': 'auto-replied' } });
    await send(auto, 'walter@nowhere.example', [ESCALATION]);
    await outboxSettled();
    expect(sink.messages.filter(to('walter@nowhere.example'))).toHaveLength(1);
  });

  it('a stranger escalating a tagged case reaches the supervisors, and the receipt reveals nothing of the case', async () => {
    now = new Date('2026-11-30T09:00:00Z');
    const number = await openCase('Secret project Falcon fails to build');
    now = new Date('2026-11-30T09:20:00Z');
    const raw = buildMail({ from: 'Hank <hank@globex.example>', to: ESCALATION, subject: `[Case #${number}] escalate`, body: 'Please escalate.\n' });
    expect(await send(raw, 'hank@globex.example', [ESCALATION])).toMatch(/OK: processed/);
    const notice = await waitOne((m) => to(SAM)(m) && subjectOf(m) === `[Case #${number}] Escalated: Secret project Falcon fails to build`);
    expect(await textOf(notice)).toContain('Hank <hank@globex.example> (stranger)');
    const receipt = await waitOne((m) => to('hank@globex.example')(m));
    expect(subjectOf(receipt)).toBe(`Re: [Case #${number}] escalate`);
    const body = await textOf(receipt);
    expect(body).toMatch(/we received your escalation and passed it to our support supervisors\./);
    expect(body).not.toMatch(/Falcon|state|new\b/i);
    expect(body).not.toContain(String(number));
    expect(receipt.raw.toString()).not.toContain('Falcon');
  });

  it('a bare case number counts for an engineer (any case) but not for a contact of another organisation', async () => {
    now = new Date('2026-11-30T10:00:00Z');
    const number = await openCase('Backups are slow');
    now = new Date('2026-11-30T10:10:00Z');
    const hank = buildMail({ from: 'Hank <hank@globex.example>', to: ESCALATION, subject: 'Escalation', body: `About case ${number}: please hurry.\n` });
    expect(await send(hank, 'hank@globex.example', [ESCALATION])).toMatch(/OK: processed/);
    await waitOne((m) => to(SAM)(m) && subjectOf(m) === 'Unmatched escalation from hank@globex.example: Escalation');
    expect(await textOf(await waitOne((m) => to('hank@globex.example')(m) && answering(hank)(m)))).toMatch(/could not tell which case/);
    expect(await events(number, 'escalated')).toHaveLength(0);

    const erin = buildMail({ from: 'Erin Engineer <erin@vendor.example>', to: ESCALATION, subject: 'Needs a second pair of eyes', body: `#${number} is beyond me.\n` });
    expect(await send(erin, 'erin@vendor.example', [ESCALATION])).toMatch(/OK: processed/);
    const notice = await waitOne((m) => to(SAM)(m) && subjectOf(m) === `[Case #${number}] Escalated: Backups are slow`);
    expect(await textOf(notice)).toContain('(engineer)');
    expect(subjectOf(await waitOne((m) => to('erin@vendor.example')(m) && answering(erin)(m)))).toBe(`[Case #${number}] Escalation received: Backups are slow`);
  });

  it('a message held as an escalation before this change is released with the same treatment', async () => {
    now = new Date('2026-11-30T12:00:00Z');
    const number = await openCase('Reports are empty');
    // What the old intake stored: a Bcc'd escalation (the address only in the envelope, not kept), held.
    const raw = buildMail({ from: 'Bob Builder <bob@acme.example>', to: 'carol@acme.example', subject: `Escalation for case ${number}`, body: 'Two days and no answer.\n' });
    const id = await insertMessageWithRaw(tdb.db, raw, {
      direction: 'inbound', content_hash: `held-escalation-${number}`, message_id_header: headerOf(raw, 'Message-ID'), from_address: BOB,
      subject: `Escalation for case ${number}`, received_at: new Date('2026-11-30T11:00:00Z'), source: 'smtp', status: 'held', status_reason: 'escalation',
    });
    now = new Date('2026-11-30T13:00:00Z');
    const handler = new MessageHandler({ db: tdb.db, settings, logger: silentLogger, clock: () => now });
    const outcome = await releaseHeld(tdb.db, handler, id, now);
    expect(outcome).toMatchObject({ ok: true, result: { status: 'processed', caseNumbers: [number], reason: 'escalation' } });
    await waitOne((m) => to(SAM)(m) && subjectOf(m) === `[Case #${number}] Escalated: Reports are empty`);
    const receipt = await waitOne((m) => to(BOB)(m) && answering(raw)(m));
    expect(subjectOf(receipt)).toBe(`[Case #${number}] Escalation received: Reports are empty`);
    expect((await caseRow(number)).escalated_at).toEqual(now);
    const old = await tdb.db.selectFrom('messages').select('status').where('id', '=', id).executeTakeFirstOrThrow();
    expect(old.status).toBe('released');
  });
});
