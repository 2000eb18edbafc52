// Loop safety (issue 9 part 4), as it happens on the wire: the customer's mailbox answers every
// mail it gets with an auto-reply that carries none of the headers that would tell us so (no
// Auto-Submitted, no Precedence, no In-Reply-To, no case tag), so each answer reads as a new
// request. Everything goes through the service's real SMTP intake and out to the real smtp-server
// sink; the service's clock is fixed, so the whole loop happens inside one hour and the
// per-address limit on automatic mail is what ends it.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import pino from 'pino';
import { loadConfig } from '../../src/config/config.js';
import { startService, type RunningService } from '../../src/cli/start-command.js';
import { caseView, type MessageItem } from '../../src/cases/case-view.js';
import { sql } from 'kysely';
import { enqueueMail, enqueueMails, outboxSummary } from '../../src/notify/outbox-store.js';
import type { OutgoingMail } from '../../src/notify/mail-kinds.js';
import { startSmtpSink, type SinkMessage, type SmtpSink } from '../support/smtp-sink.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail } from '../support/mail-builder.js';
import { headerOf, smtpUrl } from '../support/service-harness.js';
import { tempDir } from '../support/temp-dirs.js';

const SUPPORT = 'support@casemail.localhost';
const BOB = 'bob@acme.example';
const ERIN = 'erin@vendor.example';

