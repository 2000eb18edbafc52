// Organisation admins by mail (issue 10 part 2, spec section 8), as an admin uses them: every
// message goes in through the real SMTP intake of the running service and every answer arrives
// at the real smtp-server sink. The trusted mail server's Authentication-Results header is what
// a border MTA would prepend; forged ones are what a sender can write themselves.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startService, type RunningService } from '../../src/cli/start-command.js';
import { silentLogger } from '../../src/log/logger.js';
import { parseMessage } from '../../src/ingest/parse-message.js';
import { formatLocal } from '../../src/calendar/business-calendar.js';
import { REPLY_MARKER } from '../../src/threading/reply-marker.js';
import { MessageHandler } from '../../src/cases/message-handler.js';
import { releaseHeld } from '../../src/cases/held-release.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail, type TestMail } from '../support/mail-builder.js';
import { headerOf, sendToIntake, smtpUrl } from '../support/service-harness.js';
import { tempDir } from '../support/temp-dirs.js';

const SUPPORT = 'support@casemail.localhost';
const MX = 'mx.casemail.localhost';
const ADA = 'ada@acme.example';
const ERIN = 'erin@vendor.example';

interface Harness {
  tdb: TestDatabase;
  sink: SmtpSink;
  service: RunningService;
  settings: ReturnType<typeof loadConfig>['settings'];
}

async function startHarness(trustAuthResultsFrom: string | null, clock: () => Date): Promise<Harness> {
  const tdb = await createTestDatabase();
  await loadTestDirectory(tdb.db);
  const sink = await startSmtpSink();
  const config = loadConfig({
    env: { SMTP_URL: smtpUrl(sink) },
    overrides: {
      dataDir: tempDir('casemail-admins-'), demoDirectory: false, logLevel: 'silent', trustAuthResultsFrom,
      smtpIntake: { enabled: true, host: '127.0.0.1', port: 0 }, imap: { mailboxes: [] }, outbox: { retryBaseSeconds: 0.2 },
      limits: { maxAutomaticMailPerAddressPerHour: 1000 },
    },
  });
  const service = await startService({ config, logger: silentLogger }, tdb, { clock });
  return { tdb, sink, service, settings: config.settings };
}

function helpers(h: () => Harness) {
  const send = (raw: Buffer, from: string) => sendToIntake(h().service.smtp!.port, raw, { from, to: [SUPPORT] });
  /** A message as it leaves the border MTA: its Authentication-Results lines prepended, topmost first. */
  const withAuthResults = (results: string[], mail: TestMail): Buffer =>
    Buffer.concat([Buffer.from(results.map((r) => `Authentication-Results: ${r}\r\n`).join('')), buildMail(mail)]);
  const answerTo = (raw: Buffer) => (m: SinkMessage) => headerOf(m.raw, 'In-Reply-To') === headerOf(raw, 'Message-ID');
  async function waitOne(pred: (m: SinkMessage) => boolean): Promise<SinkMessage> {
    const got = await h().sink.waitFor((ms) => ms.some(pred), 20_000);
    return got.find(pred)!;
  }
  const caseCount = async () => (await h().tdb.db.selectFrom('cases').select('id').execute()).length;
  const rowOf = (reply: string) => h().tdb.db.selectFrom('messages').select(['status', 'status_reason', 'case_id'])
    .where('id', '=', Number(/OK: \w+ (\d+)/.exec(reply)![1])).executeTakeFirstOrThrow();
  return { send, withAuthResults, answerTo, waitOne, caseCount, rowOf };
}

