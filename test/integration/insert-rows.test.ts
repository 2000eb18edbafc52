// insertRows writes many rows as one array per column (unnest): every value comes back exactly as
// given, whatever characters it holds (quotes, backslashes, braces, commas, the word NULL, emoji,
// NUL-free control characters), along with real nulls, instants, JSON, booleans, bytes and long
// text; bytes and long text travel in one binary parameter, not in array literals; and its text
// does not change with the number of rows (the pool can prepare it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { insertRows, type Table } from '../../src/db/insert-rows.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

type Row = { id: number; label: string | null; at: Date | null; doc: string | null; flag: boolean | null; bytes: Buffer | null; small: number | null; body: string | null };

const TABLE: Table<Row> = {
  name: 'unnest_rows',
  columns: [
    ['id', 'bigint', (r) => r.id], ['label', 'text', (r) => r.label], ['at', 'timestamptz', (r) => r.at], ['doc', 'jsonb', (r) => r.doc],
    ['flag', 'boolean', (r) => r.flag], ['bytes', 'bytea', (r) => r.bytes], ['small', 'smallint', (r) => r.small], ['body', 'long text', (r) => r.body],
  ],
  onConflict: 'on conflict (id) do nothing',
};

describe('insertRows', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await sql`create table unnest_rows (id bigint primary key, label text, at timestamptz, doc jsonb, flag boolean, bytes bytea, small smallint, body text)`.execute(db.db);
  });
  afterAll(async () => {
    await db?.close();
  });

  const awkward = ['plain', 'say "hi"', 'back\\slash', 'a,b', '{braces}', 'NULL', '', ' spaced ', 'tab\tand\nnewline', 'ünïcödé ✓ 😀', "single ' quote", '\\"both\\"'];

  it('stores every value exactly, real nulls included', async () => {
    const rows: Row[] = awkward.map((label, i) => ({
      id: i + 1, label, at: new Date(Date.UTC(2026, 11, 2, 9, i, 7, 123)), doc: JSON.stringify({ label, n: i, list: [label, null] }),
      flag: i % 2 === 0, bytes: i === 3 ? Buffer.alloc(0) : Buffer.from([0, 1, 92, 34, 123, 125, 44, 255, i]), small: i - 3,
      body: `${label.repeat(i * 50)}${label}`,
    }));
    rows.push({ id: 100, label: null, at: null, doc: null, flag: null, bytes: null, small: null, body: null });
    await insertRows(TABLE, rows).execute(db.db);
    const back = await sql<Row>`select id, label, at, doc::text as doc, flag, bytes, small, body from unnest_rows order by id`.execute(db.db);
    expect(back.rows.map((r) => ({ ...r, id: Number(r.id), doc: r.doc === null ? null : JSON.parse(r.doc) as unknown }))).toEqual(
      rows.map((r) => ({ ...r, doc: r.doc === null ? null : JSON.parse(r.doc) as unknown })),
    );
  });

  it('skips a row whose key is taken (its on conflict clause) and inserts the rest', async () => {
    await insertRows(TABLE, [{ id: 1, label: 'again', at: null, doc: null, flag: null, bytes: null, small: null, body: null }, { id: 200, label: 'new', at: null, doc: null, flag: null, bytes: null, small: null, body: null }]).execute(db.db);
    const r = await sql<{ id: string; label: string }>`select id, label from unnest_rows where id in (1, 200) order by id`.execute(db.db);
    expect(r.rows.map((x) => [Number(x.id), x.label])).toEqual([[1, 'plain'], [200, 'new']]);
  });

  it('has the same text for one row and for many', () => {
    const one = insertRows(TABLE, [{ id: 1, label: 'a', at: null, doc: null, flag: null, bytes: null, small: null, body: null }]).compile(db.db);
    const many = insertRows(TABLE, Array.from({ length: 50 }, (_, i) => ({ id: i, label: 'a', at: null, doc: null, flag: null, bytes: null, small: null, body: null }))).compile(db.db);
    expect(many.sql).toBe(one.sql);
    // An array per plain column, a start and a length array per packed column, and the bytes.
    expect(many.parameters).toHaveLength(TABLE.columns.length + 2 + 1);
  });

  it('sends bytes and long text as one binary parameter, never inside an array literal', () => {
    const body = 'ünïcödé "quoted" \\ text\n'.repeat(100);
    const bytes = Buffer.from('raw message bytes \x00\xff');
    const q = insertRows(TABLE, [
      { id: 1, label: 'a', at: null, doc: null, flag: null, bytes, small: null, body },
      { id: 2, label: 'b', at: null, doc: null, flag: null, bytes: null, small: null, body: 'short' },
    ]).compile(db.db);
    const buffers = q.parameters.filter((p) => Buffer.isBuffer(p)) as Buffer[];
    expect(buffers).toHaveLength(1);
    expect(buffers[0]!.equals(Buffer.concat([bytes, Buffer.from(body, 'utf8'), Buffer.from('short')]))).toBe(true);
    for (const p of q.parameters.filter(Array.isArray) as unknown[][]) {
      expect(p.some((v) => Buffer.isBuffer(v) || v === body)).toBe(false);
    }
  });

  it('refuses to build an insert of no rows', () => {
    expect(() => insertRows(TABLE, [])).toThrow(/no rows for unnest_rows/);
  });
});
