// Group commit in front of the real MessageHandler on a real database (GroupCommitHandler): idle
// messages go alone, concurrent ones are committed together while a commit is in flight, what a
// group cannot take is handled alone, and every outcome reaches only its own caller. Calls are
// observed through a thin counting wrapper around the real handler; the one fault injected (a
// temporary failure of a single message) is said where it is made: a real database cannot fail
// for one message only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { loadConfig } from '../../src/config/config.js';
import { MessageHandler } from '../../src/cases/message-handler.js';
import { GroupCommitHandler, canGroup, type GroupingHandler } from '../../src/ingest/group-commit.js';
import { TemporaryIntakeError, type IntakeArrival, type IntakeResult, type IntakeSource } from '../../src/ingest/intake-types.js';
import { isEmptyMessageError, isTemporaryIntakeError } from '../../src/ingest/intake-errors.js';
import { SmtpIntake } from '../../src/ingest/smtp-intake.js';
import { silentLogger } from '../../src/log/logger.js';
import { parseMessage } from '../../src/ingest/parse-message.js';
import { understandParsed, understandingOptions } from '../../src/threading/understanding.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { loadTestDirectory } from '../support/directory-fixture.js';
import { buildMail, buildRequest } from '../support/mail-builder.js';

const smtp = (): IntakeSource => ({ kind: 'smtp', mailbox: null, uidValidity: null, uid: null, envelopeRecipients: ['support@casemail.localhost'] });
const NOW = new Date('2026-11-30T09:00:00Z'); // a Monday

/** The real handler, counting how it is called; `failOnce` makes handle fail for the raw messages it holds. */
class Counting implements GroupingHandler {
  alone = 0;
  groups: number[] = [];
  readonly failWith = new Map<string, Error>();
  constructor(private readonly inner: MessageHandler) {}
  handle(raw: Buffer, source: IntakeSource, _arrival?: IntakeArrival): Promise<IntakeResult> {
    this.alone += 1;
    // Injected: a temporary failure for this one message (see the header).
    const injected = this.failWith.get(raw.toString('latin1'));
    if (injected) return Promise.reject(injected);
    return this.inner.handle(raw, source);
  }
  handleGroup(items: readonly { raw: Buffer; source: IntakeSource; arrival?: IntakeArrival }[]): Promise<(IntakeResult | null)[]> {
    this.groups.push(items.length);
    return this.inner.handleGroup(items);
  }
  quarantine(raw: Buffer, source: IntakeSource, error: unknown): Promise<IntakeResult> {
    return this.inner.quarantine(raw, source, error);
  }
  prepare(raw: Buffer): void {
    this.inner.prepare(raw);
  }
  reset(): void {
    this.alone = 0;
    this.groups = [];
    this.failWith.clear();
  }
}

