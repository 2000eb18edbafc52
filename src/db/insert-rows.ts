// Many rows into one table as ONE parameter per column: `insert into t (a, b) select ... from
// unnest($1::bigint[], $2::text[])`. The statement's text is the same whatever the number of rows,
// so the pool prepares it once per connection and PostgreSQL parses it once; pg sends each column
// as one array literal, and the query builder makes no node per value (kysely's multi-row
// `values` made several per value).
// Bytes and long text do not go in array literals: pg would write bytes as hex and escape every
// quote and backslash of a text, building strings twice the size of the values. Their values go
// back to back in one binary parameter instead (a Buffer: sent as it is, and from 64 KiB not even
// copied, uncopied-bind.ts), and each row cuts its own out by offset and length.
// Pure: it builds, the caller runs.
import { sql, type RawBuilder } from 'kysely';

/**
 * A column's SQL type. 'long text' is text sent as UTF-8 bytes in the statement's binary
 * parameter (for values of kilobytes: a message's text); 'bytea' is always sent that way.
 */
export type ColumnType = 'bigint' | 'int' | 'smallint' | 'text' | 'long text' | 'jsonb' | 'timestamptz' | 'boolean' | 'bytea';

/** A table's columns in insert order: name, SQL type, and the value a row gives it (JSON columns take JSON text). */
export interface Table<R> {
  name: string;
  columns: readonly (readonly [column: string, type: ColumnType, value: (row: R) => unknown])[];
  /** e.g. `on conflict (sha256) do nothing` */
  onConflict?: string;
}

/** Whether the column's values travel in the binary parameter rather than in an array. */
function packed(type: ColumnType): boolean {
  return type === 'bytea' || type === 'long text';
}

/**
 * The packed columns' values of `rows`, back to back in one Buffer, and per column each row's
 * 1-based start and length in it (both null for a null value).
 */
export function packColumns<R>(table: Table<R>, rows: readonly R[]): { bytes: Buffer; starts: (number | null)[][]; lengths: (number | null)[][] } {
  const chunks: Buffer[] = [];
  let at = 0;
  const starts: (number | null)[][] = [];
  const lengths: (number | null)[][] = [];
  for (const [column, type, value] of table.columns) {
    if (!packed(type)) continue;
    const s: (number | null)[] = [];
    const l: (number | null)[] = [];
    for (const row of rows) {
      const v = value(row);
      if (v === null || v === undefined) {
        s.push(null);
        l.push(null);
        continue;
      }
      let b: Buffer;
      if (type === 'bytea') {
        if (!Buffer.isBuffer(v)) throw new TypeError(`insertRows: ${table.name}.${column} takes a Buffer`);
        b = v;
      } else {
        b = Buffer.from(String(v), 'utf8');
      }
      chunks.push(b);
      s.push(at + 1);
      l.push(b.length);
      at += b.length;
    }
    starts.push(s);
    lengths.push(l);
  }
  return { bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, at), starts, lengths };
}

/** `insert into <table> (<columns>) select ... from unnest(<one array per column>) [on conflict ...]` for `rows` (at least one). */
export function insertRows<R>(table: Table<R>, rows: readonly R[]): RawBuilder<unknown> {
  if (rows.length === 0) throw new Error(`insertRows: no rows for ${table.name}`);
  const columns = sql.raw(table.columns.map(([c]) => `"${c}"`).join(', '));
  const conflict = sql.raw(table.onConflict ? ` ${table.onConflict}` : '');
  if (!table.columns.some(([, type]) => packed(type))) {
    const arrays = table.columns.map(([, type, value]) => sql`${rows.map(value)}::${sql.raw(type)}[]`);
    return sql`insert into ${sql.raw(table.name)} (${columns}) select * from unnest(${sql.join(arrays)})${conflict}`;
  }
  const { bytes, starts, lengths } = packColumns(table, rows);
  const arrays: RawBuilder<unknown>[] = [];
  const names: string[] = [];
  const exprs: string[] = [];
  let k = 0;
  table.columns.forEach(([, type, value], i) => {
    if (!packed(type)) {
      arrays.push(sql`${rows.map(value)}::${sql.raw(type)}[]`);
      names.push(`c${i}`);
      exprs.push(`u.c${i}`);
      return;
    }
    arrays.push(sql`${starts[k]}::int[]`, sql`${lengths[k]}::int[]`);
    names.push(`s${i}`, `l${i}`);
    const cut = `substring(p.b from u.s${i} for u.l${i})`;
    exprs.push(type === 'bytea' ? cut : `convert_from(${cut}, 'UTF8')`);
    k += 1;
  });
  return sql`insert into ${sql.raw(table.name)} (${columns}) select ${sql.raw(exprs.join(', '))}
    from unnest(${sql.join(arrays)}) as u(${sql.raw(names.join(', '))}) cross join (select ${bytes}::bytea as b) p${conflict}`;
}
