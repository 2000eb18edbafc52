// Timers (issue 9) as a customer, an engineer and a supervisor live them: the request comes in
// through the real SMTP intake, the engineer's #need-info too, and every warning, breach, reminder
// and close notice arrives at the real smtp-server sink. Time is the service's clock, moved to
// explicit instants; the sweep runs at each (as the cron tick would), and one minute before each,
// where it must send nothing. The expected instants are worked out by hand below from the calendar
// (Europe/Berlin, Mon-Fri 09:00-17:00, holidays 24, 25, 31 Dec and 1 Jan), not by the code under test.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startService, type RunningService } from '../../src/cli/start-command.js';
import { silentLogger } from '../../src/log/logger.js';
import { parseMessage } from '../../src/ingest/parse-message.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';
import { headerOf, outboxSettled as settled, runCli, sendToIntake, smtpUrl } from '../support/service-harness.js';
import { tempDir } from '../support/temp-dirs.js';

const SUPPORT = 'support@casemail.localhost';
const ERIN = 'erin@vendor.example';
const SAM = 'sam@vendor.example';
const BOB = 'bob@acme.example';

const SETTINGS = {
  demoDirectory: false, logLevel: 'silent',
  smtpIntake: { enabled: true, host: '127.0.0.1', port: 0 }, imap: { mailboxes: [] }, outbox: { retryBaseSeconds: 0.2, pollSeconds: 0.1 },
  calendar: { timeZone: 'Europe/Berlin', workingHours: { start: '09:00', end: '17:00' }, holidays: ['2026-12-24', '2026-12-25', '2026-12-31', '2027-01-01'] },
  // The tests move the clock and sweep at chosen instants; the cron tick (yearly here) stays out of the way.
  timers: { sweepSchedule: '0 0 1 1 *' },
};

// Worked out by hand. Berlin is UTC+1 in December.
// Opened Monday 7 December 2026, 10:00 Berlin. Severity 2: 8 business hours = Mon 10-17 (7 h) + Tue 9-10 (1 h).
const OPENED = '2026-12-07T09:00:00Z';
const WARN = '2026-12-07T15:00:00Z'; // 75% = 6 business hours: Monday 16:00 Berlin
const DUE = '2026-12-08T09:00:00Z'; // Tuesday 10:00 Berlin
const NEED_INFO = '2026-12-08T10:00:00Z'; // Tuesday 11:00 Berlin: the engineer asks for logs
// Business days after Tuesday 8 Dec (24, 25 Dec and 31 Dec, 1 Jan are holidays):
const INFO_1 = '2026-12-15T10:00:00Z'; // +5: Tue 15 Dec
const INFO_2 = '2026-12-22T10:00:00Z'; // +10: Tue 22 Dec
const PRE_CLOSE = '2026-12-30T10:00:00Z'; // +14: Wed 23 (+11), Mon 28, Tue 29, Wed 30 Dec
const CLOSE = '2027-01-04T10:00:00Z'; // +15: Mon 4 Jan 2027

const minuteBefore = (iso: string) => new Date(new Date(iso).getTime() - 60_000).toISOString();

