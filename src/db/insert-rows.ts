// Many rows into one table as ONE parameter per column: `insert into t (a, b) select * from
// unnest($1::bigint[], $2::text[])`. The statement's text is the same whatever the number of rows,
// so the pool prepares it once per connection and PostgreSQL parses it once; pg sends each column
// as one array literal, and the query builder makes no node per value (kysely's multi-row
// `values` made several per value). Pure: it builds, the caller runs.
import { sql, type RawBuilder } from 'kysely';

export type ColumnType = 'bigint' | 'int' | 'smallint' | 'text' | 'jsonb' | 'timestamptz' | 'boolean' | 'bytea';

/** A table's columns in insert order: name, SQL type, and the value a row gives it (JSON columns take JSON text). */
export interface Table<R> {
  name: string;
  columns: readonly (readonly [column: string, type: ColumnType, value: (row: R) => unknown])[];
  /** e.g. `on conflict (sha256) do nothing` */
  onConflict?: string;
}

/** `insert into <table> (<columns>) select * from unnest(<one array per column>) [on conflict ...]` for `rows` (at least one). */
export function insertRows<R>(table: Table<R>, rows: readonly R[]): RawBuilder<unknown> {
  if (rows.length === 0) throw new Error(`insertRows: no rows for ${table.name}`);
  const columns = sql.raw(table.columns.map(([c]) => `"${c}"`).join(', '));
  const arrays = table.columns.map(([, type, value]) => sql`${rows.map(value)}::${sql.raw(type)}[]`);
  return sql`insert into ${sql.raw(table.name)} (${columns}) select * from unnest(${sql.join(arrays)})${sql.raw(table.onConflict ? ` ${table.onConflict}` : '')}`;
}
