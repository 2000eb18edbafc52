// The message handler on a real database (the embedded PostgreSQL server, or DATABASE_URL when set):
// each message ends in a case, held with a reason, ignored, or quarantined — and the outbox
// rows its transaction wrote.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { MessageHandler } from '../../src/cases/message-handler.js';
import { TemporaryIntakeError, type IntakeSource } from '../../src/ingest/intake-types.js';
import { openDatabase } from '../../src/db/database.js';
import { silentLogger } from '../../src/log/logger.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';

const smtp: IntakeSource = { kind: 'smtp', mailbox: null, uidValidity: null, uid: null, envelopeRecipients: ['support@casemail.localhost'] };
const imap = (uid: number): IntakeSource => ({ kind: 'imap', mailbox: 'support/INBOX', uidValidity: 7, uid, envelopeRecipients: [] });
const NOW = new Date('2026-11-30T09:00:00Z'); // a Monday

describe(`message handler on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let handler: MessageHandler;
  const settings = loadConfig({ env: {}, overrides: { limits: { maxMessageBytes: 200_000 } } }).settings;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    handler = new MessageHandler({ db: tdb.db, settings, logger: silentLogger, clock: () => NOW });
  });
  afterAll(async () => tdb?.close());

  const outboxFor = (caseNumber: number) => tdb.db.selectFrom('outbox').innerJoin('cases', 'cases.id', 'outbox.case_id')
    .select(['outbox.kind', 'outbox.to_addresses', 'outbox.subject', 'outbox.in_reply_to', 'outbox.message_id_header', 'outbox.auto_submitted', 'outbox.data'])
    .where('cases.number', '=', caseNumber).orderBy('outbox.id').execute();

  it('opens a case for an entitled contact, assigns it round-robin and queues its acknowledgement and the assignee\'s notification', async () => {
    const raw = buildMail({ messageId: '<first@acme.example>', subject: 'Export fails', body: 'The export stops with E42.\n' });
    const r = await handler.handleAt(raw, smtp, NOW);
    expect(r.status).toBe('processed');
    expect(r.caseNumbers).toHaveLength(1);
    const [num] = r.caseNumbers as [number];
    const c = await tdb.db.selectFrom('cases').selectAll().where('number', '=', num).executeTakeFirstOrThrow();
    expect(c.state).toBe('new');
    expect(c.severity).toBe(3);
    // Severity 3: 24 business hours from Monday 09:00 UTC on a whole-day Mon-Fri calendar.
    expect(c.first_response_due_at.toISOString()).toBe('2026-12-01T09:00:00.000Z');
    const out = await outboxFor(num);
    const ack = out.find((o) => o.kind === 'acknowledgement');
    expect(ack?.to_addresses).toEqual(['bob@acme.example']);
    expect(ack?.subject).toBe(`[Case #${num}] Export fails`);
    expect(ack?.in_reply_to).toBe('<first@acme.example>');
    expect(ack?.auto_submitted).toBe('auto-replied');
    // Round-robin over the team's engineers (role engineer): Erin; Sam is a supervisor.
    expect(out.find((o) => o.kind === 'new-case-notification')?.to_addresses).toEqual(['erin@vendor.example']);
    const erin = await tdb.db.selectFrom('engineers').select('id').where('address', '=', 'erin@vendor.example').executeTakeFirstOrThrow();
    expect(c.assignee_engineer_id).toBe(erin.id);
    const events = await tdb.db.selectFrom('case_events').select('kind').where('case_id', '=', c.id).execute();
    expect(events.map((e) => e.kind)).toContain('case_opened');
  });

  it('opens one case per issue for a request listing two issues, linked as siblings, each acknowledged naming the other', async () => {
    const body = [
      'Hello support,', '', 'we have two issues since the upgrade to 4.2 last week:', '',
      '1. The nightly export job fails with error E42 after about ten minutes and the report stays empty.', '',
      '2. The login page is very slow; every user waits about thirty seconds before the form appears.', '',
      'Thanks, Bob',
    ].join('\n');
    const r = await handler.handleAt(buildMail({ subject: 'Two problems after upgrade', body }), smtp, NOW);
    expect(r.status).toBe('processed');
    expect(r.caseNumbers).toHaveLength(2);
    const [a, b] = r.caseNumbers as [number, number];
    const cases = await tdb.db.selectFrom('cases').select(['id', 'number', 'subject', 'split_group']).where('number', 'in', [a, b]).orderBy('number').execute();
    expect(cases[0]!.subject).toMatch(/export/i);
    expect(cases[1]!.subject).toMatch(/login/i);
    expect(cases[0]!.split_group).toBe(cases[1]!.split_group);
    const links = await tdb.db.selectFrom('case_links').select(['case_id', 'linked_case_id', 'kind']).where('case_id', 'in', cases.map((c) => c.id)).execute();
    expect(links).toHaveLength(2);
    expect(links.every((l) => l.kind === 'split_sibling')).toBe(true);
    for (const [mine, other] of [[a, b], [b, a]] as const) {
      const ack = (await outboxFor(mine)).find((o) => o.kind === 'acknowledgement')!;
      expect((ack.data as { siblings: { number: number }[] }).siblings.map((x) => x.number)).toEqual([other]);
    }
    const opened = await tdb.db.selectFrom('case_events').select(['case_id', 'message_id']).where('kind', '=', 'case_opened').where('case_id', 'in', cases.map((c) => c.id)).execute();
    expect(opened).toHaveLength(2);
    expect(new Set(opened.map((e) => e.message_id))).toEqual(new Set([Number(r.messageId)]));
  });

  it('recognises the same message delivered twice (IMAP and SMTP copies differ in trace headers): one case', async () => {
    const body = buildMail({ messageId: '<twice@acme.example>', subject: 'Twice delivered' });
    const viaImap = Buffer.concat([Buffer.from('Delivered-To: support@casemail.localhost\r\nReturn-Path: <bob@acme.example>\r\n'), body]);
    const viaSmtp = Buffer.concat([Buffer.from('Received: from mx.acme.example by us; Sat, 28 Nov 2026 12:00:01 +0000\r\n'), body]);
    const a = await handler.handleAt(viaImap, imap(1), NOW);
    const b = await handler.handleAt(viaSmtp, smtp, NOW);
    const c = await handler.handleAt(viaImap, imap(1), NOW);
    expect(a.status).toBe('processed');
    expect(b.status).toBe('duplicate');
    expect(c.status).toBe('duplicate');
    expect(b.caseNumbers).toEqual(a.caseNumbers);
    const acks = await tdb.db.selectFrom('outbox').select('id').where('cause_key', 'like', `ack:%:${a.caseNumbers[0]}`).execute();
    expect(acks).toHaveLength(1);
  });

  it('threads a reply to our acknowledgement into the case by In-Reply-To, even without the tag', async () => {
    const r = await handler.handleAt(buildMail({ subject: 'Login slow' }), smtp, NOW);
    const [num] = r.caseNumbers as [number];
    const ack = (await outboxFor(num)).find((o) => o.kind === 'acknowledgement')!;
    const reply = await handler.handleAt(buildMail({ subject: 'Re: your case', inReplyTo: ack.message_id_header, body: 'More details: it is slow at 9am.\n' }), smtp, NOW);
    expect(reply.status).toBe('processed');
    expect(reply.caseNumbers).toEqual([num]);
  });

  it('holds a message from a stranger who copies a case number: the stranger is not answered, the assignee is told', async () => {
    const r = await handler.handleAt(buildMail({ subject: 'Printer jam' }), smtp, NOW);
    const [num] = r.caseNumbers as [number];
    const before = await tdb.db.selectFrom('outbox').select('id').execute();
    const held = await handler.handleAt(buildMail({ from: 'mallory@evil.example', subject: `Re: [Case #${num}] Printer jam` }), smtp, NOW);
    expect(held).toMatchObject({ status: 'held', reason: 'not_allowed_on_case', caseNumbers: [num] });
    const after = await tdb.db.selectFrom('outbox').select(['id', 'kind', 'case_id', 'to_addresses', 'data']).execute();
    // Spec 3.5: held, not answered, the assignee told. A non-existent number gets the same silence
    // (issue 11: case numbers must not be probeable).
    const added = after.filter((o) => !before.some((b) => b.id === o.id));
    expect(added).toEqual([expect.objectContaining({ kind: 'held-message-notice', to_addresses: ['erin@vendor.example'], data: expect.objectContaining({ reason: 'not_allowed_on_case' }) })]);
  });

  it('lets a colleague from the same organisation follow up and adds them to the participants', async () => {
    const r = await handler.handleAt(buildMail({ subject: 'Backup fails' }), smtp, NOW);
    const [num] = r.caseNumbers as [number];
    const f = await handler.handleAt(buildMail({ from: 'carol@acme.example', subject: `Re: [Case #${num}] Backup fails` }), smtp, NOW);
    expect(f).toMatchObject({ status: 'processed', caseNumbers: [num] });
    const parts = await tdb.db.selectFrom('case_participants').innerJoin('cases', 'cases.id', 'case_participants.case_id')
      .select('case_participants.address').where('cases.number', '=', num).execute();
    expect(parts.map((p) => p.address).sort()).toEqual(['bob@acme.example', 'carol@acme.example']);
  });

  it('holds mail from an unknown sender and from a contact without a current contract, with one notice per address per day', async () => {
    const u1 = await handler.handleAt(buildMail({ from: 'stranger@nowhere.example', subject: 'Help' }), smtp, NOW);
    const u2 = await handler.handleAt(buildMail({ from: 'stranger@nowhere.example', subject: 'Help again' }), smtp, NOW);
    const g = await handler.handleAt(buildMail({ from: 'hank@globex.example', subject: 'Our server' }), smtp, NOW);
    expect(u1).toMatchObject({ status: 'held', reason: 'unknown_sender' });
    expect(u2).toMatchObject({ status: 'held', reason: 'unknown_sender' });
    expect(g).toMatchObject({ status: 'held', reason: 'no_contract' });
    const notices = await tdb.db.selectFrom('outbox').select(['to_addresses', 'data']).where('kind', '=', 'not-entitled').execute();
    expect(notices.filter((n) => n.to_addresses[0] === 'stranger@nowhere.example')).toHaveLength(1);
    expect(notices.find((n) => n.to_addresses[0] === 'hank@globex.example')?.data).toMatchObject({ reason: 'no_contract' });
    const nextDay = await handler.handleAt(buildMail({ from: 'stranger@nowhere.example', subject: 'Help, day two' }), smtp, new Date('2026-12-01T09:00:00Z'));
    expect(nextDay.status).toBe('held');
    const again = await tdb.db.selectFrom('outbox').select('id').where('cause_key', 'like', 'not-entitled:stranger@nowhere.example:%').execute();
    expect(again).toHaveLength(2);
  });

  it('holds a message with no usable sender (From: <>, or no From at all) with a clear reason, answering no one', async () => {
    const noAddress = Buffer.from('From: <>\r\nTo: support@casemail.localhost\r\nSubject: Nobody sent this\r\nMessage-ID: <no-sender-1@example.org>\r\n\r\nThe printer is broken.\r\n');
    const noFrom = Buffer.from('To: support@casemail.localhost\r\nSubject: No From field\r\nMessage-ID: <no-sender-2@example.org>\r\n\r\nThe printer is broken.\r\n');
    for (const raw of [noAddress, noFrom]) {
      const r = await handler.handleAt(raw, smtp, NOW);
      expect(r).toMatchObject({ status: 'held', reason: 'unknown_sender' });
      const row = await tdb.db.selectFrom('messages').select(['from_address', 'status']).where('id', '=', Number(r.messageId)).executeTakeFirstOrThrow();
      expect(row).toEqual({ from_address: null, status: 'held' });
    }
    const answered = await tdb.db.selectFrom('outbox').select('id').where('in_reply_to', 'in', ['<no-sender-1@example.org>', '<no-sender-2@example.org>']).execute();
    expect(answered).toHaveLength(0);
  });

  it('never answers automatic mail and does not open a case for it', async () => {
    const r = await handler.handleAt(buildMail({ from: 'stranger2@nowhere.example', subject: 'Out of office', headers: { 'Auto-Submitted': 'auto-replied' } }), smtp, NOW);
    expect(r.status).toBe('ignored');
    const notices = await tdb.db.selectFrom('outbox').select('id').where('cause_key', 'like', 'not-entitled:stranger2@%').execute();
    expect(notices).toHaveLength(0);
  });

  it('quarantines an oversize message with its headers and tells the sender once', async () => {
    const big = buildMail({ subject: 'Huge log', body: 'x'.repeat(300_000) });
    const r = await handler.handleAt(big, smtp, NOW);
    expect(r.status).toBe('quarantined');
    expect(r.reason).toMatch(/oversize/);
    const row = await tdb.db.selectFrom('messages').innerJoin('raw_messages', 'raw_messages.sha256', 'messages.raw_sha256')
      .select(['messages.status', 'raw_messages.size', 'messages.subject']).where('messages.id', '=', Number(r.messageId)).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'quarantined', subject: 'Huge log' });
    expect(row.size).toBeLessThan(2000);
    expect(await tdb.db.selectFrom('outbox').select('id').where('kind', '=', 'oversize-notice').execute()).toHaveLength(1);
  });

  it('stores a message with no Message-ID and garbage MIME without losing it', async () => {
    const raw = Buffer.from('From: bob@acme.example\r\nTo: support@casemail.localhost\r\nSubject: broken\r\nContent-Type: multipart/mixed; boundary="zz"\r\n\r\n--zz\r\nContent-Type: text/plain; charset=x-unknown-charset\r\nContent-Transfer-Encoding: base64\r\n\r\n%%%not base64%%%\r\n');
    const r = await handler.handleAt(raw, smtp, NOW);
    expect(['processed', 'quarantined']).toContain(r.status);
    const stored = await tdb.db.selectFrom('messages').select('raw_sha256').where('id', '=', Number(r.messageId)).executeTakeFirstOrThrow();
    expect(stored.raw_sha256).toBeTruthy();
  });

  it('keeps one quarantined copy of a message that keeps failing, however often it arrives', async () => {
    const raw = buildMail({ messageId: '<poison@acme.example>', subject: 'Poison' });
    const first = await handler.quarantine(raw, smtp, new Error('simulated bug'));
    const second = await handler.quarantine(raw, smtp, new Error('simulated bug'));
    expect(first.status).toBe('quarantined');
    expect(second).toMatchObject({ status: 'quarantined', messageId: first.messageId, reason: 'already quarantined' });
    const row = await tdb.db.selectFrom('messages').select(['status', 'error', 'raw_sha256']).where('id', '=', Number(first.messageId)).executeTakeFirstOrThrow();
    expect(row.status).toBe('quarantined');
    expect(row.error).toContain('simulated bug');
    expect(row.raw_sha256).toBeTruthy();
  });

  it('reopens a closed case on a reply within the window and opens a linked case after it', async () => {
    const r = await handler.handleAt(buildMail({ subject: 'Reopen me' }), smtp, NOW);
    const [num] = r.caseNumbers as [number];
    await tdb.db.updateTable('cases').set({ state: 'closed', closed_at: NOW, close_reason: 'engineer_closed' }).where('number', '=', num).execute();
    const within = await handler.handleAt(buildMail({ subject: `Re: [Case #${num}] Reopen me`, body: 'It is back.\n' }), smtp, new Date('2026-12-03T09:00:00Z'));
    expect(within.caseNumbers).toEqual([num]);
    expect((await tdb.db.selectFrom('cases').select('state').where('number', '=', num).executeTakeFirstOrThrow()).state).toBe('open');
    await tdb.db.updateTable('cases').set({ state: 'closed', closed_at: NOW, close_reason: 'engineer_closed' }).where('number', '=', num).execute();
    const after = await handler.handleAt(buildMail({ subject: `Re: [Case #${num}] Reopen me`, body: 'Back again, weeks later.\n' }), smtp, new Date('2026-12-28T09:00:00Z'));
    expect(after.status).toBe('processed');
    expect(after.caseNumbers[0]).not.toBe(num);
    const link = await tdb.db.selectFrom('case_links').innerJoin('cases as c', 'c.id', 'case_links.case_id').innerJoin('cases as old', 'old.id', 'case_links.linked_case_id')
      .select(['case_links.kind', 'old.number as old']).where('c.number', '=', after.caseNumbers[0]!).execute();
    expect(link).toEqual([{ kind: 'reopened_from', old: num }]);
  });

  it('reports an unreachable database as a temporary failure, so intakes answer 451 / exit 75 and retry', async () => {
    const down = await openDatabase({ databaseUrl: 'postgres://postgres@127.0.0.1:1/nowhere', poolSize: 1 });
    try {
      const h = new MessageHandler({ db: down.db, settings, logger: silentLogger, clock: () => NOW });
      await expect(h.handle(buildMail({ subject: 'While the database is down' }), smtp)).rejects.toBeInstanceOf(TemporaryIntakeError);
    } finally {
      await down.close();
    }
  });

  it('closes a case whose customer answers with a close phrase', async () => {
    const r = await handler.handleAt(buildMail({ subject: 'Close test' }), smtp, NOW);
    const [num] = r.caseNumbers as [number];
    await tdb.db.updateTable('cases').set({ state: 'resolution_proposed' }).where('number', '=', num).execute();
    await handler.handleAt(buildMail({ subject: `Re: [Case #${num}] Close test`, body: 'Yes, resolved!\n\nOn Mon, Erin wrote:\n> fixed\n' }), smtp, NOW);
    const c = await tdb.db.selectFrom('cases').select(['state', 'close_reason']).where('number', '=', num).executeTakeFirstOrThrow();
    expect(c).toEqual({ state: 'closed', close_reason: 'customer_confirmed' });
  });
});
