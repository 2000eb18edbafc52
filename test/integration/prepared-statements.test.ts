// The pool prepares each connection's recurring statements once (named by their text) and plans a
// statement marked PLAN_EACH_RUN at every run: such a statement is never prepared, so PostgreSQL
// does not keep a generic plan made while a table was small.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { PLAN_EACH_RUN, type Trx } from '../../src/db/database.js';
import { createTestDatabase, type TestDatabase } from '../support/test-database.js';

describe('prepared statements of the pool', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.close();
  });

  /** The statements prepared on the connection of `trx`, by their text. */
  const preparedTexts = async (trx: Trx) =>
    (await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(trx)).rows.map((r) => r.statement);

  it('prepares a statement with parameters once per connection and runs it again by name', async () => {
    await db.db.transaction().execute(async (trx) => {
      for (let i = 0; i < 3; i++) {
        const r = await sql<{ n: number }>`select ${i}::int + 40 as n`.execute(trx);
        expect(r.rows[0]!.n).toBe(i + 40);
      }
      const texts = await preparedTexts(trx);
      expect(texts.filter((t) => t.includes('$1::int + 40'))).toHaveLength(1);
    });
  });

  it('never prepares a statement marked PLAN_EACH_RUN, and runs it with its values', async () => {
    await db.db.transaction().execute(async (trx) => {
      for (let i = 0; i < 3; i++) {
        const r = await sql<{ n: number }>`${sql.raw(PLAN_EACH_RUN)}select ${i}::int + 50 as n`.execute(trx);
        expect(r.rows[0]!.n).toBe(i + 50);
      }
      const texts = await preparedTexts(trx);
      expect(texts.some((t) => t.includes('$1::int + 50'))).toBe(false);
    });
  });
});
