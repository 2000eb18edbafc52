// The one database factory: PostgreSQL through pg when DATABASE_URL is set, else embedded PGlite
// persisted under the data folder. Both run the same Kysely migrations; callers see one type.
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Kysely, Migrator, PostgresDialect, sql, type MigrationResultSet, type Transaction } from 'kysely';
import pg from 'pg';
import { migrations } from '../../migrations/index.js';
import type { Database } from './schema.js';
import { PGliteDialect } from './pglite-dialect.js';
import { isProcessAlive } from './process-alive.js';

export type Db = Kysely<Database>;
export type Trx = Transaction<Database>;
/** Either the database or an open transaction: store functions take this first. */
export type DbOrTrx = Kysely<Database> | Transaction<Database>;

export interface DatabaseHandle {
  db: Db;
  kind: 'postgres' | 'pglite';
  /** Where the data is: the URL without password, or the PGlite folder (or "memory"). */
  location: string;
  close(): Promise<void>;
}

export interface OpenOptions {
  databaseUrl: string | null;
  /** PGlite folder; null for an in-memory database. */
  pgliteDir: string | null;
  /** An already loaded PGlite data dump to start from (test templates). */
  pgliteLoadDataDir?: Blob;
  poolSize?: number;
  /** Told about connection errors the pool survives (a terminated backend, a restart); default: ignored. */
  onConnectionError?: (error: Error) => void;
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;
/** `date` columns stay 'YYYY-MM-DD' strings: a calendar date has no time zone. */
const DATE_OID = 1082;

export async function openDatabase(opts: OpenOptions): Promise<DatabaseHandle> {
  if (opts.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: opts.databaseUrl,
      max: opts.poolSize ?? 10,
      // PGlite returns int8 as numbers; make pg agree so domain code sees one type.
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID || oid === NUMERIC_OID ? (v: string) => Number(v)
          : oid === DATE_OID ? (v: string) => v
          : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
      },
    });
    survivePoolErrors(pool, opts.onConnectionError ?? (() => {}));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: preparingPool(pool) }) });
    return { db, kind: 'postgres', location: redactUrl(opts.databaseUrl), close: () => db.destroy() };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  let unlock = () => {};
  if (opts.pgliteDir) {
    mkdirSync(opts.pgliteDir, { recursive: true });
    unlock = lockPgliteDir(opts.pgliteDir);
  }
  const pglite = new PGlite({
    ...(opts.pgliteDir ? { dataDir: opts.pgliteDir } : {}),
    ...(opts.pgliteLoadDataDir ? { loadDataDir: opts.pgliteLoadDataDir } : {}),
    parsers: { [DATE_OID]: (v: string) => v, [NUMERIC_OID]: (v: string) => Number(v) },
  });
  await pglite.waitReady;
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    kind: 'pglite',
    location: opts.pgliteDir ? path.resolve(opts.pgliteDir) : 'memory',
    close: async () => {
      await db.destroy();
      await pglite.close();
      unlock();
    },
  };
}

export class DatabaseInUseError extends Error {
  readonly code = 'database_in_use';
}

/**
 * PGlite is one process's database: a second process opening the same folder would corrupt it.
 * A lock file holding the owner's pid keeps a second one out; a stale lock (dead pid) is taken over.
 */
function lockPgliteDir(dir: string): () => void {
  const lockFile = path.join(dir, '..', `${path.basename(dir)}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockFile, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          unlinkSync(lockFile);
        } catch {
          // already gone
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(lockFile, 'utf8').trim());
      if (owner && owner !== process.pid && isProcessAlive(owner)) {
        throw new DatabaseInUseError(`the embedded database ${dir} is in use by process ${owner}; stop it, or use PostgreSQL (DATABASE_URL) to run several processes`);
      }
      unlinkSync(lockFile);
    }
  }
  throw new DatabaseInUseError(`could not lock the embedded database ${dir}`);
}



/**
 * A connection that dies (pg_terminate_backend, a server restart, a network cut) is reported as an
 * 'error' event: on the pool for an idle client, on the client itself while it is checked out. An
 * 'error' event nobody listens to ends the process, so both get a listener. The failed query
 * rejects on its own (the caller's transaction fails and is retried), pg removes the broken client
 * on release, and the next query opens a new connection: the pool recovers without a restart.
 */
function survivePoolErrors(pool: pg.Pool, report: (error: Error) => void): void {
  pool.on('error', (error) => report(error));
  pool.on('connect', (client) => client.on('error', (error) => report(error)));
}

const MAX_PREPARED_PER_CONNECTION = 500;
const MAX_PREPARED_SQL_LENGTH = 8_000;

/**
 * Kysely sends every query as an unnamed statement, which PostgreSQL parses and plans each time.
 * The same few statements run for every message, so each connection prepares them once (named by
 * a hash of their text) and reuses the plan: measurably less server CPU per message. Unusual or
 * very long statements, and any beyond a per-connection cap, stay unnamed.
 */
function preparingPool(pool: pg.Pool): pg.Pool {
  const prepared = new WeakMap<pg.PoolClient, Set<string>>();
  const connect = pool.connect.bind(pool) as () => Promise<pg.PoolClient>;
  return new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop !== 'connect') return Reflect.get(target, prop, receiver);
      return async () => {
        const client = await connect();
        if (!prepared.has(client)) {
          prepared.set(client, new Set());
          const query = client.query.bind(client) as (...args: unknown[]) => unknown;
          (client as unknown as { query: (...args: unknown[]) => unknown }).query = (text: unknown, values?: unknown) => {
            const names = prepared.get(client)!;
            if (typeof text !== 'string' || !Array.isArray(values) || values.length === 0 || text.length > MAX_PREPARED_SQL_LENGTH) return query(text, values);
            const name = `k${createHash('sha1').update(text).digest('base64url').slice(0, 20)}`;
            if (!names.has(name)) {
              if (names.size >= MAX_PREPARED_PER_CONNECTION) return query(text, values);
              names.add(name);
            }
            return query({ name, text, values });
          };
        }
        return client;
      };
    },
  });
}

export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

function migrator(db: Kysely<unknown>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}

/** Runs every pending migration; throws with the failing migration's error. */
export async function migrateToLatest(db: Db, caseNumberStart?: number): Promise<MigrationResultSet> {
  const result = await migrator(db as unknown as Kysely<unknown>).migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw Object.assign(new Error(`migration ${failed} failed: ${(result.error as Error).message}`), {
      code: 'migration_failed',
      cause: result.error,
    });
  }
  if (caseNumberStart !== undefined) await ensureCaseNumberStart(db, caseNumberStart);
  return result;
}

/** Names of migrations not yet applied. */
export async function pendingMigrations(db: Db): Promise<string[]> {
  const all = await migrator(db as unknown as Kysely<unknown>).getMigrations();
  return all.filter((m) => !m.executedAt).map((m) => m.name);
}

/** Moves the case-number sequence up to the configured start; never down (numbers are never reused). */
export async function ensureCaseNumberStart(db: Db, start: number): Promise<void> {
  await sql`select setval('case_number_seq', ${start}::bigint, false)
            where (select case when is_called then last_value + 1 else last_value end from case_number_seq) < ${start}::bigint`
    .execute(db);
}

/** Where PGlite keeps its data for a config's data folder. */
export function pgliteDirFor(dataDir: string): string {
  return path.join(dataDir, 'pglite');
}
