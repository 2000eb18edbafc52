// IMAP intake against a real, throwaway Dovecot (scripts/dovecot-test.mjs). The handler is the
// in-memory RecordingHandler from test/support: the real database handler is covered by the
// end-to-end tests. Every wait is on an observable event (handler call, intake event), bounded.
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { ImapFlow } from 'imapflow';
import { ImapIntake, uidSet, type ImapIntakeEvents, type ImapIntakeOptions } from '../../src/ingest/imap-intake.js';
import { silentLogger } from '../../src/log/logger.js';
import { describeWithDovecot, startDovecot, type DovecotServer } from '../support/dovecot.js';
import { MemoryCursorStore, RecordingHandler, headerOf } from '../support/recording-intake.js';
import type { IntakeResult, IntakeSource } from '../../src/ingest/intake-types.js';

const ACCOUNT = 'support';

/**
 * A RecordingHandler that also takes groups (handleGroup): a group holding the subject
 * "spoils-group" keeps nothing (all null, as a failed transaction), so the intake hands its
 * messages to handle() one by one.
 */
class GroupingHandler extends RecordingHandler {
  readonly groups: string[][] = [];
  /** Subjects handle() got outside any group. */
  readonly alone: string[] = [];
  private inGroup = false;

  async handleGroup(items: readonly { raw: Buffer; source: IntakeSource }[]): Promise<(IntakeResult | null)[]> {
    const subjects = items.map((i) => headerOf(i.raw, 'Subject') ?? '');
    this.groups.push(subjects);
    if (subjects.includes('spoils-group')) return items.map(() => null);
    const out: IntakeResult[] = [];
    this.inGroup = true;
    try {
      for (const i of items) out.push(await super.handle(i.raw, i.source));
    } finally {
      this.inGroup = false;
    }
    return out;
  }

  override async handle(raw: Buffer, source: IntakeSource): Promise<IntakeResult> {
    if (!this.inGroup) this.alone.push(headerOf(raw, 'Subject') ?? '');
    return super.handle(raw, source);
  }
}
let folderCounter = 0;

function message(subject: string, id = `${subject.replace(/\W+/g, '-')}-${Math.random().toString(36).slice(2)}`): string {
  return [
    'From: Customer <customer@example.com>',
    'To: support@casemail.localhost',
    `Subject: ${subject}`,
    `Message-ID: <${id}@example.com>`,
    'Date: Fri, 27 Nov 2026 10:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Body of ${subject}.`,
    '',
  ].join('\r\n');
}