describe(`group commit of single deliveries on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  let counting: Counting;
  const settings = loadConfig({ env: {}, overrides: { limits: { maxAcknowledgementsPerSenderPerHour: 1000 } } }).settings;

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await loadTestDirectory(tdb.db);
    counting = new Counting(new MessageHandler({ db: tdb.db, settings, logger: silentLogger, clock: () => NOW }));
  });
  afterAll(async () => tdb?.close());

  const stored = async (messageIds: string[]) => (await tdb.db.selectFrom('messages').select('message_id_header')
    .where('message_id_header', 'in', messageIds).execute()).length;
  const settle = <T>(promises: Promise<T>[]) => Promise.allSettled(promises);

  it('sends a message that arrives while nothing is in flight alone, at once', async () => {
    counting.reset();
    const coalescer = new GroupCommitHandler(counting);
    const result = await coalescer.handle(buildMail({ messageId: '<idle-1@acme.example>' }), smtp());
    expect(result.status).toBe('processed');
    expect(counting.alone).toBe(1);
    expect(counting.groups).toEqual([]);
    expect(coalescer.waiting).toBe(0);
  });

  it('commits what arrives during a commit as one group, each caller getting its own case', async () => {
    counting.reset();
    const coalescer = new GroupCommitHandler(counting, { maxGroup: 8 });
    const ids = Array.from({ length: 13 }, (_, i) => `<burst-${i}@acme.example>`);
    const results = await Promise.all(ids.map((id, i) => coalescer.handle(buildRequest(i, { messageId: id }), smtp())));
    // The first went alone; the twelve that queued behind it went as groups of at most eight.
    expect(counting.alone).toBe(1);
    expect(counting.groups).toEqual([8, 4]);
    expect(results.map((r) => r.status)).toEqual(ids.map(() => 'processed'));
    const numbers = results.flatMap((r) => r.caseNumbers);
    expect(new Set(numbers).size).toBe(ids.length);
    // Each caller got the row of its own message.
    const rows = await tdb.db.selectFrom('messages').select(['id', 'message_id_header']).where('message_id_header', 'in', ids).execute();
    const idOfRow = new Map(rows.map((r) => [String(r.id), r.message_id_header]));
    expect(results.map((r) => idOfRow.get(r.messageId))).toEqual(ids);
  });

  it('keeps duplicates duplicates: the same message twice in one group is stored once', async () => {
    counting.reset();
    const coalescer = new GroupCommitHandler(counting);
    const first = buildMail({ messageId: '<dup-first@acme.example>', subject: 'Keeps the door open' });
    const again = buildMail({ messageId: '<dup-same@acme.example>', subject: 'Twice' });
    const other = buildMail({ messageId: '<dup-other@acme.example>', subject: 'Other' });
    const [r0, r1, r2, r3] = await Promise.all([first, again, other, again].map((raw) => coalescer.handle(raw, smtp())));
    expect(counting.groups).toEqual([3]);
    expect([r0!.status, r1!.status, r2!.status, r3!.status]).toEqual(['processed', 'processed', 'processed', 'duplicate']);
    expect(r3!.messageId).toBe(r1!.messageId);
    expect(await stored(['<dup-same@acme.example>'])).toBe(1);
    expect(await stored(['<dup-other@acme.example>'])).toBe(1);
  });

  it('puts at most one large message in a commit; the others wait for the next ones, small ones still go together', async () => {
    counting.reset();
    const coalescer = new GroupCommitHandler(counting, { largeBytes: 20_000 });
    const big = (i: number) => buildMail({ messageId: `<large-${i}@acme.example>`, subject: `Large ${i}`, body: `Log line ${i}\n`.repeat(3_000) });
    const small = (i: number) => buildMail({ messageId: `<small-${i}@acme.example>`, subject: `Small ${i}` });
    // The first goes alone at once; the rest queue behind it: small, large, large, small, large, small.
    const raws = [small(0), small(1), big(1), big(2), small(2), big(3), small(3)];
    expect(raws.filter((r) => r.length >= 20_000)).toHaveLength(3);
    const results = await Promise.all(raws.map((raw) => coalescer.handle(raw, smtp())));
    expect(results.map((r) => r.status)).toEqual(raws.map(() => 'processed'));
    // Behind the lone first: [small 1, large 1, small 2, small 3], then large 2 alone, then large 3 alone.
    expect(counting.groups).toEqual([4]);
    expect(counting.alone).toBe(3);
    expect(await stored(['<large-1@acme.example>', '<large-2@acme.example>', '<large-3@acme.example>'])).toBe(3);
  });

  it('hands a message the group cannot take to handle alone; its refusal reaches only its caller and the others commit', async () => {
    counting.reset();
    const coalescer = new GroupCommitHandler(counting);
    const raws = [
      buildMail({ messageId: '<bad-lead@acme.example>' }),
      buildMail({ messageId: '<bad-a@acme.example>' }),
      Buffer.alloc(0),
      buildMail({ messageId: '<bad-b@acme.example>' }),
    ];
    const outcomes = await settle(raws.map((raw) => coalescer.handle(raw, smtp())));
    expect(counting.groups).toEqual([3]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(isEmptyMessageError((outcomes[2] as PromiseRejectedResult).reason)).toBe(true);
    expect(await stored(['<bad-a@acme.example>', '<bad-b@acme.example>'])).toBe(2);
  });

  it('handles every message of a group whose transaction failed alone: the one already stored is a duplicate, the rest are processed', async () => {
    const before = await counting.handle(buildMail({ messageId: '<fail-stored@acme.example>', subject: 'Before' }), smtp());
    counting.reset();
    const coalescer = new GroupCommitHandler(counting);
    const raws = [
      buildMail({ messageId: '<fail-lead@acme.example>' }),
      buildMail({ messageId: '<fail-a@acme.example>' }),
      buildMail({ messageId: '<fail-stored@acme.example>', subject: 'Before' }),
      buildMail({ messageId: '<fail-b@acme.example>' }),
    ];
    const results = await Promise.all(raws.map((raw) => coalescer.handle(raw, smtp())));
    expect(counting.groups).toEqual([3]);
    expect(counting.alone).toBe(4); // the lead, then the three the failed group left
    expect(results.map((r) => r.status)).toEqual(['processed', 'processed', 'duplicate', 'processed']);
    expect(results[2]!.messageId).toBe(before.messageId);
  });

  it('understands the messages waiting behind a commit while they wait, and each only once though a failed group leaves them alone', async () => {
    await counting.handle(buildMail({ messageId: '<early-stored@acme.example>', subject: 'Before' }), smtp());
    const events: string[] = [];
    const options = understandingOptions(settings);
    const handler = new MessageHandler({
      db: tdb.db, settings, logger: silentLogger, clock: () => NOW,
      understand: async (raw) => {
        const u = understandParsed(await parseMessage(raw), options);
        events.push(`understood ${u.parsed.messageId}`);
        return u;
      },
    });
    const observed = new Counting(handler);
    const group = observed.handleGroup.bind(observed);
    observed.handleGroup = (items) => {
      events.push(`group of ${items.length}`);
      return group(items);
    };
    const coalescer = new GroupCommitHandler(observed);
    const ids = ['<early-lead@acme.example>', '<early-a@acme.example>', '<early-stored@acme.example>', '<early-b@acme.example>'];
    const results = await Promise.all(ids.map((id) => coalescer.handle(buildMail({ messageId: id, subject: id === '<early-stored@acme.example>' ? 'Before' : `About ${id}` }), smtp())));
    expect(results.map((r) => r.status)).toEqual(['processed', 'processed', 'duplicate', 'processed']);
    // The three that waited for the lead's commit were understood before their group began; the
    // group failed on the stored one, and handled alone none was understood again.
    expect(events).toEqual([...ids.map((id) => `understood ${id}`), 'group of 3']);
  });

  it('gives a temporary failure to the caller it concerns only', async () => {
    counting.reset();
    const coalescer = new GroupCommitHandler(counting);
    const lead = buildMail({ messageId: '<tmp-lead@acme.example>' });
    const unlucky = buildMail({ messageId: '<tmp-unlucky@acme.example>' });
    const fine = buildMail({ messageId: '<tmp-fine@acme.example>' });
    // The lead goes alone and fails temporarily; the two queued behind it are committed as a group.
    counting.failWith.set(lead.toString('latin1'), new TemporaryIntakeError('database unavailable (injected)'));
    const outcomes = await settle([lead, unlucky, fine].map((raw) => coalescer.handle(raw, smtp())));
    expect(outcomes[0]!.status).toBe('rejected');
    expect(isTemporaryIntakeError((outcomes[0] as PromiseRejectedResult).reason)).toBe(true);
    expect(outcomes.slice(1).map((o) => o.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(await stored(['<tmp-lead@acme.example>'])).toBe(0);
    expect(await stored(['<tmp-unlucky@acme.example>', '<tmp-fine@acme.example>'])).toBe(2);
  });

  it('answers a handleGroup that throws by handling each message alone', async () => {
    counting.reset();
    const throwing: GroupingHandler = {
      handle: (raw, source, arrival) => counting.handle(raw, source, arrival),
      quarantine: (raw, source, error) => counting.quarantine(raw, source, error),
      // Injected: a group commit that throws instead of returning nulls.
      handleGroup: () => Promise.reject(new Error('group failed (injected)')),
    };
    const failures: number[] = [];
    const coalescer = new GroupCommitHandler(throwing, {
      onGroupFailed: (_err, n) => {
        failures.push(n);
        throw new Error('observer failed too (injected)');
      },
    });
    const ids = ['<throw-0@acme.example>', '<throw-1@acme.example>', '<throw-2@acme.example>'];
    const results = await Promise.all(ids.map((id) => coalescer.handle(buildMail({ messageId: id }), smtp())));
    expect(failures).toEqual([2]);
    expect(counting.alone).toBe(3);
    expect(results.map((r) => r.status)).toEqual(['processed', 'processed', 'processed']);
  });

  it('refuses nonsense settings and tells a handler without handleGroup apart', () => {
    expect(() => new GroupCommitHandler(counting, { maxGroup: 0 })).toThrow(/maxGroup/);
    expect(() => new GroupCommitHandler(counting, { maxInFlight: 1.5 })).toThrow(/maxInFlight/);
    expect(canGroup(counting)).toBe(true);
    expect(canGroup({ handle: counting.handle.bind(counting), quarantine: counting.quarantine.bind(counting) })).toBe(false);
  });

  it('answers every concurrent SMTP client 250 only for a committed message, with fewer transactions than messages', async () => {
    counting.reset();
    const intake = new SmtpIntake({
      host: '127.0.0.1', port: 0, ownAddresses: ['support@casemail.localhost'], maxMessageBytes: 1024 * 1024,
      handler: new GroupCommitHandler(counting), logger: silentLogger,
    });
    const { port } = await intake.start();
    try {
      const clients = Array.from({ length: 6 }, () => nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true }));
      const ids = Array.from({ length: 30 }, (_, i) => `<smtp-${i}@acme.example>`);
      const replies = await Promise.all(clients.map(async (client, c) => {
        const out: string[] = [];
        for (let i = c; i < ids.length; i += clients.length) {
          const info = await client.sendMail({ envelope: { from: 'bob@acme.example', to: ['support@casemail.localhost'] }, raw: buildRequest(i, { messageId: ids[i]! }) });
          // By the time the 250 arrives, the message is in the database.
          expect(await stored([ids[i]!])).toBe(1);
          out.push(info.response);
        }
        client.close();
        return out;
      }));
      expect(replies.flat().every((r) => r.startsWith('250 2.0.0 OK: processed'))).toBe(true);
      expect(await stored(ids)).toBe(ids.length);
      const transactions = counting.alone + counting.groups.length;
      expect(counting.groups.reduce((a, b) => a + b, 0) + counting.alone).toBe(ids.length);
      expect(transactions).toBeLessThan(ids.length);
    } finally {
      await intake.stop();
    }
  });
});
