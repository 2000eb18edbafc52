// The operator's commands (issue 10, part 3) against a running service: mail goes in through the
// real SMTP intake and out to the real smtp-server sink; the service's clock is moved to chosen
// instants; the commands run as the built `casemail` against the same database. Expected figures
// are worked out by hand below from the calendar (Europe/Berlin, Mon-Fri 09:00-17:00, holidays
// 24, 25, 31 Dec and 1 Jan), not by the code under test.
// Needs the build: `npx tsc -p tsconfig.build.json`.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startService, type RunningService } from '../../src/cli/start-command.js';
import { MessageHandler } from '../../src/cases/message-handler.js';
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
const BOB = 'bob@acme.example';
const CLI_TIMEOUT = 120_000;
// eslint-disable-next-line no-control-regex
const RAW_UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]/;

const SETTINGS = {
  demoDirectory: false, logLevel: 'silent',
  smtpIntake: { enabled: true, host: '127.0.0.1', port: 0 }, imap: { mailboxes: [] }, outbox: { retryBaseSeconds: 0.2, pollSeconds: 0.1 },
  calendar: { timeZone: 'Europe/Berlin', workingHours: { start: '09:00', end: '17:00' }, holidays: ['2026-12-24', '2026-12-25', '2026-12-31', '2027-01-01'] },
  timers: { sweepSchedule: '0 0 1 1 *' },
};

