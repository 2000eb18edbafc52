// The mailbox lease on a real PostgreSQL: of two leases for one mailbox only one holds; when the
// holder's backend is terminated the holder notices (stops its intake) and the other takes over;
// stop() gives the lease back; different mailboxes do not block each other.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { MailboxLease, leaseKey, type LeaseConnection } from '../../src/ingest/mailbox-lease.js';
import { silentLogger } from '../../src/log/logger.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';

interface Instance {
  name: string;
  lease: MailboxLease;
  /** What onTaken/onLost did, in order, across all instances of the test. */
  running: () => boolean;
}

describe(`mailbox lease on ${databaseKind()}`, () => {
  let tdb: TestDatabase;
  const leases: MailboxLease[] = [];
  /** Every onTaken/onLost, across instances, in the order they happened. */
  const timeline: string[] = [];
  /** Intakes running per mailbox right now, and the most ever seen at once. */
  const runningNow = new Map<string, number>();
  const mostAtOnce = new Map<string, number>();

  beforeAll(async () => {
    tdb = await createTestDatabase();
  });
  // A failed test must not leave its leases holding for the next one.
  afterEach(async () => {
    await Promise.allSettled(leases.splice(0).map((l) => l.stop()));
  });
  afterAll(async () => {
    await tdb?.close();
  });

  function instance(name: string, mailbox: string, retryMs: number): Instance {
    let running = false;
    const lease = new MailboxLease({
      mailbox, retryMs, logger: silentLogger, holderName: `lease test ${name}`,
      connect: () => tdb.connectDedicated() as Promise<LeaseConnection>,
      onTaken: async () => {
        running = true;
        const n = (runningNow.get(mailbox) ?? 0) + 1;
        runningNow.set(mailbox, n);
        mostAtOnce.set(mailbox, Math.max(n, mostAtOnce.get(mailbox) ?? 0));
        timeline.push(`${name} taken ${mailbox}`);
      },
      onLost: async () => {
        running = false;
        runningNow.set(mailbox, (runningNow.get(mailbox) ?? 1) - 1);
        timeline.push(`${name} lost ${mailbox}`);
      },
    });
    leases.push(lease);
    return { name, lease, running: () => running };
  }

  it('one of two holds; a terminated holder stops and the other takes over; stop() gives the lease back', async () => {
    const a = instance('a', 'support/INBOX', 300);
    const b = instance('b', 'support/INBOX', 300);
    await a.lease.start();
    await b.lease.start();
    expect(a.lease.current.state).toBe('held');
    expect(b.lease.current.state).toBe('standby');
    expect(a.running()).toBe(true);
    expect(b.running()).toBe(false);

    // The standby one read the holder from pg_locks: a's backend, named by its application_name.
    const holder = b.lease.current.holder;
    expect(holder?.applicationName).toBe('lease test a');
    const [k1, k2] = leaseKey('support/INBOX');
    // Advisory locks are per database; other test files hold the same key in theirs.
    const locked = await sql<{ pid: number }>`select pid from pg_locks where locktype = 'advisory' and granted
      and database = (select oid from pg_database where datname = current_database())
      and classid = (${k1}::int4)::oid and objid = (${k2}::int4)::oid`.execute(tdb.db);
    expect(locked.rows.map((r) => r.pid)).toEqual([holder!.pid]);

    // Several standby rounds later, still one holder.
    await expect.poll(() => timeline.length, { timeout: 2_000 }).toBe(1);
    await sql`select pg_terminate_backend(${holder!.pid})`.execute(tdb.db);
    await expect.poll(() => b.lease.current.state, { timeout: 10_000, interval: 20 }).toBe('held');
    expect(a.running()).toBe(false);
    expect(b.running()).toBe(true);
    // The old holder stopped its intake before the new one started its own, and sat out a round
    // after losing the lease, so the instance standing by took it.
    expect(timeline).toEqual(['a taken support/INBOX', 'a lost support/INBOX', 'b taken support/INBOX']);
    // And a, now standing by on a new connection, sees b as the holder.
    await expect.poll(() => a.lease.current.holder?.applicationName ?? null, { timeout: 10_000, interval: 20 }).toBe('lease test b');
    expect(a.lease.current.state).toBe('standby');

    // A holder that stops gives the lease back at once: a takes over at its next try.
    await b.lease.stop();
    expect(b.running()).toBe(false);
    expect(b.lease.current.state).toBe('stopped');
    await expect.poll(() => a.lease.current.state, { timeout: 10_000, interval: 20 }).toBe('held');
    expect(a.running()).toBe(true);
    expect(mostAtOnce.get('support/INBOX')).toBe(1);

    await a.lease.stop();
    const left = await sql<{ n: number }>`select count(*)::int as n from pg_locks where locktype = 'advisory'
      and database = (select oid from pg_database where datname = current_database())
      and classid = (${k1}::int4)::oid and objid = (${k2}::int4)::oid`.execute(tdb.db);
    expect(left.rows[0]!.n).toBe(0);
  });

  it('different mailboxes do not block each other', async () => {
    const a = instance('c', 'support/INBOX', 200);
    const b = instance('d', 'sales/INBOX', 200);
    const c = instance('e', 'support/Archive', 200);
    await Promise.all([a.lease.start(), b.lease.start(), c.lease.start()]);
    expect([a.lease.current.state, b.lease.current.state, c.lease.current.state]).toEqual(['held', 'held', 'held']);
    await Promise.all([a.lease.stop(), b.lease.stop(), c.lease.stop()]);
    expect([a.running(), b.running(), c.running()]).toEqual([false, false, false]);
  });

  it('a holder that cannot reach the database stands by and takes the lease once it can', async () => {
    let reachable = false;
    let taken = 0;
    const lease = new MailboxLease({
      mailbox: 'unreachable/INBOX', retryMs: 100, logger: silentLogger,
      connect: async () => {
        if (!reachable) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        return tdb.connectDedicated() as Promise<LeaseConnection>;
      },
      onTaken: async () => {
        taken += 1;
      },
      onLost: async () => {},
    });
    leases.push(lease);
    await lease.start();
    expect(lease.current.state).toBe('standby');
    reachable = true;
    await expect.poll(() => lease.current.state, { timeout: 10_000, interval: 20 }).toBe('held');
    expect(taken).toBe(1);
    await lease.stop();
  });
});
