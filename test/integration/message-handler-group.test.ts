// Group commit on a real database: several messages decided and written in one transaction
// (MessageHandler.handleGroup). Each sees what the ones before it wrote (the sender caps), and a
// group that cannot commit keeps nothing and leaves every message to be handled alone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { loadConfig } from '../../src/config/config.js';
import { MessageHandler } from '../../src/cases/message-handler.js';
import type { IntakeSource } from '../../src/ingest/intake-types.js';
import { silentLogger } from '../../src/log/logger.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';
import { lockSender } from '../../src/cases/case-store.js';

let uid = 0;
const imap = (): IntakeSource => ({ kind: 'imap', mailbox: 'support/INBOX', uidValidity: 7, uid: ++uid, envelopeRecipients: [] });
const NOW = new Date('2026-11-30T09:00:00Z'); // a Monday
const ACK_CAP = 2;

describe(`group commit on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let handler: MessageHandler;
  const settings = loadConfig({ env: {}, overrides: { limits: { maxAcknowledgementsPerSenderPerHour: ACK_CAP } } }).settings;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    handler = new MessageHandler({ db: tdb.db, settings, logger: silentLogger, clock: () => NOW });
  });
  afterAll(async () => tdb?.close());

  const storedIds = (messageIds: string[]) => tdb.db.selectFrom('messages').select('message_id_header')
    .where('message_id_header', 'in', messageIds).execute();
  const acknowledgementsTo = async (address: string) => (await tdb.db.selectFrom('outbox').select('to_addresses')
    .where('kind', '=', 'acknowledgement').execute()).filter((r) => r.to_addresses.includes(address)).length;

  it('opens a case per request of the group, and the sender cap counts the requests before it in the same group', async () => {
    const fromBob = [1, 2, 3].map((i) => ({ raw: buildMail({ messageId: `<g1-bob-${i}@acme.example>`, subject: `Problem ${i}` }), source: imap() }));
    const fromCarol = { raw: buildMail({ from: 'Carol <carol@acme.example>', messageId: '<g1-carol@acme.example>', subject: 'Printer' }), source: imap() };
    const results = await handler.handleGroup([...fromBob, fromCarol]);
    expect(results.map((r) => r?.status)).toEqual(['processed', 'processed', 'processed', 'processed']);
    const numbers = results.flatMap((r) => r!.caseNumbers);
    expect(new Set(numbers).size).toBe(4);
    expect(await tdb.db.selectFrom('cases').select('id').where('number', 'in', numbers).execute()).toHaveLength(4);
    // Bob's third request is over the hourly acknowledgement cap: the earlier two of the group counted.
    expect(await acknowledgementsTo('bob@acme.example')).toBe(ACK_CAP);
    expect(await acknowledgementsTo('carol@acme.example')).toBe(1);
  });

  it('keeps nothing of a group with a message already stored; handled alone, that one is a duplicate and the others are processed', async () => {
    const stored = buildMail({ from: 'Carol <carol@acme.example>', messageId: '<g2-stored@acme.example>', subject: 'Stored before' });
    const first = await handler.handleAt(stored, imap(), NOW);
    expect(first.status).toBe('processed');
    const group = [
      { raw: buildMail({ from: 'Carol <carol@acme.example>', messageId: '<g2-a@acme.example>', subject: 'A' }), source: imap() },
      { raw: stored, source: imap() },
      { raw: buildMail({ from: 'Carol <carol@acme.example>', messageId: '<g2-b@acme.example>', subject: 'B' }), source: imap() },
    ];
    const results = await handler.handleGroup(group);
    expect(results).toEqual([null, null, null]);
    expect(await storedIds(['<g2-a@acme.example>', '<g2-b@acme.example>'])).toEqual([]);
    const alone = [];
    for (const m of group) alone.push(await handler.handle(m.raw, m.source));
    expect(alone.map((r) => r.status)).toEqual(['processed', 'duplicate', 'processed']);
    expect(alone[1]!.messageId).toBe(first.messageId);
    expect(await storedIds(['<g2-a@acme.example>', '<g2-b@acme.example>'])).toHaveLength(2);
  });

  it('leaves an empty message to be handled alone and commits the others', async () => {
    const good = { raw: buildMail({ from: 'Carol <carol@acme.example>', messageId: '<g3-good@acme.example>', subject: 'Good' }), source: imap() };
    const empty = { raw: Buffer.alloc(0), source: imap() };
    const results = await handler.handleGroup([good, empty]);
    expect(results[0]?.status).toBe('processed');
    expect(results[1]).toBeNull();
    expect(await storedIds(['<g3-good@acme.example>'])).toHaveLength(1);
  });

  /** Runs `body` while another transaction holds the sender lock of `address` (as a concurrent intake's new request would). */
  async function whileSenderLocked<T>(address: string, body: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const released = new Promise<void>((r) => { release = r; });
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => { locked = r; });
    const holder = tdb.db.transaction().execute(async (trx) => {
      await lockSender(trx, address);
      locked();
      await released;
    });
    await isLocked;
    try {
      return await body();
    } finally {
      release();
      await holder;
    }
  }

  it('commits a reply without its sender\'s lock: another intake holding it does not hold up the group', async () => {
    const request = await handler.handleAt(buildMail({ from: 'Carol <carol@acme.example>', messageId: '<g4-request@acme.example>', subject: 'Scanner' }), imap(), NOW);
    expect(request.status).toBe('processed');
    const reply = { raw: buildMail({ from: 'Carol <carol@acme.example>', messageId: '<g4-reply@acme.example>', subject: 'Re: Scanner', inReplyTo: '<g4-request@acme.example>' }), source: imap() };
    const other = { raw: buildMail({ from: 'Bob <bob@acme.example>', messageId: '<g4-other@acme.example>', subject: 'Other' }), source: imap() };
    const results = await whileSenderLocked('carol@acme.example', () => handler.handleGroup([reply, other]));
    expect(results.map((r) => r?.status)).toEqual(['processed', 'processed']);
    expect(results[0]!.caseNumbers).toEqual(request.caseNumbers);
  });

  it('keeps nothing of a group whose reply turns out a new request while its sender\'s lock is held elsewhere; alone it opens the case', async () => {
    const orphan = { raw: buildMail({ from: 'Carol <carol@acme.example>', messageId: '<g5-orphan@acme.example>', subject: 'Re: Unknown', inReplyTo: '<g5-never-seen@acme.example>' }), source: imap() };
    const results = await whileSenderLocked('carol@acme.example', () => handler.handleGroup([orphan, {
      raw: buildMail({ from: 'Bob <bob@acme.example>', messageId: '<g5-other@acme.example>', subject: 'Other' }), source: imap() }]));
    expect(results).toEqual([null, null]);
    expect(await storedIds(['<g5-orphan@acme.example>', '<g5-other@acme.example>'])).toEqual([]);
    const alone = await handler.handle(orphan.raw, orphan.source);
    expect(alone.status).toBe('processed');
    expect(alone.caseNumbers).toHaveLength(1);
  });
});

// The facts of a group's new requests are read once for the group and its writes go in one
// statement: what a message sees must still be what one-by-one handling would have shown it.
describe(`group commit on ${databaseKind()}: facts read once, writes together`, () => {
  let tdb: TestDatabase;
  let handler: MessageHandler;
  const settings = loadConfig({ env: {}, overrides: { limits: { maxNewCasesPerSenderPerHour: 50, maxAcknowledgementsPerSenderPerHour: 50 } } }).settings;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    await tdb.db.insertInto('engineers').values([
      { address: 'frank@vendor.example', name: 'Frank', team: 'core', role: 'engineer', active: true },
      { address: 'gina@vendor.example', name: 'Gina', team: 'core', role: 'engineer', active: true },
    ]).execute();
    handler = new MessageHandler({ db: tdb.db, settings, logger: silentLogger, clock: () => NOW });
  });
  afterAll(async () => tdb?.close());

  const assigneeOf = async (number: number) => (await tdb.db.selectFrom('cases').innerJoin('engineers', 'engineers.id', 'cases.assignee_engineer_id')
    .select('engineers.address').where('cases.number', '=', number).executeTakeFirstOrThrow()).address;
  const request = (tag: string, from = 'Bob <bob@acme.example>') => ({ raw: buildMail({ from, messageId: `<${tag}@acme.example>`, subject: `Request ${tag}` }), source: imap() });

  it('gives the group\'s new cases to the team in turn, as one by one would, and moves every turn it took', async () => {
    const group = ['t1', 't2', 't3', 't4', 't5'].map((t, i) => request(t, i % 2 ? 'Carol <carol@acme.example>' : 'Bob <bob@acme.example>'));
    const results = await handler.handleGroup(group);
    expect(results.map((r) => r?.status)).toEqual(Array(5).fill('processed'));
    const assignees = [];
    for (const r of results) assignees.push(await assigneeOf(r!.caseNumbers[0]!));
    // Never assigned: by id (Erin, then Frank, then Gina); then round again, though all three were given one at the group's one instant.
    expect(assignees).toEqual(['erin@vendor.example', 'frank@vendor.example', 'gina@vendor.example', 'erin@vendor.example', 'frank@vendor.example']);
    const turns = await tdb.db.selectFrom('engineers').select(['address', 'last_assigned_at']).where('role', '=', 'engineer').execute();
    expect(turns.map((t) => t.last_assigned_at?.toISOString())).toEqual(turns.map(() => NOW.toISOString()));
    // Each case's notification went to its assignee.
    const notified = await tdb.db.selectFrom('outbox').innerJoin('cases', 'cases.id', 'outbox.case_id').select(['cases.number', 'outbox.to_addresses'])
      .where('outbox.kind', '=', 'new-case-notification').where('cases.number', 'in', results.map((r) => r!.caseNumbers[0]!)).orderBy('cases.number').execute();
    expect(notified.map((n) => n.to_addresses)).toEqual(assignees.map((a) => [a]));
  });

  it('threads a reply into the case a request earlier in the same group opened', async () => {
    const first = request('t6', 'Carol <carol@acme.example>');
    const reply = { raw: buildMail({ from: 'Carol <carol@acme.example>', messageId: '<t6-reply@acme.example>', subject: 'Re: Request t6', inReplyTo: '<t6@acme.example>' }), source: imap() };
    const results = await handler.handleGroup([first, request('t7'), reply]);
    expect(results.map((r) => r?.status)).toEqual(['processed', 'processed', 'processed']);
    expect(results[2]!.caseNumbers).toEqual(results[0]!.caseNumbers);
    const onCase = await tdb.db.selectFrom('messages').innerJoin('cases', 'cases.id', 'messages.case_id').select('messages.message_id_header')
      .where('cases.number', '=', results[0]!.caseNumbers[0]!).orderBy('messages.id').execute();
    expect(onCase.map((m) => m.message_id_header)).toEqual(['<t6@acme.example>', '<t6-reply@acme.example>']);
  });

  it('writes two replies to one case in the same group, each with its event; the second sees the case the first reopened', async () => {
    const opened = await handler.handleAt(buildMail({ from: 'Carol <carol@acme.example>', messageId: '<t8@acme.example>', subject: 'Scanner jams' }), imap(), NOW);
    // Waiting for Carol: her first reply opens the case again; the second finds it open.
    await tdb.db.updateTable('cases').set({ state: 'awaiting_customer' }).where('number', '=', opened.caseNumbers[0]!).execute();
    const replies = [1, 2].map((i) => ({
      raw: buildMail({ from: 'Carol <carol@acme.example>', messageId: `<t8-r${i}@acme.example>`, subject: 'Re: Scanner jams', inReplyTo: '<t8@acme.example>', body: `More detail ${i}.\n` }), source: imap(),
    }));
    const results = await handler.handleGroup([...replies, request('t9')]);
    expect(results.map((r) => r?.status)).toEqual(['processed', 'processed', 'processed']);
    expect(results[0]!.caseNumbers).toEqual(opened.caseNumbers);
    expect(results[1]!.caseNumbers).toEqual(opened.caseNumbers);
    const ids = (await tdb.db.selectFrom('messages').select('id').where('message_id_header', 'in', ['<t8-r1@acme.example>', '<t8-r2@acme.example>']).execute()).map((m) => m.id);
    expect(ids).toHaveLength(2);
    const events = await tdb.db.selectFrom('case_events').select(['message_id', 'data']).where('message_id', 'in', ids).orderBy('id').execute();
    expect(new Set(events.map((e) => e.message_id))).toEqual(new Set(ids));
    const states = events.map((e) => e.data as { from?: string; to?: string; state?: string });
    expect(states.filter((d) => d.from !== undefined)).toEqual([{ from: 'awaiting_customer', to: 'open' }]);
    expect(states.filter((d) => d.state !== undefined)).toEqual([{ state: 'open' }]);
  });

  it('stores an attachment two requests of one group both carry once, and both requests', async () => {
    const withAttachment = (tag: string) => Buffer.from([
      'From: Bob <bob@acme.example>', 'To: support@casemail.localhost', `Subject: Log ${tag}`, `Message-ID: <${tag}@acme.example>`,
      'Date: Sat, 28 Nov 2026 12:00:00 +0000', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', '',
      '--b', 'Content-Type: text/plain', '', `See the log (${tag}).`, '--b', 'Content-Type: application/octet-stream', 'Content-Disposition: attachment; filename="same.log"',
      'Content-Transfer-Encoding: base64', '', Buffer.from('the same log bytes\n'.repeat(20)).toString('base64'), '--b--', '',
    ].join('\r\n'));
    const results = await handler.handleGroup([{ raw: withAttachment('t10'), source: imap() }, { raw: withAttachment('t11'), source: imap() }]);
    expect(results.map((r) => r?.status)).toEqual(['processed', 'processed']);
    const links = await tdb.db.selectFrom('message_attachments').innerJoin('messages', 'messages.id', 'message_attachments.message_id')
      .select(['messages.message_id_header', 'message_attachments.attachment_sha256']).where('messages.message_id_header', 'in', ['<t10@acme.example>', '<t11@acme.example>']).execute();
    expect(links).toHaveLength(2);
    expect(new Set(links.map((l) => l.attachment_sha256)).size).toBe(1);
  });

  // Big messages have their bytes written at the start of the transaction, before any lock
  // (storeBytesFirst): stored all the same, once per content, and rolled back with a failed group.
  const bigLog = (tag: string, kb: number) => Buffer.from(Array.from({ length: kb * 16 }, (_, i) => `${tag} line ${i} of the export log\n`).join('').slice(0, kb * 1024));
  const withBigAttachment = (tag: string, log: Buffer, from = 'Bob <bob@acme.example>') => Buffer.from([
    `From: ${from}`, 'To: support@casemail.localhost', `Subject: Big log ${tag}`, `Message-ID: <${tag}@acme.example>`,
    'Date: Sat, 28 Nov 2026 12:00:00 +0000', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', '',
    '--b', 'Content-Type: text/plain', '', `The export log (${tag}).`, '--b', 'Content-Type: text/plain; name="export.log"', 'Content-Disposition: attachment; filename="export.log"',
    'Content-Transfer-Encoding: base64', '', log.toString('base64').replace(/.{76}/g, '$&\r\n'), '--b--', '',
  ].join('\r\n'));
  const storedBytes = async (messageId: string) => {
    const m = await tdb.db.selectFrom('messages').innerJoin('raw_messages', 'raw_messages.sha256', 'messages.raw_sha256')
      .select(['messages.id', 'raw_messages.bytes', sql<string | null>`pg_column_compression(raw_messages.bytes)`.as('compression')])
      .where('messages.message_id_header', '=', messageId).executeTakeFirst();
    if (!m) return null;
    const files = await tdb.db.selectFrom('message_attachments').select(['attachment_sha256', 'size'])
      .where('message_attachments.message_id', '=', m.id).orderBy('position').execute();
    return { raw: Buffer.from(m.bytes), compression: m.compression, files: files.map((f) => ({ sha256: f.attachment_sha256, size: f.size })) };
  };

  const fileKey = (file: Buffer) => ({ sha256: createHash('sha256').update(file).digest('hex'), size: file.length });

  it('stores big messages in a group and alone: raw bytes as sent, and each attachment as a row naming its hash and size (no second copy of its bytes)', async () => {
    const log = bigLog('t12', 300);
    const group = [
      { raw: withBigAttachment('t12', log), source: imap() }, request('t13'),
      { raw: withBigAttachment('t14', log, 'Carol <carol@acme.example>'), source: imap() },
    ];
    const results = await handler.handleGroup(group);
    expect(results.map((r) => r?.status)).toEqual(['processed', 'processed', 'processed']);
    const alone = { raw: withBigAttachment('t15', bigLog('t15', 200)), source: imap() };
    expect((await handler.handle(alone.raw, alone.source)).status).toBe('processed');
    for (const [tag, raw, file] of [['t12', group[0]!.raw, log], ['t14', group[2]!.raw, log], ['t15', alone.raw, bigLog('t15', 200)]] as const) {
      const stored = await storedBytes(`<${tag}@acme.example>`);
      expect(stored?.raw.equals(raw)).toBe(true);
      expect(stored?.files).toEqual([fileKey(file)]);
    }
    // The decoded bytes are not stored again: a relay reads them from the raw message.
    expect(await tdb.db.selectFrom('attachments').select('sha256').execute()).toEqual([]);
    // The big raw text is compressed on the server, with lz4 where the server has it (migration bytes_lz4).
    const lz4 = await sql<{ ok: boolean }>`select 'lz4' = any(enumvals) as ok from pg_settings where name = 'default_toast_compression'`.execute(tdb.db);
    expect((await storedBytes('<t12@acme.example>'))?.compression).toBe(lz4.rows[0]?.ok ? 'lz4' : 'pglz');
  });

  it('keeps none of the bytes it wrote first when the group fails; alone, the big message is stored', async () => {
    const stored = await handler.handleAt(buildMail({ from: 'Carol <carol@acme.example>', messageId: '<t16-stored@acme.example>', subject: 'Stored before' }), imap(), NOW);
    expect(stored.status).toBe('processed');
    const log = bigLog('t17', 150);
    const big = { raw: withBigAttachment('t17', log), source: imap() };
    const results = await handler.handleGroup([big, { raw: buildMail({ from: 'Carol <carol@acme.example>', messageId: '<t16-stored@acme.example>', subject: 'Stored before' }), source: imap() }]);
    expect(results).toEqual([null, null]);
    expect(await storedBytes('<t17@acme.example>')).toBeNull();
    expect(await tdb.db.selectFrom('message_attachments').select('message_id').where('size', '=', log.length).execute()).toEqual([]);
    expect((await handler.handle(big.raw, big.source)).status).toBe('processed');
    expect((await storedBytes('<t17@acme.example>'))?.files).toEqual([fileKey(log)]);
  });
});