describe(`operator commands against a running service, on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let sink: SmtpSink;
  let service: RunningService;
  let configFile: string;
  let now = new Date('2026-12-07T09:00:00Z');

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    sink = await startSmtpSink();
    const dataDir = tempDir('casemail-operator-');
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

  const cli = (args: string[]) => runCli([...args, '--config', configFile], { DATABASE_URL: tdb.url, USER: 'op-olga' });
  const subjectOf = (m: SinkMessage) => headerOf(m.raw, 'Subject') ?? '';
  async function send(raw: Buffer, from: string): Promise<void> {
    expect(await sendToIntake(service.smtp!.port, raw, { from, to: [SUPPORT] })).toMatch(/OK: processed/);
  }
  const outboxSettled = () => settled(tdb.db);
  const at = (iso: string) => { now = new Date(iso); };

  async function openCase(iso: string, subject: string, body: string): Promise<number> {
    at(iso);
    const request = buildMail({ from: `Bob Builder <${BOB}>`, subject, body });
    await send(request, BOB);
    const isAck = (m: SinkMessage) => headerOf(m.raw, 'In-Reply-To') === headerOf(request, 'Message-ID');
    const ack = (await sink.waitFor((ms) => ms.some(isAck), 20_000)).find(isAck)!;
    await outboxSettled();
    return Number(/\[Case #(\d+)\]/.exec(subjectOf(ack))![1]);
  }

  /** Erin answers the case's first notification to her, as a mail client would. */
  async function engineerAnswers(iso: string, number: number, text: string): Promise<void> {
    at(iso);
    const notification = sink.messages.find((m) => m.rcptTo.includes(ERIN) && subjectOf(m).includes(`[Case #${number}]`))!;
    const quoted = (await parseMessage(notification.raw)).text.trimEnd().split('\n').map((l) => `> ${l}`).join('\n');
    await send(buildMail({
      from: `Erin Engineer <${ERIN}>`, subject: `Re: ${subjectOf(notification)}`,
      inReplyTo: headerOf(notification.raw, 'Message-ID')!, references: headerOf(notification.raw, 'Message-ID')!,
      body: `${text}\n\nErin\n\nSupport wrote:\n${quoted}\n`,
    }), ERIN);
    await outboxSettled();
  }

  /** Bob answers the last mail he got about the case. */
  async function customerReplies(iso: string, number: number, text: string): Promise<void> {
    at(iso);
    const last = sink.messages.filter((m) => m.rcptTo.includes(BOB) && subjectOf(m).includes(`[Case #${number}]`)).at(-1)!;
    const id = headerOf(last.raw, 'Message-ID')!;
    await send(buildMail({ from: `Bob Builder <${BOB}>`, subject: `Re: ${subjectOf(last)}`, inReplyTo: id, references: id, body: `${text}\n` }), BOB);
    await outboxSettled();
  }

  async function sweepAt(iso: string): Promise<void> {
    at(iso);
    await service.sweepNow();
    await outboxSettled();
  }

  // Runs first: the later tests' cases are opened in 2027 and end closed, or are in March (outbox).
  it('stats over December 2026 prints the figures worked out by hand', async () => {
    // A, severity 2: Mon 7 Dec 10:00 Berlin; #need-info at 11:00 (60 business minutes, within the 8 h);
    //   auto-closes 15 business days later, Wed 30 Dec 11:00 Berlin (no_response).
    const a = await openCase('2026-12-07T09:00:00Z', 'Severity 2: nightly export stops', 'Severity 2.\n\nThe nightly export stops at 80%.\n\nBob\n');
    await engineerAnswers('2026-12-07T10:00:00Z', a, '#need-info\nPlease send the export log.');
    // B, severity 2: Mon 14:00 Berlin; #resolved Tue 10:00 (3 h + 1 h = 240 min, within: due Tue 14:00);
    //   auto-closes 10 business days later, Tue 22 Dec 10:00 Berlin (auto_resolved).
    const b = await openCase('2026-12-07T13:00:00Z', 'Severity 2: wrong totals in report', 'Severity 2.\n\nThe totals are wrong.\n\nBob\n');
    await engineerAnswers('2026-12-08T09:00:00Z', b, '#resolved\nFixed by the patch in 4.2.1, please update.');
    // C, severity 2: Tue 10:00 Berlin, due Wed 10:00; the sweep then breaches it; answered Wed 12:00 (7 h + 3 h = 600 min, missed).
    const c = await openCase('2026-12-08T09:00:00Z', 'Severity 2: import wizard hangs', 'Severity 2.\n\nThe import wizard hangs.\n\nBob\n');
    // D, severity 1 (30 minutes around the clock): Wed 09:00 Berlin, answered 09:20 (20 min, within).
    const d = await openCase('2026-12-09T08:00:00Z', 'Production down: server does not start', 'Production down: the server does not start.\n\nBob\n');
    await engineerAnswers('2026-12-09T08:20:00Z', d, 'Restart it with the --repair flag.');
    await sweepAt('2026-12-09T09:00:00Z');
    // E, severity 1: Wed 11:00 Berlin, due 11:30 (the sweep breaches it), answered 12:00 (60 min, missed).
    const e = await openCase('2026-12-09T10:00:00Z', 'Production down: database unreachable', 'Production down: the database is unreachable.\n\nBob\n');
    await sweepAt('2026-12-09T10:30:00Z');
    await engineerAnswers('2026-12-09T11:00:00Z', c, 'Please try the 4.2.1 installer.');
    await engineerAnswers('2026-12-09T11:00:00Z', e, 'The database host was moved; use db2.');
    await sweepAt('2026-12-22T09:00:00Z');
    await sweepAt('2026-12-30T10:00:00Z');
    // F, severity 2: Wed 30 Dec 16:00 Berlin, due Mon 4 Jan 16:00: still pending on 31 Dec.
    const f = await openCase('2026-12-30T15:00:00Z', 'Severity 2: licence warning', 'Severity 2.\n\nA licence warning appears.\n\nBob\n');

    const states = Object.fromEntries((await tdb.db.selectFrom('cases').select(['number', 'state', 'severity', 'close_reason']).execute())
      .map((r) => [r.number, `${r.severity} ${r.state} ${r.close_reason ?? ''}`.trim()]));
    expect(states).toEqual({
      [a]: '2 closed no_response', [b]: '2 closed auto_resolved', [c]: '2 open', [d]: '1 open', [e]: '1 open', [f]: '2 new',
    });

    const args = ['stats', '--from', '2026-12-01', '--to', '2026-12-31', '--now', '2026-12-31T12:00:00Z'];
    const json = await cli([...args, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const s = JSON.parse(json.stdout);
    expect(s.window).toEqual({ from: '2026-11-30T23:00:00.000Z', to: '2026-12-31T23:00:00.000Z', timeZone: 'Europe/Berlin' });
    expect(s.open).toMatchObject({ total: 4, bySeverity: { 1: 2, 2: 2 }, byState: { open: 3, new: 1 } });
    expect(s.firstResponse.perSeverity).toEqual([
      { severity: 1, opened: 2, withinTarget: 1, missed: 1, pending: 0, shareWithinTarget: 0.5 },
      { severity: 2, opened: 4, withinTarget: 2, missed: 1, pending: 1, shareWithinTarget: 2 / 3 },
    ]);
    // Business minutes sorted: 20 (D), 60 (A), 60 (E), 240 (B), 600 (C). Nearest rank: median the 3rd, p90 the 5th.
    expect(s.firstResponse.businessMinutes).toEqual({ count: 5, median: 60, p90: 600 });
    expect(s.breaches).toEqual({ total: 2, bySeverity: { 1: 1, 2: 1 }, cases: [c, e].sort((x, y) => x - y) });
    expect(s.autoClosed).toEqual({ total: 2, byReason: { no_response: 1, auto_resolved: 1 } });

    const human = await cli(args);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain('Open cases now: 4');
    expect(human.stdout).toMatch(/^ {2}1\s+2\s+1\s+1\s+0\s+50\.0%$/m);
    expect(human.stdout).toMatch(/^ {2}2\s+4\s+2\s+1\s+1\s+66\.7%$/m);
    expect(human.stdout).toContain('(5 answered): median 60 min (1 hour), p90 600 min (10 hours)');
    expect(human.stdout).toMatch(/SLA breaches in the window: 2 \(by severity: 1: 1, 2: 1; cases #\d+, #\d+\)/);
    expect(human.stdout).toMatch(/Auto-closed in the window: 2 \((no_response: 1, auto_resolved: 1|auto_resolved: 1, no_response: 1)\)/);

    // A window before everything: no case, no figure invented.
    const empty = JSON.parse((await cli(['stats', '--from', '2026-11-01', '--to', '2026-11-30', '--now', '2026-12-31T12:00:00Z', '--json'])).stdout);
    expect(empty.firstResponse).toEqual({ perSeverity: [], businessMinutes: { count: 0, median: null, p90: null } });
    expect(empty.breaches.total).toBe(0);
    expect((await cli(['stats', '--from', 'yesterday', '--to', '2026-12-31'])).code).toBe(2);
    expect((await cli(['stats', '--to', '2026-12-31'])).code).toBe(2);
    expect((await cli(['stats', '--from', '2026-12-31', '--to', '2026-12-01'])).code).toBe(2);
  }, 240_000);

  it('case show prints the whole life of a case that went through every state, ending in the sweep\'s auto-close', async () => {
    // February 2027 has no holiday. Berlin is UTC+1.
    const subject = 'Severity 2: scheduler skips jobs';
    const n = await openCase('2027-02-01T09:00:00Z', subject, 'Severity 2.\n\nThe scheduler skips every second job.\n\nBob\n');
    await engineerAnswers('2027-02-01T10:00:00Z', n, 'Looking into it.');                      // new -> open
    await engineerAnswers('2027-02-01T11:00:00Z', n, '#need-info\nWhich version exactly?');   // -> awaiting_customer
    await customerReplies('2027-02-01T12:00:00Z', n, 'Version 4.2.0 build 17.');              // -> open
    await engineerAnswers('2027-02-01T13:00:00Z', n, '#resolved\nFixed in build 18.');         // -> resolution_proposed
    await customerReplies('2027-02-01T14:00:00Z', n, 'close');                                 // -> closed (customer_confirmed)
    await customerReplies('2027-02-02T09:00:00Z', n, 'It happened again this morning.');       // reopened within the window
    await engineerAnswers('2027-02-02T10:00:00Z', n, '#resolved\nBuild 19 has the full fix.'); // -> resolution_proposed
    // Ten business days after Tue 2 Feb 11:00 Berlin: Tue 16 Feb 11:00 Berlin.
    const shownBefore = JSON.parse((await cli(['case', 'show', String(n), '--json'])).stdout);
    expect(shownBefore.deadlines.autoCloseAt).toBe('2027-02-16T10:00:00.000Z');
    at('2027-02-16T10:00:00Z');
    const swept = await cli(['sweep', '--once', '--now', '2027-02-16T10:00:00Z']);
    expect(swept.code, swept.stderr).toBe(0);
    expect(swept.stdout).toContain('auto_closed 1');
    await sink.waitFor((ms) => ms.some((m) => subjectOf(m) === `[Case #${n}] Case closed: ${subject}`), 20_000);
    await outboxSettled();

    const r = await cli(['case', 'show', String(n)]);
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).not.toMatch(RAW_UNSAFE);
    expect(out.split('\n')[0]).toBe(`Case #${n}: ${subject}`);
    expect(out).toMatch(/^organisation\s+Acme Industries \(acme\)$/m);
    expect(out).toMatch(/^requester\s+Bob Builder <bob@acme\.example>$/m);
    expect(out).toMatch(/^assignee\s+Erin Engineer <erin@vendor\.example>$/m);
    expect(out).toMatch(/^severity\s+2 /m);
    expect(out).toMatch(/^state\s+closed$/m);
    expect(out).toMatch(/^opened\s+Monday 1 February 2027, 10:00 \(Europe\/Berlin\)$/m);
    expect(out).toMatch(/^closed\s+Tuesday 16 February 2027, 11:00 \(Europe\/Berlin\) — auto-closed: the proposed resolution was not answered$/m);
    expect(out).toMatch(/^ {2}first response\s+answered Monday 1 February 2027, 11:00 \(Europe\/Berlin\) \(within target; due Tuesday 2 February 2027, 10:00 \(Europe\/Berlin\)\)$/m);
    expect(out).toMatch(/^ {2}auto-close\s+-$/m);

    const timeline = out.slice(out.indexOf('Timeline (Europe/Berlin)')).split('\n').slice(1).filter((l) => l.trim() !== '');
    // Complete: one line per item of the JSON contract, in its order.
    const json = JSON.parse((await cli(['case', 'show', String(n), '--json'])).stdout) as { timeline: { type: string; kind: string | null }[] };
    expect(timeline).toHaveLength(json.timeline.length);
    const events = timeline.filter((l) => /^ {2}\S.* event /.test(l)).map((l) => l.replace(/^.* event {5}/, ''));
    const transitions = events.filter((l) => /^(state_changed|customer_replied|closed_by_customer|reopened|auto_closed)\b/.test(l));
    expect(transitions.map((l) => l.replace(/ by \S+: /, ': ').replace(/ dueAt=.*$/, ''))).toEqual([
      'state_changed: new -> open',
      'state_changed: open -> awaiting_customer',
      'customer_replied: awaiting_customer -> open',
      'state_changed: open -> resolution_proposed',
      'closed_by_customer: resolution_proposed -> closed (customer_confirmed)',
      'reopened: closed -> open',
      'state_changed: open -> resolution_proposed',
      'auto_closed: reason=auto_resolved',
    ]);
    const inbound = timeline.filter((l) => / in {8}from /.test(l));
    expect(inbound.filter((l) => l.includes(`from ${BOB} `))).toHaveLength(4);
    expect(inbound.filter((l) => l.includes(`from ${ERIN} `))).toHaveLength(4);
    expect(inbound[0]).toBe(`  Mon 1 Feb 2027 10:00  in        from ${BOB} "${subject}" [processed]`);
    const outbound = timeline.filter((l) => / out {7}/.test(l));
    expect(outbound.length).toBeGreaterThanOrEqual(6);
    for (const l of outbound) expect(l).toMatch(/: sent (Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d+ \w{3} 2027 \d\d:\d\d$/);
    expect(outbound[0]).toMatch(new RegExp(`out {7}acknowledgement to ${BOB.replace('.', '\\.')}: sent Mon 1 Feb 2027 10:00$`));
    expect(outbound.at(-1)).toContain(`auto-close-notice to ${BOB}`);
    // Time order.
    const stamps = timeline.map((l) => l.slice(2, 23).trim());
    const toMs = (s: string) => Date.parse(s.replace(/^\w{3} /, ''));
    for (let i = 1; i < stamps.length; i++) expect(toMs(stamps[i]!)).toBeGreaterThanOrEqual(toMs(stamps[i - 1]!));

    expect((await cli(['case', 'show', '999999'])).code).toBe(1);
    expect((await cli(['case', 'show', 'x1'])).code).toBe(2);
  }, 240_000);

  it('outbox list shows a refused mail as failed with its error; retry sends it again, once, and records it on the case', async () => {
    sink.setFailure({ code: 550, message: 'mailbox unavailable', stage: 'rcpt', times: 2 });
    at('2027-03-01T09:00:00Z');
    await send(buildMail({ from: `Bob Builder <${BOB}>`, subject: 'Severity 3: typo in the manual', body: 'Page 12 says "teh".\n\nBob\n' }), BOB);
    await expect.poll(async () => (await tdb.db.selectFrom('outbox').select('id').where('status', '=', 'failed').execute()).length, { timeout: 20_000, interval: 50 }).toBe(2);
    sink.setFailure(null);

    const failed = await cli(['outbox', 'list', '--failed', '--json']);
    expect(failed.code, failed.stderr).toBe(0);
    const rows = JSON.parse(failed.stdout) as { id: number; status: string; kind: string; caseNumber: number; to: string[]; attempts: number; lastError: string }[];
    expect(rows).toHaveLength(2);
    expect(rows[0]!.id).toBeGreaterThan(rows[1]!.id);
    const ack = rows.find((r) => r.kind === 'acknowledgement')!;
    expect(ack).toMatchObject({ status: 'failed', to: [BOB], attempts: 1, lastError: expect.stringContaining('550') });
    const all = JSON.parse((await cli(['outbox', 'list', '--json', '--limit', '3'])).stdout) as { id: number }[];
    expect(all).toHaveLength(3);
    expect(all.map((r) => r.id)).toEqual([...all.map((r) => r.id)].sort((x, y) => y - x));

    const table = await cli(['outbox', 'list', '--failed']);
    expect(table.stdout).toMatch(new RegExp(`^\\s*${ack.id}\\s+\\S+\\s+failed\\s+acknowledgement\\s+#${ack.caseNumber}\\s+bob@acme\\.example\\s+1\\s+-\\s+.*550`, 'm'));
    const before = await cli(['case', 'show', String(ack.caseNumber)]);
    expect(before.stdout).toMatch(/out {7}acknowledgement to bob@acme\.example: FAILED after 1 attempt, last error: .*550/);

    const sent = sink.messages.length;
    const retried = await cli(['outbox', 'retry', String(ack.id)]);
    expect(retried.stdout).toBe(`outbox row ${ack.id} (failed) queued again: the running service sends it on its next poll\n`);
    expect(retried.code).toBe(0);
    await sink.waitFor((ms) => ms.length > sent && ms.slice(sent).some((m) => m.rcptTo.includes(BOB)), 20_000);
    await outboxSettled();
    const row = await tdb.db.selectFrom('outbox').select(['status', 'attempts']).where('id', '=', ack.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'sent', attempts: 1 });
    const shown = JSON.parse((await cli(['case', 'show', String(ack.caseNumber), '--json'])).stdout) as { timeline: { type: string; kind: string; actor?: string; data?: Record<string, unknown> }[] };
    expect(shown.timeline).toContainEqual(expect.objectContaining({ type: 'event', kind: 'outbox_retried', actor: 'op-olga', data: expect.objectContaining({ outboxId: ack.id, previous: 'failed' }) }));
    expect((await cli(['case', 'show', String(ack.caseNumber)])).stdout).toMatch(/out {7}acknowledgement to bob@acme\.example: sent /);

    const again = await cli(['outbox', 'retry', String(ack.id)]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`outbox row ${ack.id} was sent; it is not sent twice`);
    expect((await cli(['outbox', 'retry', '987654'])).code).toBe(1);
    expect((await cli(['outbox', 'retry', 'abc'])).code).toBe(2);
    expect(JSON.parse((await cli(['outbox', 'list', '--failed', '--json'])).stdout)).toHaveLength(1);

    // held_back (automatic mail stopped by a per-address limit) is set by the intake's limiter; here
    // the other refused row is put in that state directly, as that limiter would leave it.
    const other = rows.find((r) => r.id !== ack.id)!;
    await tdb.db.updateTable('outbox').set({ status: 'held_back', last_error: 'per-address limit reached' }).where('id', '=', other.id).execute();
    const heldBack = JSON.parse((await cli(['outbox', 'list', '--failed', '--json'])).stdout) as { id: number; status: string }[];
    expect(heldBack).toEqual([expect.objectContaining({ id: other.id, status: 'held_back' })]);
    expect((await cli(['case', 'show', String(other.caseNumber)])).stdout).toMatch(/: held_back \(per-address limit; 1 attempt, last error: per-address limit reached\)$/m);
    const releasedBack = await cli(['outbox', 'retry', String(other.id)]);
    expect(releasedBack.stdout).toContain(`outbox row ${other.id} (held_back) queued again`);
    await outboxSettled();
    expect((await tdb.db.selectFrom('outbox').select('status').where('id', '=', other.id).executeTakeFirstOrThrow()).status).toBe('sent');
    expect(JSON.parse((await cli(['outbox', 'list', '--failed', '--json'])).stdout)).toEqual([]);
  }, CLI_TIMEOUT);
});

describe(`casemail quarantine on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let configFile: string;
  let settings: ReturnType<typeof loadConfig>['settings'];

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    const dataDir = tempDir('casemail-quarantine-');
    configFile = path.join(dataDir, 'casemail.json');
    const file = { ...SETTINGS, smtpIntake: { enabled: false }, dataDir, limits: { maxMessageBytes: 20_000 } };
    writeFileSync(configFile, JSON.stringify(file));
    settings = loadConfig({ env: {}, overrides: file }).settings;
  });
  afterAll(async () => {
    await tdb?.close();
  });

  const cli = (args: string[]) => runCli([...args, '--config', configFile], { DATABASE_URL: tdb.url, USER: 'op-olga' });
  const source = { kind: 'pipe' as const, mailbox: null, uidValidity: null, uid: null, envelopeRecipients: [] };

  it('lists and shows a message quarantined by a failing parser, retries it into a case once the parser works, and refuses an oversize one', async () => {
    // The one stand-in: an understanding step that fails, as a parser bug would (no real input reliably does).
    const broken = new MessageHandler({
      db: tdb.db, settings, logger: silentLogger, clock: () => new Date('2027-04-05T08:00:00Z'),
      understand: async () => { throw new Error('parser bug: unexpected \x1b[2J end of header'); },
    });
    const subject = 'Backup job \x1b]0;pwned\x07 fails nightly';
    const q = await broken.handle(buildMail({ from: `Bob Builder <${BOB}>`, subject, body: 'The backup job fails every night.\n\nBob\n' }), source);
    expect(q.status).toBe('quarantined');
    const id = Number(q.messageId);
    const big = await broken.handleAt(buildMail({ from: `Bob Builder <${BOB}>`, subject: 'Huge log attached', body: 'x'.repeat(30_000) }), source, new Date('2027-04-05T08:05:00Z'));
    expect(big.status).toBe('quarantined');
    const bigId = Number(big.messageId);

    const list = await cli(['quarantine', 'list', '--json']);
    expect(list.code, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout) as { id: number; from: string; subject: string; reason: string; error: string; size: number }[];
    expect(rows.map((r) => r.id)).toEqual([bigId, id]);
    expect(rows[1]).toMatchObject({ from: BOB, subject, reason: 'error', error: 'unparseable: parser bug: unexpected \x1b[2J end of header' });
    expect(rows[0]).toMatchObject({ reason: 'oversize', from: BOB, subject: 'Huge log attached' });

    const table = await cli(['quarantine', 'list']);
    expect(table.stdout).not.toMatch(RAW_UNSAFE);
    expect(table.stdout).toMatch(new RegExp(`^\\s*${id}\\s.*bob@acme\\.example\\s+error\\s+Backup job \\\\x1b\\]0;pwned\\\\x07 fails night`, 'm'));

    const show = await cli(['quarantine', 'show', String(id)]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).not.toMatch(RAW_UNSAFE);
    expect(show.stdout).toMatch(/^status {4}quarantined$/m);
    expect(show.stdout).toMatch(/^reason {4}error$/m);
    expect(show.stdout).toContain('error     unparseable: parser bug: unexpected \\x1b[2J end of header');
    expect(show.stdout).toMatch(/^from: Bob Builder <bob@acme\.example>$/m);
    expect(show.stdout).toContain('subject: Backup job \\x1b]0;pwned\\x07 fails nightly');
    const shownJson = JSON.parse((await cli(['quarantine', 'show', String(id), '--json'])).stdout);
    expect(shownJson).toMatchObject({ id, status: 'quarantined', reason: 'error', headersOnly: false });
    expect(shownJson.headers).toContainEqual({ name: 'subject', value: subject });

    const retried = await cli(['quarantine', 'retry', String(id)]);
    expect(retried.stderr).not.toContain('casemail quarantine');
    const number = new RegExp(`^message ${id} retried: case #(\\d+) opened$`).exec(retried.stdout.trim())?.[1];
    expect(number, retried.stdout + retried.stderr).toBeDefined();
    expect(retried.code).toBe(0);

    const old = JSON.parse((await cli(['quarantine', 'show', String(id), '--json'])).stdout);
    expect(old.status).toBe('released');
    expect(old.statusReason).toMatch(/^released as message \d+$/);
    const newId = Number(/(\d+)$/.exec(old.statusReason)![1]);
    const c = JSON.parse((await cli(['case', 'show', number!, '--json'])).stdout) as { subject: string; timeline: { type: string; kind: string; direction?: string }[] };
    expect(c.subject).toBe(subject);
    expect(c.timeline).toContainEqual(expect.objectContaining({ type: 'event', kind: 'quarantined_message_retried' }));
    const newRow = await tdb.db.selectFrom('messages').select(['status', 'case_id']).where('id', '=', newId).executeTakeFirstOrThrow();
    expect(newRow.status).toBe('processed');
    expect(JSON.parse((await cli(['quarantine', 'list', '--json'])).stdout).map((r: { id: number }) => r.id)).toEqual([bigId]);

    const twice = await cli(['quarantine', 'retry', String(id)]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain(`message ${id} is not quarantined (it is released)`);
    const oversize = await cli(['quarantine', 'retry', String(bigId)]);
    expect(oversize.code).toBe(1);
    expect(oversize.stderr).toContain('only its headers were kept');
    expect((await cli(['quarantine', 'show', '424242'])).code).toBe(1);
    expect((await cli(['quarantine', 'retry', 'x'])).code).toBe(2);
  }, CLI_TIMEOUT);
});