describe(`organisation admins by mail, trusting ${MX}, through SMTP into the sink, on ${databaseKind()}`, () => {
  let h: Harness;
  // A Tuesday morning before the real date, so every outbox row is due at once.
  let now = new Date('2026-11-24T08:00:00Z');
  const { send, withAuthResults, answerTo, waitOne, caseCount, rowOf } = helpers(() => h);
  const opened: { number: number; subject: string; requester: string }[] = [];
  const dkimPass = `${MX}; dkim=pass header.d=acme.example header.s=sel1; spf=none smtp.mailfrom=${ADA}`;

  beforeAll(async () => {
    h = await startHarness(MX, () => now);
    // Two open cases of Acme, opened an hour apart by two of its contacts.
    for (const [from, subject] of [['Bob Builder <bob@acme.example>', 'Export stops with E42'], ['Carol <carol@acme.example>', 'Licence server refuses seats']] as const) {
      const raw = buildMail({ from, subject });
      expect(await send(raw, /<(.+)>/.exec(from)![1]!)).toMatch(/OK: processed/);
      const ack = await waitOne(answerTo(raw));
      opened.push({ number: Number(/\[Case #(\d+)\]/.exec(headerOf(ack.raw, 'Subject')!)![1]), subject, requester: from });
      now = new Date(now.getTime() + 60 * 60 * 1000);
    }
  });
  afterAll(async () => {
    await h?.service.stop();
    await h?.sink.stop();
    await h?.tdb.close();
  });

  it('answers "List cases" with a passing DKIM result by the digest of the organisation\'s open cases, and opens no case', async () => {
    now = new Date('2026-11-24T10:30:00Z');
    const before = await caseCount();
    const raw = withAuthResults([dkimPass], { from: `Ada Admin <${ADA}>`, subject: 'List Cases!', body: 'Thanks\n' });
    const reply = await send(raw, ADA);
    expect(reply).toMatch(/OK: processed/);
    expect(await rowOf(reply)).toEqual({ status: 'processed', status_reason: 'admin_command: cases', case_id: null });
    expect(await caseCount()).toBe(before);

    const digest = await waitOne(answerTo(raw));
    expect(digest.rcptTo).toEqual([ADA]);
    const parsed = await parseMessage(digest.raw);
    expect(parsed.subject).toBe('Open cases of Acme Industries: 2');
    expect(headerOf(digest.raw, 'Auto-Submitted')).toBe('auto-replied');
    const text = parsed.text;
    expect(text).toContain(`${REPLY_MARKER}\n\nHello Ada Admin,\n\nthese are the open cases of Acme Industries as of Tuesday 24 November 2026, 11:30 (Europe/Berlin),`);
    for (const [i, c] of opened.entries()) {
      const row = await h.tdb.db.selectFrom('cases').select(['first_response_due_at', 'severity', 'state']).where('number', '=', c.number).executeTakeFirstOrThrow();
      const block = [
        `[Case #${c.number}] ${c.subject}`,
        `  Severity:      ${row.severity}`,
        `  State:         ${row.state}`,
        `  Requester:     ${c.requester}`,
        // Opened at 08:00 and 09:00 UTC; now is 10:30.
        `  Open for:      ${i === 0 ? '2 hours 30 minutes' : '1 hour 30 minutes'}`,
        `  Next deadline: first response due by ${formatLocal(row.first_response_due_at, 'Europe/Berlin')}`,
      ].join('\n');
      expect(text).toContain(block);
    }
    // Oldest first.
    expect(text.indexOf(`#${opened[0]!.number}]`)).toBeLessThan(text.indexOf(`#${opened[1]!.number}]`));
    expect(parsed.html).toContain(`<strong>[Case #${opened[0]!.number}]</strong> Export stops with E42`);
    const event = await h.tdb.db.selectFrom('case_events').select(['kind', 'data', 'actor']).where('kind', '=', 'admin_command').executeTakeFirstOrThrow();
    expect(event).toMatchObject({ actor: ADA, data: { command: 'cases', method: 'dkim', openCases: 2 } });
  });

  it('"add contact" adds the good line as an active contact of Acme and says per line what happened to the others', async () => {
    now = new Date('2026-11-24T10:40:00Z');
    const before = await caseCount();
    const raw = withAuthResults([dkimPass], {
      from: `Ada Admin <${ADA}>`, subject: 'add contact',
      body: 'lee@acme.example, Lee Park\nlee at acme dot example\nhank@globex.example, Hank\nBob Builder <bob@acme.example>\n',
    });
    const reply = await send(raw, ADA);
    expect(reply).toMatch(/OK: processed/);
    const answer = await parseMessage((await waitOne(answerTo(raw))).raw);
    expect(answer.subject).toBe('Re: add contact');
    expect(answer.text).toContain([
      'your "add contact" request for Acme Industries, line by line:',
      '  lee@acme.example, Lee Park: added',
      '  lee at acme dot example: invalid address',
      '  hank@globex.example, Hank: belongs to another organisation',
      '  Bob Builder <bob@acme.example>: already a contact',
    ].join('\n'));
    const lee = await h.tdb.db.selectFrom('contacts').innerJoin('organisations', 'organisations.id', 'contacts.organisation_id')
      .select(['contacts.name', 'contacts.role', 'contacts.active', 'organisations.key']).where('address', '=', 'lee@acme.example').executeTakeFirstOrThrow();
    expect(lee).toEqual({ name: 'Lee Park', role: 'contact', active: true, key: 'acme' });
    // Hank stays Globex's.
    const hank = await h.tdb.db.selectFrom('contacts').innerJoin('organisations', 'organisations.id', 'contacts.organisation_id')
      .select('organisations.key').where('address', '=', 'hank@globex.example').executeTakeFirstOrThrow();
    expect(hank.key).toBe('globex');
    expect(await caseCount()).toBe(before);

    // Lee is entitled now: a request from Lee opens a case.
    const request = buildMail({ from: 'Lee Park <lee@acme.example>', subject: 'Printing to PDF hangs' });
    expect(await send(request, 'lee@acme.example')).toMatch(/OK: processed/);
    expect(headerOf((await waitOne(answerTo(request))).raw, 'Subject')).toMatch(/^\[Case #\d+\] Printing to PDF hangs$/);
  });

  it('"licenses" with an SPF pass lists the contracts with the days left, counted in the organisation\'s zone', async () => {
    now = new Date('2026-11-24T23:30:00Z'); // already Wednesday 25 November in Berlin
    const raw = withAuthResults([`${MX}; spf=pass smtp.mailfrom=${ADA}`], { from: `Ada Admin <${ADA}>`, subject: 'Licenses', body: '\n' });
    expect(await send(raw, ADA)).toMatch(/OK: processed/);
    const answer = await parseMessage((await waitOne(answerTo(raw))).raw);
    expect(answer.text).toContain('the maintenance contracts of Acme Industries, counted from\n2026-11-25 (Europe/Berlin):');
    expect(answer.text).toContain('Server\n  From:      2026-01-01\n  Until:     2027-12-31\n  Remaining: 401 days left');
    expect(answer.text).not.toContain('Globex');
  });

  it('refuses an admin command without a passing result, with the explanation, and holds the message', async () => {
    now = new Date('2026-11-25T09:00:00Z');
    const before = await caseCount();
    const raw = buildMail({ from: `Ada Admin <${ADA}>`, subject: 'cases', body: 'Please send the list.\n' });
    const reply = await send(raw, ADA);
    expect(reply).toMatch(/OK: held/);
    expect(await rowOf(reply)).toEqual({ status: 'held', status_reason: 'admin_unauthenticated', case_id: null });
    expect(await caseCount()).toBe(before);
    const refusal = await waitOne(answerTo(raw));
    const parsed = await parseMessage(refusal.raw);
    expect(parsed.subject).toBe('Re: cases (refused)');
    expect(parsed.text).toContain(`we did not carry out your "cases" command for Acme Industries:\nthe message carries no Authentication-Results header from ${MX}, the mail server we trust to check senders.`);
    expect(parsed.text).toContain(`What is missing: a DKIM, SPF or DMARC result for acme.example recorded by ${MX}`);
    expect(parsed.text).not.toContain('[Case #');

    // A pass for another domain is no pass for Ada's.
    const other = withAuthResults([`${MX}; dkim=pass header.d=mailer.example; spf=softfail smtp.mailfrom=${ADA}`], { from: `Ada Admin <${ADA}>`, subject: 'cases' });
    expect(await send(other, ADA)).toMatch(/OK: held/);
    const text = (await parseMessage((await waitOne(answerTo(other))).raw)).text;
    expect(text).toContain(`neither DKIM, SPF nor DMARC passed for acme.example at ${MX}.`);
    expect(text).toContain('  dkim=pass (header.d=mailer.example)\n  spf=softfail (smtp.mailfrom=ada@acme.example)');
  });

  it('ignores a forged Authentication-Results: another authserv-id, or "ours" below another server\'s', async () => {
    now = new Date('2026-11-25T09:10:00Z');
    const forgedId = withAuthResults([`evil.example; dkim=pass header.d=acme.example; dmarc=pass header.from=acme.example`], { from: `Ada Admin <${ADA}>`, subject: 'add contact', body: 'mallory@acme.example\n' });
    expect(await send(forgedId, ADA)).toMatch(/OK: held/);
    expect((await parseMessage((await waitOne(answerTo(forgedId))).raw)).text).toContain(`no Authentication-Results header from ${MX}`);

    const forgedBelow = withAuthResults([
      `${MX}; dkim=none; spf=fail smtp.mailfrom=${ADA}`,
      'relay.example; spf=pass smtp.mailfrom=relay.example',
      `${MX}; dkim=pass header.d=acme.example`,
    ], { from: `Ada Admin <${ADA}>`, subject: 'add contact', body: 'mallory@acme.example\n' });
    expect(await send(forgedBelow, ADA)).toMatch(/OK: held/);
    const text = (await parseMessage((await waitOne(answerTo(forgedBelow))).raw)).text;
    expect(text).toContain(`neither DKIM, SPF nor DMARC passed for acme.example at ${MX}.`);
    expect(text).not.toContain('header.d=acme.example');
    expect(await h.tdb.db.selectFrom('contacts').select('id').where('address', '=', 'mallory@acme.example').executeTakeFirst()).toBeUndefined();
    const refused = await h.tdb.db.selectFrom('case_events').select('data').where('kind', '=', 'admin_command_refused').execute();
    expect(refused.map((e) => (e.data as { problem: string }).problem)).toEqual(expect.arrayContaining(['no_trusted_header', 'no_pass']));
  });

  it('lets an admin follow up on a case of her organisation she is not on: she joins it and the assignee hears', async () => {
    now = new Date('2026-11-25T09:20:00Z');
    const c = opened[0]!;
    const raw = buildMail({ from: `Ada Admin <${ADA}>`, subject: `Re: [Case #${c.number}] ${c.subject}`, body: 'This blocks our month-end run; please prioritise.\n' });
    const reply = await send(raw, ADA);
    expect(reply).toMatch(/OK: processed/);
    const row = await rowOf(reply);
    const caseRow = await h.tdb.db.selectFrom('cases').select(['id', 'assignee_engineer_id']).where('number', '=', c.number).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'processed', case_id: caseRow.id });
    const participant = await h.tdb.db.selectFrom('case_participants').select('role').where('case_id', '=', caseRow.id).where('address', '=', ADA).executeTakeFirstOrThrow();
    expect(participant.role).toBe('organisation');
    const notice = await waitOne((m) => m.rcptTo.includes(ERIN) && (headerOf(m.raw, 'Subject') ?? '').includes(`[Case #${c.number}]`)
      && m.raw.toString('utf8').includes('month-end run'));
    expect(notice).toBeDefined();
  });

  it('treats the same subject from a contact who is not an admin as an ordinary request', async () => {
    now = new Date('2026-11-25T09:30:00Z');
    const raw = buildMail({ from: 'Bob Builder <bob@acme.example>', subject: 'cases', headers: { 'X-Test': 'non-admin' } });
    expect(await send(raw, 'bob@acme.example')).toMatch(/OK: processed/);
    expect(headerOf((await waitOne(answerTo(raw))).raw, 'Subject')).toMatch(/^\[Case #\d+\] cases$/);
  });
});

describe(`organisation admins by mail without trustAuthResultsFrom, on ${databaseKind()}`, () => {
  let h: Harness;
  const { send, withAuthResults, answerTo, waitOne, caseCount, rowOf } = helpers(() => h);
  beforeAll(async () => {
    h = await startHarness(null, () => new Date('2026-11-24T09:00:00Z'));
  });
  afterAll(async () => {
    await h?.service.stop();
    await h?.sink.stop();
    await h?.tdb.close();
  });

  it('refuses even a passing header, explaining the missing configuration, and stores the message held', async () => {
    const raw = withAuthResults([`${MX}; dkim=pass header.d=acme.example`], { from: `Ada Admin <${ADA}>`, subject: 'licenses' });
    const reply = await send(raw, ADA);
    expect(reply).toMatch(/OK: held/);
    expect(await rowOf(reply)).toEqual({ status: 'held', status_reason: 'admin_unauthenticated', case_id: null });
    expect(await caseCount()).toBe(0);
    const text = (await parseMessage((await waitOne(answerTo(raw))).raw)).text;
    expect(text).toContain('this service is not set up to check it');
    expect(text).toContain('(setting trustAuthResultsFrom)');
    expect(text).not.toContain('2027-12-31');

    // Once the operator configures the trusted server, `casemail held release` runs the command.
    const trusting = new MessageHandler({
      db: h.tdb.db, settings: { ...h.settings, trustAuthResultsFrom: MX }, logger: silentLogger, clock: () => new Date('2026-11-24T09:30:00Z'),
    });
    const outcome = await releaseHeld(h.tdb.db, trusting, Number(/OK: \w+ (\d+)/.exec(reply)![1]), new Date('2026-11-24T09:30:00Z'));
    expect(outcome).toMatchObject({ ok: true });
    expect(await rowOf(reply)).toMatchObject({ status: 'released' });
    const licenses = await h.tdb.db.selectFrom('outbox').select(['kind', 'data']).where('kind', '=', 'admin-command-result').orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(licenses.data).toMatchObject({ outcome: 'licenses', licenses: [{ product: 'Server', endsOn: '2027-12-31', daysLeft: 402 }] });
  });
});