/** Resolves with the first `event` payload for which `predicate` holds. */
function nextEvent<K extends keyof ImapIntakeEvents>(
  intake: ImapIntake,
  event: K,
  predicate: (...args: ImapIntakeEvents[K]) => boolean = () => true,
  timeoutMs = 10_000,
): Promise<ImapIntakeEvents[K]> {
  return new Promise((resolve, reject) => {
    const listener = (...args: ImapIntakeEvents[K]) => {
      if (!predicate(...args)) return;
      cleanup();
      resolve(args);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for intake event "${String(event)}"`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      intake.off(event, listener as never);
    };
    intake.on(event, listener as never);
  });
}

describeWithDovecot('IMAP intake (real Dovecot)', () => {
  let dovecot: DovecotServer;
  let admin: ImapFlow;
  const intakes: ImapIntake[] = [];

  beforeAll(async () => {
    dovecot = await startDovecot();
    admin = new ImapFlow({ host: dovecot.host, port: dovecot.port, secure: false, auth: { user: dovecot.user, pass: dovecot.password }, logger: false });
    await admin.connect();
  });

  afterEach(async () => {
    await Promise.all(intakes.splice(0).map((intake) => intake.stop()));
  });

  afterAll(async () => {
    await admin?.logout().catch(() => undefined);
    await dovecot?.stop();
  });

  /** A fresh folder trio per test, so tests never see each other's mail. */
  async function folders(): Promise<{ folder: string; processedFolder: string; quarantineFolder: string }> {
    folderCounter += 1;
    const folder = `T${folderCounter}`;
    await admin.mailboxCreate(folder);
    return { folder, processedFolder: `${folder}-Processed`, quarantineFolder: `${folder}-Quarantine` };
  }

  function intakeFor(
    f: { folder: string; processedFolder: string; quarantineFolder: string },
    handler: RecordingHandler,
    cursors: MemoryCursorStore,
    extra: Partial<ImapIntakeOptions> = {},
    port = dovecot.port,
  ): ImapIntake {
    const intake = new ImapIntake({
      account: ACCOUNT,
      host: dovecot.host,
      port,
      secure: false,
      user: dovecot.user,
      pass: dovecot.password,
      ...f,
      logger: silentLogger,
      handler,
      cursors,
      maxAttempts: 3,
      // Polls only as a safety net far beyond any test: new mail must arrive through IDLE.
      pollIntervalMs: 600_000,
      backoff: { initialMs: 20, maxMs: 200 },
      ...extra,
    });
    intakes.push(intake);
    return intake;
  }

  async function append(folder: string, raw: string): Promise<number> {
    const result = await admin.append(folder, raw);
    if (!result || !result.uid) throw new Error('APPEND did not report a UID (UIDPLUS)');
    return result.uid;
  }

  async function contents(folder: string): Promise<{ uid: number; seen: boolean; subject: string | null }[]> {
    const lock = await admin.getMailboxLock(folder);
    try {
      if (!admin.mailbox || admin.mailbox.exists === 0) return [];
      const rows = await admin.fetchAll('1:*', { uid: true, flags: true, headers: ['subject'] });
      return rows.map((row) => ({
        uid: row.uid,
        seen: row.flags?.has('\\Seen') ?? false,
        subject: row.headers ? headerOf(row.headers, 'Subject') : null,
      }));
    } finally {
      lock.release();
    }
  }

  async function uidValidityOf(folder: string): Promise<number> {
    const status = await admin.status(folder, { uidValidity: true });
    if (!status) throw new Error(`STATUS ${folder} failed`);
    return Number(status.uidValidity);
  }

  it('catches up on messages appended before start, one FETCH per UID batch, then moves them as \\Seen', async () => {
    const f = await folders();
    for (let i = 1; i <= 12; i += 1) await append(f.folder, message(`catch-up ${i}`));
    const handler = new RecordingHandler();
    const cursors = new MemoryCursorStore();
    const intake = intakeFor(f, handler, cursors, { batchSize: 5 });
    const fetches: string[] = [];
    intake.on('fetch', ({ range }) => fetches.push(range));
    const caughtUp = nextEvent(intake, 'caught-up', ({ lastUid }) => lastUid === 12);
    await intake.start();
    await caughtUp;

    expect(fetches).toEqual(['1:5', '6:10', '11:12']);
    expect(handler.subjects()).toEqual(Array.from({ length: 12 }, (_, i) => `catch-up ${i + 1}`));
    const uidValidity = await uidValidityOf(f.folder);
    expect(handler.handled.map((h) => h.source)).toEqual(Array.from({ length: 12 }, (_, i) => ({
      kind: 'imap', mailbox: `${ACCOUNT}/${f.folder}`, uidValidity, uid: i + 1, envelopeRecipients: [],
    })));
    expect(await contents(f.folder)).toEqual([]);
    const processed = await contents(f.processedFolder);
    expect(processed.map((m) => m.subject)).toEqual(handler.subjects());
    expect(processed.every((m) => m.seen)).toBe(true);
    expect(cursors.cursors.get(`${ACCOUNT}/${f.folder}`)).toEqual({ uidValidity, lastUid: 12 });
  });

  it('notices a message appended while idling (IDLE, no polling) and processes it', async () => {
    const f = await folders();
    const handler = new RecordingHandler();
    const intake = intakeFor(f, handler, new MemoryCursorStore());
    const connected = nextEvent(intake, 'connected');
    const caughtUp = nextEvent(intake, 'caught-up');
    await intake.start();
    const [{ idle }] = await connected;
    expect(idle).toBe(true);
    await caughtUp;
    expect(handler.calls).toHaveLength(0);

    const acknowledged = nextEvent(intake, 'acknowledged');
    await append(f.folder, message('arrived while idling'));
    await handler.waitForHandled(1, 5_000);
    expect(handler.subjects()).toEqual(['arrived while idling']);
    await acknowledged;
    expect((await contents(f.processedFolder)).map((m) => m.subject)).toEqual(['arrived while idling']);
  });

  it('flags, moves and advances the cursor only after handle() resolved', async () => {
    const f = await folders();
    const handler = new RecordingHandler();
    const cursors = new MemoryCursorStore();
    const release = handler.hold();
    await append(f.folder, message('held in the handler'));
    const intake = intakeFor(f, handler, cursors);
    await intake.start();
    await handler.waitForCalls(1);

    // The handler has the message but has not committed: nothing may be acknowledged yet.
    expect(await contents(f.folder)).toEqual([{ uid: 1, seen: false, subject: 'held in the handler' }]);
    expect(await contents(f.processedFolder)).toEqual([]);
    expect(cursors.writes).toEqual([]);

    const acknowledged = nextEvent(intake, 'acknowledged');
    release();
    await acknowledged;
    expect(await contents(f.folder)).toEqual([]);
    expect(await contents(f.processedFolder)).toEqual([expect.objectContaining({ seen: true, subject: 'held in the handler' })]);
    expect(cursors.writes).toEqual([{ mailbox: `${ACCOUNT}/${f.folder}`, uidValidity: await uidValidityOf(f.folder), lastUid: 1 }]);
  });

  it('honours the stored cursor and does not reprocess after a restart', async () => {
    const f = await folders();
    const cursors = new MemoryCursorStore();
    const uidValidity = await uidValidityOf(f.folder);
    // UIDs 1 and 2 were committed before a crash that happened before they were moved.
    for (let i = 1; i <= 3; i += 1) await append(f.folder, message(`restart ${i}`));
    await cursors.set(`${ACCOUNT}/${f.folder}`, { uidValidity, lastUid: 2 });

    const first = new RecordingHandler();
    const intake1 = intakeFor(f, first, cursors);
    const caughtUp1 = nextEvent(intake1, 'caught-up', ({ lastUid }) => lastUid === 3);
    await intake1.start();
    await caughtUp1;
    await intake1.stop();
    expect(first.subjects()).toEqual(['restart 3']);
    expect((await contents(f.folder)).map((m) => m.subject)).toEqual(['restart 1', 'restart 2']);

    await append(f.folder, message('restart 4'));
    const second = new RecordingHandler();
    const intake2 = intakeFor(f, second, cursors);
    const caughtUp2 = nextEvent(intake2, 'caught-up', ({ lastUid }) => lastUid === 4);
    await intake2.start();
    await caughtUp2;
    expect(second.subjects()).toEqual(['restart 4']);
    expect(cursors.cursors.get(`${ACCOUNT}/${f.folder}`)).toEqual({ uidValidity, lastUid: 4 });
  });

  it('rescans from the start when UIDVALIDITY changed', async () => {
    const f = await folders();
    const cursors = new MemoryCursorStore();
    const handler = new RecordingHandler();
    const repeated = message('delivered again after the folder was rebuilt');
    await append(f.folder, message('before rebuild'));
    await append(f.folder, repeated);
    await append(f.folder, message('before rebuild, last'));
    const intake1 = intakeFor(f, handler, cursors);
    const caughtUp1 = nextEvent(intake1, 'caught-up', ({ lastUid }) => lastUid === 3);
    await intake1.start();
    await caughtUp1;
    await intake1.stop();
    const oldValidity = await uidValidityOf(f.folder);

    // Deleting and recreating the folder gives it a new UIDVALIDITY; UIDs restart at 1,
    // below the stored cursor (3), so only a rescan finds these.
    await admin.mailboxDelete(f.folder);
    await admin.mailboxCreate(f.folder);
    const newValidity = await uidValidityOf(f.folder);
    expect(newValidity).not.toBe(oldValidity);
    await append(f.folder, message('after rebuild'));
    await append(f.folder, repeated);

    const intake2 = intakeFor(f, handler, cursors);
    const caughtUp2 = nextEvent(intake2, 'caught-up', ({ uidValidity, lastUid }) => uidValidity === newValidity && lastUid === 2);
    await intake2.start();
    await caughtUp2;
    const after = handler.handled.slice(3);
    expect(after.map((h) => [h.source.uidValidity, h.source.uid, headerOf(h.raw, 'Subject')])).toEqual([
      [newValidity, 1, 'after rebuild'],
      [newValidity, 2, 'delivered again after the folder was rebuilt'],
    ]);
    // The handler recognised the repeat; the intake acknowledged it like any other.
    expect(after.map((h) => h.result.status)).toEqual(['processed', 'duplicate']);
    expect(await contents(f.folder)).toEqual([]);
    expect(cursors.cursors.get(`${ACCOUNT}/${f.folder}`)).toEqual({ uidValidity: newValidity, lastUid: 2 });
  });

  it('quarantines a message that keeps failing and processes the messages behind it', async () => {
    const f = await folders();
    const handler = new RecordingHandler();
    handler.failWhen({ kind: 'permanent', match: (raw) => headerOf(raw, 'Subject') === 'poison' });
    for (const subject of ['first', 'poison', 'third', 'fourth']) await append(f.folder, message(subject));
    const cursors = new MemoryCursorStore();
    const intake = intakeFor(f, handler, cursors, { maxAttempts: 3 });
    const caughtUp = nextEvent(intake, 'caught-up', ({ lastUid }) => lastUid === 4);
    await intake.start();
    await caughtUp;

    expect(handler.calls.filter((c) => headerOf(c.raw, 'Subject') === 'poison')).toHaveLength(3);
    expect(handler.quarantined).toHaveLength(1);
    expect(headerOf(handler.quarantined[0]!.raw, 'Subject')).toBe('poison');
    expect(handler.quarantined[0]!.source.uid).toBe(2);
    expect(String(handler.quarantined[0]!.error)).toContain('simulated');
    expect(handler.subjects()).toEqual(['first', 'third', 'fourth']);
    expect(await contents(f.folder)).toEqual([]);
    expect(await contents(f.quarantineFolder)).toEqual([expect.objectContaining({ subject: 'poison', seen: true })]);
    expect((await contents(f.processedFolder)).map((m) => m.subject)).toEqual(['first', 'third', 'fourth']);
  });

  it('stops the batch on a temporary failure, keeps what committed, and retries after a backoff', async () => {
    const f = await folders();
    const handler = new RecordingHandler();
    handler.failWhen({ kind: 'temporary', times: 2, match: (raw) => headerOf(raw, 'Subject') === 'second' });
    for (const subject of ['first', 'second', 'third']) await append(f.folder, message(subject));
    const cursors = new MemoryCursorStore();
    // One at a time, so "third" is not yet handled when "second" fails (see the concurrent case below).
    const intake = intakeFor(f, handler, cursors, { concurrency: 1 });
    const failures: number[] = [];
    intake.on('temporary-failure', ({ retryInMs }) => failures.push(retryInMs));
    const firstAck = nextEvent(intake, 'acknowledged');
    const caughtUp = nextEvent(intake, 'caught-up', ({ lastUid }) => lastUid === 3);
    await intake.start();

    // The batch stopped at "second": only "first" was acknowledged, and the cursor says so.
    const [ack] = await firstAck;
    expect(ack.processed).toEqual([1]);
    expect(ack.lastUid).toBe(1);
    expect(handler.calls.map((c) => headerOf(c.raw, 'Subject'))).toEqual(['first', 'second']);

    await caughtUp;
    expect(failures).toEqual([20, 40]);
    expect(handler.subjects()).toEqual(['first', 'second', 'third']);
    expect(handler.quarantined).toEqual([]);
    expect((await contents(f.processedFolder)).map((m) => m.subject)).toEqual(['first', 'second', 'third']);
  });

  it('handles a batch concurrently, acknowledges what committed, and moves the cursor only over the unbroken prefix', async () => {
    const f = await folders();
    const handler = new RecordingHandler();
    handler.failWhen({ kind: 'temporary', times: 1, match: (raw) => headerOf(raw, 'Subject') === 'b' });
    for (const subject of ['a', 'b', 'c', 'd']) await append(f.folder, message(subject));
    const cursors = new MemoryCursorStore();
    const intake = intakeFor(f, handler, cursors, { concurrency: 4 });
    const firstAck = nextEvent(intake, 'acknowledged');
    // After the retry only b is left in the folder (c and d were filed): the cursor passes it.
    const caughtUp = nextEvent(intake, 'caught-up', ({ lastUid }) => lastUid >= 2);
    await intake.start();
    const [ack] = await firstAck;
    // a, c and d committed alongside the failing b: all three are filed; the cursor stays at a.
    expect(ack.processed).toEqual([1, 3, 4]);
    expect(ack.lastUid).toBe(1);
    await caughtUp;
    expect([...handler.subjects()].sort()).toEqual(['a', 'b', 'c', 'd']);
    expect((await contents(f.processedFolder)).map((m) => m.subject).sort()).toEqual(['a', 'b', 'c', 'd']);
    await intake.stop();
  });

  it('fetches the next batch while one commits; after a temporary failure it files what that batch committed, keeps the cursor, and takes no further batch', async () => {
    const f = await folders();
    const handler = new RecordingHandler();
    handler.failWhen({ kind: 'temporary', times: 1, match: (raw) => headerOf(raw, 'Subject') === 'b' });
    for (const subject of ['a', 'b', 'c', 'd', 'e', 'f']) await append(f.folder, message(subject));
    const cursors = new MemoryCursorStore();
    const intake = intakeFor(f, handler, cursors, { batchSize: 2, concurrency: 4 });
    const acks: { processed: number[]; lastUid: number }[] = [];
    intake.on('acknowledged', (e) => acks.push({ processed: e.processed, lastUid: e.lastUid }));
    const fetched: string[] = [];
    intake.on('fetch', ({ range }) => fetched.push(range));
    const caughtUp = nextEvent(intake, 'caught-up', ({ lastUid }) => lastUid === 6);
    await intake.start();
    await caughtUp;
    // [1,2] failed at b while [3,4] was already fetched: 3 and 4 are filed but the cursor stays at 1,
    // and [5,6] waits for the retry, which starts again at b (3 and 4 are gone from the folder).
    expect(acks.slice(0, 2)).toEqual([{ processed: [1], lastUid: 1 }, { processed: [3, 4], lastUid: 1 }]);
    expect(fetched.slice(0, 3)).toEqual(['1:2', '3:4', '2,5']);
    expect(acks[acks.length - 1]!.lastUid).toBe(6);
    expect([...handler.subjects()].sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect((await contents(f.processedFolder)).map((m) => m.subject).sort()).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(await contents(f.folder)).toEqual([]);
  });

  it('commits messages in groups where the handler can, and handles the messages of a group that failed one by one', async () => {
    const f = await folders();
    const handler = new GroupingHandler();
    const subjects = ['g1', 'g2', 'g3', 'g4', 'spoils-group', 'g6', 'g7'];
    for (const subject of subjects) await append(f.folder, message(subject));
    const cursors = new MemoryCursorStore();
    const intake = intakeFor(f, handler, cursors, { groupSize: 3, concurrency: 2 });
    const caughtUp = nextEvent(intake, 'caught-up', ({ lastUid }) => lastUid === subjects.length);
    await intake.start();
    await caughtUp;
    // UID order in groups of up to 3; the group holding "spoils-group" kept nothing, and the last
    // message, a group of one, goes to handle() directly.
    expect(handler.groups).toEqual([['g1', 'g2', 'g3'], ['g4', 'spoils-group', 'g6']]);
    expect(handler.alone.sort()).toEqual(['g4', 'g6', 'g7', 'spoils-group']);
    expect([...handler.subjects()].sort()).toEqual([...subjects].sort());
    expect((await contents(f.processedFolder)).map((m) => m.subject).sort()).toEqual([...subjects].sort());
    expect(cursors.cursors.get(`${ACCOUNT}/${f.folder}`)?.lastUid).toBe(subjects.length);
    await intake.stop();
  });

  it('falls back to polling on a server without IDLE', async () => {
    const noIdle = await startDovecot({ noIdle: true });
    try {
      const handler = new RecordingHandler();
      const intake = new ImapIntake({
        account: ACCOUNT, host: noIdle.host, port: noIdle.port, secure: false, user: noIdle.user, pass: noIdle.password,
        folder: 'INBOX', processedFolder: 'Processed', quarantineFolder: 'Quarantine',
        logger: silentLogger, handler, cursors: new MemoryCursorStore(), maxAttempts: 3, pollIntervalMs: 100,
      });
      intakes.push(intake);
      const connected = nextEvent(intake, 'connected');
      const caughtUp = nextEvent(intake, 'caught-up');
      await intake.start();
      expect((await connected)[0].idle).toBe(false);
      await caughtUp;
      const client = new ImapFlow({ host: noIdle.host, port: noIdle.port, secure: false, auth: { user: noIdle.user, pass: noIdle.password }, logger: false });
      await client.connect();
      await client.append('INBOX', message('found by polling'));
      await client.logout();
      await handler.waitForHandled(1);
      expect(handler.subjects()).toEqual(['found by polling']);
      await intake.stop();
    } finally {
      await noIdle.stop();
    }
  });

  it('reconnects with backoff after the connection drops and then picks up new mail', async () => {
    // A loopback TCP relay in front of Dovecot lets the test cut the connection.
    const sockets = new Set<Socket>();
    const relay: Server = createServer((inbound) => {
      const outbound = connect(dovecot.port, dovecot.host);
      sockets.add(inbound).add(outbound);
      inbound.pipe(outbound).pipe(inbound);
      const drop = () => {
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on('error', drop).on('close', drop);
      outbound.on('error', drop).on('close', drop);
    });
    relay.listen(0, '127.0.0.1');
    await once(relay, 'listening');
    try {
      const f = await folders();
      const handler = new RecordingHandler();
      const intake = intakeFor(f, handler, new MemoryCursorStore(), {}, (relay.address() as AddressInfo).port);
      const caughtUp = nextEvent(intake, 'caught-up');
      await intake.start();
      await caughtUp;

      const disconnected = nextEvent(intake, 'disconnected');
      const reconnected = nextEvent(intake, 'connected');
      for (const socket of sockets) socket.destroy();
      await disconnected;
      await reconnected;
      await append(f.folder, message('after reconnect'));
      await handler.waitForHandled(1);
      expect(handler.subjects()).toEqual(['after reconnect']);
    } finally {
      await Promise.all(intakes.splice(0).map((intake) => intake.stop()));
      relay.close();
    }
  });

  it('stop() logs out cleanly and takes no further mail', async () => {
    const f = await folders();
    const handler = new RecordingHandler();
    const intake = intakeFor(f, handler, new MemoryCursorStore());
    const caughtUp = nextEvent(intake, 'caught-up');
    await intake.start();
    await caughtUp;
    let disconnectedEvents = 0;
    intake.on('disconnected', () => { disconnectedEvents += 1; });
    await intake.stop();
    await append(f.folder, message('after stop'));
    // A fresh intake sees the message still waiting: the stopped one did not touch it.
    const other = new RecordingHandler();
    const intake2 = intakeFor(f, other, new MemoryCursorStore());
    await intake2.start();
    await other.waitForHandled(1);
    expect(handler.calls).toHaveLength(0);
    expect(disconnectedEvents).toBe(0);
  });
});

it('uidSet packs sorted UIDs into IMAP ranges', () => {
  expect(uidSet([1, 2, 3, 7, 9, 10])).toBe('1:3,7,9:10');
  expect(uidSet([5])).toBe('5');
  expect(uidSet([])).toBe('');
});
