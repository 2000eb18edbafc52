// Large bytea parameters go to PostgreSQL as the caller's own Buffers (no copy into one Bind
// buffer) through the service's pool, and PostgreSQL stores exactly those bytes, next to text,
// null and small binary values of the same statement, on named (prepared) and unnamed statements.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import { sql } from 'kysely';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

describe('large bytea values through the pool', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await sql`create table blobs (id int primary key, a bytea, note text, b bytea, c bytea)`.execute(db.db);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('stores the exact bytes of several large values in one statement, and the socket was handed the caller\'s Buffers', async () => {
    const first = randomBytes(3_000_000);
    const second = randomBytes(700_000);
    const written: unknown[] = [];
    const write = Socket.prototype.write;
    const spy = vi.spyOn(Socket.prototype, 'write').mockImplementation(function (this: Socket, ...args: Parameters<Socket['write']>) {
      written.push(args[0]);
      return write.apply(this, args);
    });
    try {
      await db.db.insertInto('blobs' as never).values({ id: 1, a: first, note: 'héllo ✓', b: null, c: second } as never).execute();
    } finally {
      spy.mockRestore();
    }
    expect(written).toContain(first);
    expect(written).toContain(second);
    const row = await sql<{ a: Buffer; note: string; b: Buffer | null; c: Buffer }>`select a, note, b, c from blobs where id = 1`.execute(db.db);
    expect(md5(row.rows[0]!.a)).toBe(md5(first));
    expect(row.rows[0]!.a.length).toBe(first.length);
    expect(row.rows[0]!.note).toBe('héllo ✓');
    expect(row.rows[0]!.b).toBeNull();
    expect(md5(row.rows[0]!.c)).toBe(md5(second));
  });

  it('keeps a connection usable for the next statements, prepared or not, with large and small values', async () => {
    for (let i = 2; i < 8; i++) {
      const a = randomBytes(100_000 + i);
      const small = Buffer.from([i, 0, 255]);
      // The same text every time: the pool prepares it once per connection and binds it again.
      await sql`insert into blobs (id, a, note, b) values (${i}, ${a}, ${`n${i}`}, ${small})`.execute(db.db);
      const back = await sql<{ ok: boolean; b: Buffer }>`select a = ${a} as ok, b from blobs where id = ${i}`.execute(db.db);
      expect(back.rows[0]!.ok).toBe(true);
      expect([...back.rows[0]!.b]).toEqual([i, 0, 255]);
    }
    const count = await sql<{ n: number }>`select count(*)::int as n from blobs`.execute(db.db);
    expect(count.rows[0]!.n).toBe(7);
  });
});