describe(`an auto-responder that ignores Auto-Submitted, through SMTP into the sink, on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let sink: SmtpSink;
  let service: RunningService;
  let limit: number;
  const logLines: { level: number; msg: string; dropped?: string[] }[] = [];
  // A Tuesday morning before the real date: every outbox row is due at once, and the hour never passes.
  const now = new Date('2026-11-24T09:00:00Z');

  // The responder: every mail to Bob is answered at once, like a broken vacation autoresponder.
  let replies = 0;
  const inFlight: Promise<unknown>[] = [];
  let failure: unknown = null;
  const responderSends = (): Promise<string> => {
    const raw = buildMail({
      from: 'Bob Builder <bob@acme.example>', to: SUPPORT, subject: 'Thank you for your message',
      body: 'Thank you for your message. I will read it as soon as possible.\n\nBob\n',
    });
    const client = nodemailer.createTransport({ host: '127.0.0.1', port: service.smtp!.port, secure: false, ignoreTLS: true });
    return client.sendMail({ envelope: { from: BOB, to: [SUPPORT] }, raw }).then((r) => String(r.response)).finally(() => client.close());
  };
  const onMessage = (m: SinkMessage): void => {
    if (!m.rcptTo.includes(BOB)) return;
    replies += 1;
    inFlight.push(responderSends().catch((err: unknown) => (failure = err)));
  };

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    sink = await startSmtpSink({ onMessage });
    const config = loadConfig({
      env: { SMTP_URL: smtpUrl(sink) },
      overrides: {
        dataDir: tempDir('casemail-loop-'), demoDirectory: false, logLevel: 'silent',
        smtpIntake: { enabled: true, host: '127.0.0.1', port: 0 }, imap: { mailboxes: [] }, outbox: { retryBaseSeconds: 0.2 },
        // The per-sender caps on new cases and acknowledgements would also end this loop; raised so the per-address limit is what does.
        limits: { maxNewCasesPerSenderPerHour: 1000, maxAcknowledgementsPerSenderPerHour: 1000 },
      },
    });
    limit = config.settings.limits.maxAutomaticMailPerAddressPerHour;
    const logStream = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as (typeof logLines)[number]);
        done();
      },
    });
    service = await startService({ config, logger: pino({ level: 'warn' }, logStream) }, tdb, { clock: () => now });
  });
  afterAll(async () => {
    await service?.stop();
    await sink?.stop();
    await tdb?.close();
  });

  it('sends Bob exactly the limit of automatic mails, then holds the next back: the loop stops, and operators see why', async () => {
    expect(limit).toBe(10);
    const first = buildMail({ from: 'Bob Builder <bob@acme.example>', subject: 'Export stops with E42' });
    const client = nodemailer.createTransport({ host: '127.0.0.1', port: service.smtp!.port, secure: false, ignoreTLS: true });
    const reply = String((await client.sendMail({ envelope: { from: BOB, to: [SUPPORT] }, raw: first })).response);
    client.close();
    expect(reply).toMatch(/OK: processed/);

    // The loop ends when the acknowledgement of the (limit + 1)th case is held back.
    await expect.poll(async () => (await tdb.db.selectFrom('outbox').select('id')
      .where('status', '=', 'held_back').where('kind', '=', 'acknowledgement').execute()).length, { timeout: 30_000, interval: 50 }).toBe(1);
    // Every reply the responder sent has been taken in, and nothing is left to send.
    for (let seen = 0; seen < inFlight.length;) {
      const upTo = inFlight.length;
      await Promise.all(inFlight.slice(seen, upTo));
      seen = upTo;
    }
    await expect.poll(async () => (await outboxSummary(tdb.db)).pending, { timeout: 20_000, interval: 50 }).toBe(0);
    expect(failure).toBeNull();

    const toBob = sink.messages.filter((m) => m.rcptTo.includes(BOB));
    expect(toBob).toHaveLength(limit);
    expect(replies).toBe(limit);
    // Bob's first request and each of his responder's answers opened a case: 1 + 10.
    const cases = await tdb.db.selectFrom('cases').select(['id', 'number']).orderBy('number').execute();
    expect(cases).toHaveLength(limit + 1);

    // Every mail to Bob was automatic and said so, for the systems that listen (Exchange reads the second).
    for (const m of toBob) {
      expect(headerOf(m.raw, 'Auto-Submitted')).toBe('auto-replied');
      expect(headerOf(m.raw, 'X-Auto-Response-Suppress')).toBe('All');
    }

    // Erin is one of our engineers: her new-case notifications are her work queue, under the engineers' higher limit, so all 11 arrive.
    expect(sink.messages.filter((m) => m.rcptTo.includes(ERIN))).toHaveLength(limit + 1);
    const held = await tdb.db.selectFrom('outbox').select(['kind', 'to_addresses', 'last_error', 'case_id']).where('status', '=', 'held_back').orderBy('id').execute();
    expect(held.map((h) => [h.kind, h.to_addresses])).toEqual([['acknowledgement', [BOB]]]);
    for (const h of held) {
      expect(h.last_error).toMatch(/^held back: .+ got 10 automatic mails in the hour before 2026-11-24T09:00:00.000Z \(limits\.maxAutomaticMailPerAddressPerHour\)$/);
      expect(h.case_id).toBe(cases.at(-1)!.id);
    }
    expect(await outboxSummary(tdb.db)).toMatchObject({ pending: 0, failed: 0, held_back: 1, sent: 2 * limit + 1 });
    const logged = await tdb.db.selectFrom('automatic_mail_log').select(['address']).execute();
    expect(logged.filter((l) => l.address === BOB)).toHaveLength(limit);

    // The last case's timeline shows the held-back acknowledgement with its reason (case show --json).
    const view = await caseView(tdb.db, cases.at(-1)!.number, { supportAddress: SUPPORT });
    const ack = view!.timeline.find((i): i is MessageItem => i.type === 'message' && i.kind === 'acknowledgement')!;
    expect(ack).toMatchObject({ direction: 'outbound', status: 'held_back', delivery: { status: 'held_back', sentAt: null } });
    expect(ack.statusReason).toMatch(/^held back: bob@acme\.example got 10 automatic mails/);

    // One warn line per held-back mail.
    const warned = logLines.filter((l) => l.level === 40 && /held back/.test(l.msg));
    expect(warned.map((l) => l.dropped)).toEqual([[BOB]]);
  });
});

describe(`the per-address limit where outbox rows are written, on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  const now = new Date('2026-11-24T09:00:00Z');
  const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000);
  const ctx = { messageIdDomain: 'casemail.test', now, maxAutomaticPerAddressPerHour: 10 };
  let n = 0;
  const mail = (to: string[], opts: { cc?: string[]; autoSubmitted?: 'auto-replied' | null } = {}): OutgoingMail<'not-entitled'> => ({
    causeKey: `limit-test:${++n}`, kind: 'not-entitled', caseId: null, to, cc: opts.cc ?? [], subject: `Mail ${n}`,
    autoSubmitted: opts.autoSubmitted === undefined ? 'auto-replied' : opts.autoSubmitted,
    data: { reason: 'unknown_sender', senderAddress: to[0]!, supportAddress: SUPPORT },
  });
  const row = (causeKey: string) => tdb.db.selectFrom('outbox').select(['status', 'to_addresses', 'cc_addresses', 'last_error']).where('cause_key', '=', causeKey).executeTakeFirstOrThrow();
  async function history(address: string, ats: Date[]): Promise<void> {
    await tdb.db.insertInto('automatic_mail_log').values(ats.map((at) => ({ address, at, outbox_id: null }))).execute();
  }

  beforeAll(async () => {
    tdb = await createTestDatabase();
  });
  afterAll(async () => {
    await tdb?.close();
  });

  it('counts the rolling hour before now, drops only the addresses at the limit, holds back a mail with nobody left, and never limits a human relay', async () => {
    // Nine in the last hour, and one just outside it that no longer counts.
    await history('ann@acme.example', [...Array.from({ length: 9 }, (_, i) => minutesAgo(59 - i)), minutesAgo(61)]);
    const [tenth, partial, none, human] = [
      mail(['ann@acme.example']), mail(['Ann@Acme.example'], { cc: ['carl@acme.example'] }), mail(['ann@acme.example']),
      mail(['ann@acme.example'], { autoSubmitted: null }),
    ];
    const inserted = await tdb.db.transaction().execute((trx) => enqueueMails(trx, [tenth!, partial!, none!, human!], ctx));
    expect(inserted.size).toBe(4);
    expect(await row(tenth!.causeKey)).toMatchObject({ status: 'pending', to_addresses: ['ann@acme.example'], last_error: null });
    // Ann is at the limit: she is dropped, Carl (only on Cc) becomes the To.
    expect(await row(partial!.causeKey)).toMatchObject({ status: 'pending', to_addresses: ['carl@acme.example'], cc_addresses: [] });
    expect(await row(none!.causeKey)).toMatchObject({ status: 'held_back', to_addresses: ['ann@acme.example'] });
    expect((await row(none!.causeKey)).last_error).toMatch(/^held back: ann@acme\.example got 10 automatic mails in the hour before/);
    expect(await row(human!.causeKey)).toMatchObject({ status: 'pending', to_addresses: ['ann@acme.example'] });
    const counts = await tdb.db.selectFrom('automatic_mail_log').select(['address', (eb) => eb.fn.countAll<string>().as('n')])
      .where('at', '=', now).groupBy('address').orderBy('address').execute();
    expect(counts.map((c) => [c.address, Number(c.n)])).toEqual([['ann@acme.example', 1], ['carl@acme.example', 1]]);

    // A cause that already has a row is not counted again, whatever its status.
    await tdb.db.transaction().execute((trx) => enqueueMails(trx, [tenth!, partial!], ctx));
    expect(Number((await tdb.db.selectFrom('automatic_mail_log').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n)).toBe(12);
    // Two minutes later her two oldest mails have left the window.
    const later = { ...ctx, now: new Date(now.getTime() + 2 * 60_000) };
    await tdb.db.transaction().execute((trx) => enqueueMail(trx, { ...mail(['ann@acme.example']), causeKey: 'limit-test:later' }, later));
    expect((await row('limit-test:later')).status).toBe('pending');
  });

  it('serialises two writers of one address: the second waits for the first to commit and counts its mail', async () => {
    const dora = 'dora@acme.example';
    await history(dora, Array.from({ length: 9 }, (_, i) => minutesAgo(30 - i)));
    const first = mail([dora]);
    const second = mail([dora]);
    let firstQueued!: () => void;
    const queued = new Promise<void>((resolve) => (firstQueued = resolve));
    const a = tdb.db.transaction().execute(async (trx) => {
      await enqueueMails(trx, [first], ctx);
      firstQueued();
      // Commit only once the second writer is seen waiting on the address's advisory lock.
      await expect.poll(async () => Number((await sql<{ n: string }>`select count(*) as n from pg_locks where locktype = 'advisory' and not granted`
        .execute(tdb.db)).rows[0]!.n), { timeout: 10_000, interval: 20 }).toBe(1);
    });
    await queued;
    const b = tdb.db.transaction().execute((trx) => enqueueMails(trx, [second], ctx));
    await Promise.all([a, b]);
    expect((await row(first.causeKey)).status).toBe('pending');
    expect((await row(second.causeKey)).status).toBe('held_back');
  });

  it('does not serialise writers of an engineer\'s address: the second goes on while the first is still open', async () => {
    const eve = 'eve@vendor.example';
    await tdb.db.insertInto('engineers').values({ address: eve, name: 'Eve', team: 'core', role: 'engineer', active: true }).execute();
    const first = mail([eve]);
    const second = mail([eve]);
    let firstQueued!: () => void;
    const queued = new Promise<void>((resolve) => (firstQueued = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const a = tdb.db.transaction().execute(async (trx) => {
      await enqueueMails(trx, [first], ctx);
      firstQueued();
      await released;
    });
    await queued;
    // Committed while the first writer still holds its transaction open: nothing made it wait.
    await tdb.db.transaction().execute((trx) => enqueueMails(trx, [second], ctx));
    release();
    await a;
    expect((await row(first.causeKey)).status).toBe('pending');
    expect((await row(second.causeKey)).status).toBe('pending');
  });
});