describe(`timers through SMTP into the sink, on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let sink: SmtpSink;
  let service: RunningService;
  let configFile: string;
  let now = new Date(OPENED);

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    sink = await startSmtpSink();
    const dataDir = tempDir('casemail-timers-');
    configFile = path.join(dataDir, 'casemail.json');
    writeFileSync(configFile, JSON.stringify({ ...SETTINGS, dataDir }));
    const config = loadConfig({ env: { SMTP_URL: smtpUrl(sink) }, overrides: { ...SETTINGS, dataDir } });
    service = await startService({ config, logger: silentLogger }, tdb, { clock: () => now });
  });
  afterAll(async () => {
    await service?.stop();
    await sink?.stop();
    await tdb?.close();
  });

  const send = (raw: Buffer, from: string) => sendToIntake(service.smtp!.port, raw, { from, to: [SUPPORT] });
  const subjectOf = (m: SinkMessage) => headerOf(m.raw, 'Subject') ?? '';
  const outboxSettled = () => settled(tdb.db);
  /** Everything the sink received since `from`, as "recipient: subject" lines. */
  const since = (from: number) => sink.messages.slice(from).map((m) => `${m.rcptTo.join(',')}: ${subjectOf(m)}`);

  /** The service's sweep at `iso`, then every queued mail delivered; returns what arrived. */
  async function sweepAt(iso: string, sweeper: (iso: string) => Promise<void> = async () => { await service.sweepNow(); }): Promise<string[]> {
    now = new Date(iso);
    const before = sink.messages.length;
    await sweeper(iso);
    await outboxSettled();
    return since(before);
  }

  /** A new request from Bob at the current clock; resolves with its case number once the acknowledgement arrived. */
  async function openCase(subject: string, body: string): Promise<number> {
    const request = buildMail({ from: `Bob Builder <${BOB}>`, subject, body });
    expect(await send(request, BOB)).toMatch(/OK: processed/);
    const isAck = (m: SinkMessage) => headerOf(m.raw, 'In-Reply-To') === headerOf(request, 'Message-ID');
    const ack = (await sink.waitFor((ms) => ms.some(isAck), 20_000)).find(isAck)!;
    await outboxSettled();
    return Number(/\[Case #(\d+)\]/.exec(subjectOf(ack))![1]);
  }

  /** Erin answers the case's new-case notification, as a mail client would, at the current clock. */
  async function engineerAnswers(number: number, text: string): Promise<void> {
    const notification = sink.messages.find((m) => m.rcptTo.includes(ERIN) && subjectOf(m).includes(`[Case #${number}] New case`))!;
    const quoted = (await parseMessage(notification.raw)).text.trimEnd().split('\n').map((l) => `> ${l}`).join('\n');
    const answer = buildMail({
      from: `Erin Engineer <${ERIN}>`, subject: `Re: ${subjectOf(notification)}`,
      inReplyTo: headerOf(notification.raw, 'Message-ID')!, references: headerOf(notification.raw, 'Message-ID')!,
      body: `${text}\n\nErin\n\nOn Mon, 7 Dec 2026, Support wrote:\n${quoted}\n`,
    });
    expect(await send(answer, ERIN)).toMatch(/OK: processed/);
    await outboxSettled();
  }

  async function caseTimeline(number: number): Promise<{ kind: string; type: string }[]> {
    const shown = await runCli(['case', 'show', String(number), '--json', '--config', configFile], { DATABASE_URL: tdb.url });
    expect(shown.code, shown.stderr).toBe(0);
    return (JSON.parse(shown.stdout) as { timeline: { kind: string; type: string }[] }).timeline;
  }

  /** Opens a severity 2 case at OPENED, and has the engineer ask for information at NEED_INFO after warning and breach. */
  async function scenario(sweeper?: (iso: string) => Promise<void>, subject = 'Severity 2: report export is slow', quietChecks = true): Promise<number> {
    const quietBefore = async (iso: string) => { if (quietChecks) expect(await sweepAt(minuteBefore(iso), sweeper), `nothing a minute before ${iso}`).toEqual([]); };
    now = new Date(OPENED);
    const number = await openCase(subject, 'Severity 2.\n\nThe monthly report export takes 40 minutes since 4.2.\n\nBob\n');
    const tag = `[Case #${number}]`;
    const row = await tdb.db.selectFrom('cases').selectAll().where('number', '=', number).executeTakeFirstOrThrow();
    expect(row.severity).toBe(2);
    expect(row.first_response_due_at.toISOString()).toBe(new Date(DUE).toISOString());
    expect(row.sla_warning_due_at?.toISOString()).toBe(new Date(WARN).toISOString());

    // The SLA warning, to the assignee only, exactly at 75%.
    await quietBefore(WARN);
    const warning = await sweepAt(WARN, sweeper);
    expect(warning).toEqual([`${ERIN}: ${tag} Response due Tuesday 8 December 2026, 10:00 (Europe/Berlin): ${subject}`]);
    expect(await sweepAt(WARN, sweeper)).toEqual([]);

    // The breach, to the assignee and the supervisor, at 100%.
    await quietBefore(DUE);
    const breach = await sweepAt(DUE, sweeper);
    expect(breach).toHaveLength(1);
    expect(breach[0]).toContain(`${tag} Response target missed (severity 2)`);
    expect(breach[0]!.split(': ')[0]!.split(',').sort()).toEqual([ERIN, SAM]);

    // The engineer answers the new-case notification with #need-info: relayed to Bob, the case waits.
    now = new Date(NEED_INFO);
    const before = sink.messages.length;
    await engineerAnswers(number, '#need-info\nPlease send the export log from the server.');
    expect(since(before)).toEqual([`${BOB}: ${tag} ${subject}`]);
    const waiting = await tdb.db.selectFrom('cases').selectAll().where('number', '=', number).executeTakeFirstOrThrow();
    expect(waiting.state).toBe('awaiting_customer');
    expect(waiting.auto_close_at?.toISOString()).toBe(new Date(CLOSE).toISOString());

    // Both info reminders, the last one before the close (naming the close date), then the close.
    for (const [at, expected] of [
      [INFO_1, `${BOB}: ${tag} Reminder: we need information from you`],
      [INFO_2, `${BOB}: ${tag} Reminder: we need information from you`],
      [PRE_CLOSE, `${BOB}: ${tag} Last reminder: we need information from you`],
      [CLOSE, `${BOB}: ${tag} Case closed: ${subject}`],
    ] as const) {
      await quietBefore(at);
      expect(await sweepAt(at, sweeper), `at ${at}`).toEqual([expected]);
      expect(await sweepAt(at, sweeper), `a second sweep at ${at}`).toEqual([]);
    }
    return number;
  }

  it('a severity 2 case: warning, breach, #need-info, both info reminders, the last reminder and auto-close, each once at its business instant; case show --json has every step', async () => {
    const number = await scenario();
    const tag = `[Case #${number}]`;

    const last = sink.messages.filter((m) => m.rcptTo.includes(BOB) && subjectOf(m).includes('Last reminder')).at(-1)!;
    expect((await parseMessage(last.raw)).text).toContain('Monday 4 January 2027, 11:00 (Europe/Berlin)');
    const closed = sink.messages.filter((m) => subjectOf(m) === `${tag} Case closed: Severity 2: report export is slow`).at(-1)!;
    const closeText = (await parseMessage(closed.raw)).text;
    expect(closeText).toMatch(/no answer in\s+15\s+business days/);
    expect(closeText).toMatch(/reply to this e-mail until\s+Monday 11 January 2027, 11:00 \(Europe\/Berlin\)/);
    // Every timer mail threads into the case and tells mail robots not to answer.
    for (const m of sink.messages.filter((x) => subjectOf(x).includes(tag) && /Reminder|Last reminder|Case closed|Response/.test(subjectOf(x)))) {
      expect(headerOf(m.raw, 'In-Reply-To'), subjectOf(m)).toBeTruthy();
      expect(headerOf(m.raw, 'Auto-Submitted')).toBe('auto-generated');
    }
    const row = await tdb.db.selectFrom('cases').selectAll().where('number', '=', number).executeTakeFirstOrThrow();
    expect(row.state).toBe('closed');
    expect(row.close_reason).toBe('no_response');

    const kinds = (await caseTimeline(number)).filter((i) => i.type === 'event').map((i) => i.kind);
    const timerSteps = kinds.filter((k) => ['sla_warning', 'sla_breached', 'state_changed', 'reminder_sent', 'auto_closed'].includes(k));
    expect(timerSteps).toEqual(['sla_warning', 'sla_breached', 'state_changed', 'reminder_sent', 'reminder_sent', 'reminder_sent', 'auto_closed']);
  });

  it.runIf(databaseKind() === 'postgres')('the same scenario with two `casemail sweep --once` processes at every instant sends no duplicate', async () => {
    const twoProcesses = async (iso: string) => {
      const runs = await Promise.all([0, 1].map(() => runCli(['sweep', '--once', '--now', iso, '--json', '--config', configFile], { DATABASE_URL: tdb.url })));
      for (const r of runs) expect(r.code, r.stderr).toBe(0);
    };
    // Nothing-due instants are the first test's; here every sweep at a due instant runs twice, in two processes at once.
    const number = await scenario(twoProcesses, 'Severity 2: dashboard charts are blank', false);
    const c = await tdb.db.selectFrom('cases').select('id').where('number', '=', number).executeTakeFirstOrThrow();
    const rows = await tdb.db.selectFrom('outbox').select(['kind', 'cause_key']).where('case_id', '=', c.id).execute();
    const timerRows = rows.filter((r) => ['sla-warning', 'sla-breach', 'info-reminder', 'auto-close-notice'].includes(r.kind));
    expect(timerRows.map((r) => r.kind).sort()).toEqual(['auto-close-notice', 'info-reminder', 'info-reminder', 'info-reminder', 'sla-breach', 'sla-warning']);
  });

  it('after a 3-week outage one sweep gives each case its single right outcome: the breach without the stale warning, the close without the reminders, one last reminder for several missed', async () => {
    // Monday 1 February 2027 (no holidays in February): B waits for information from Monday, C from Tuesday, D was answered.
    now = new Date('2027-02-01T09:00:00Z');
    const b = await openCase('Import wizard rejects CSV files', 'The import wizard says "invalid format" for every CSV file.\n\nBob\n');
    const d = await openCase('Question about licence keys', 'How do I move a licence key to a new server?\n\nBob\n');
    now = new Date('2027-02-01T10:00:00Z');
    await engineerAnswers(b, '#need-info\nPlease send one of the CSV files.');
    now = new Date('2027-02-01T11:00:00Z');
    await engineerAnswers(d, 'Deactivate it in the portal first, then activate it on the new server.');
    now = new Date('2027-02-02T09:00:00Z');
    const c = await openCase('Search finds nothing after reindex', 'Since the reindex the search finds nothing at all.\n\nBob\n');
    now = new Date('2027-02-02T10:00:00Z');
    await engineerAnswers(c, '#need-info\nPlease send the indexer log.');
    // A: production down at 10:05, severity 1 (30 minutes around the clock). Then the timers stop for three weeks.
    now = new Date('2027-02-02T10:05:00Z');
    const a = await openCase('Production down: server does not start', 'Production down: the server does not start after the update.\n\nBob\n');
    expect((await tdb.db.selectFrom('cases').select('severity').where('number', '=', a).executeTakeFirstOrThrow()).severity).toBe(1);

    const back = '2027-02-23T09:00:00Z';
    const mails = await sweepAt(back);
    expect(mails.sort()).toEqual([
      `${BOB}: [Case #${b}] Case closed: Import wizard rejects CSV files`,
      `${BOB}: [Case #${c}] Last reminder: we need information from you`,
      `${ERIN},${SAM}: [Case #${a}] Response target missed (severity 1): Production down: server does not start`,
    ].sort());
    expect(await sweepAt(back)).toEqual([]);

    const events = async (n: number) => (await caseTimeline(n)).filter((i) => i.type === 'event').map((i) => i.kind);
    expect((await events(a)).filter((k) => k.startsWith('sla_'))).toEqual(['sla_breached']);
    expect((await events(b)).filter((k) => ['reminder_sent', 'auto_closed'].includes(k))).toEqual(['auto_closed']);
    expect((await events(c)).filter((k) => k === 'reminder_sent')).toEqual(['reminder_sent']);
    expect((await events(d)).filter((k) => k.startsWith('sla_') || k.startsWith('reminder') || k === 'auto_closed')).toEqual([]);
    // C's close is still ahead, at Tuesday 23 February 11:00 Berlin; the sweep there closes it.
    expect(await sweepAt('2027-02-23T10:00:00Z')).toEqual([`${BOB}: [Case #${c}] Case closed: Search finds nothing after reindex`]);
  });
});
