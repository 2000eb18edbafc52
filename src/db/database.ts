// The one database factory: PostgreSQL through pg, either the server DATABASE_URL names or the
// embedded server under the data folder (started on demand, see embedded-postgres.ts). One SQL
// engine, one dialect, the same Kysely migrations; callers see one type.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Kysely, Migrator, PostgresDialect, sql, type MigrationResultSet, type Transaction } from 'kysely';
import pg from 'pg';
import { migrations } from '../../migrations/index.js';
import type { Database } from './schema.js';
import { acquireEmbeddedServer, type EmbeddedConnection } from './embedded-postgres.js';
import { sendLargeValuesUncopied } from './uncopied-bind.js';

export type Db = Kysely<Database>;
export type Trx = Transaction<Database>;
/** Either the database or an open transaction: store functions take this first. */
export type DbOrTrx = Kysely<Database> | Transaction<Database>;

export interface DatabaseHandle {
  db: Db;
  /** `embedded`: the local server under the data folder; `postgres`: DATABASE_URL. */
  kind: 'postgres' | 'embedded';
  /** Where the data is: the URL without password, or the embedded data folder. */
  location: string;
  /**
   * A new connection of its own, outside the pool, with TCP keepalive on (the mailbox lease holds
   * a session advisory lock on one). The caller ends it.
   */
  connectDedicated(): Promise<pg.Client>;
  /** Also tells `listener` about the connection errors the pool survives (the service counts them). */
  onConnectionError(listener: (error: Error) => void): void;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** A PostgreSQL URL; when null, the embedded server in `embeddedDir`. */
  databaseUrl: string | null;
  /** The embedded server's data folder (see embeddedDirFor). */
  embeddedDir?: string | null;
  /** Connections at most (default 16: the intake, the dispatcher and a sweep tick of 8 cases at once). */
  poolSize?: number;
  /** Told about connection errors the pool survives (a terminated backend, a restart); default: ignored. */
  onConnectionError?: (error: Error) => void;
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;
/** `date` columns stay 'YYYY-MM-DD' strings: a calendar date has no time zone. */
const DATE_OID = 1082;

export async function openDatabase(opts: OpenOptions): Promise<DatabaseHandle> {
  const listeners = opts.onConnectionError ? [opts.onConnectionError] : [];
  const report = (error: Error) => {
    for (const listener of listeners) listener(error);
  };
  const onConnectionError = (listener: (error: Error) => void) => {
    listeners.push(listener);
  };
  if (opts.databaseUrl) {
    const { db, close } = kyselyOver(createPool(opts.databaseUrl, opts.poolSize ?? 16, report));
    const url = opts.databaseUrl;
    return { db, kind: 'postgres', location: redactUrl(url), connectDedicated: () => dedicatedClient(url), onConnectionError, close };
  }
  if (!opts.embeddedDir) throw new Error('openDatabase: neither a database URL nor an embedded data folder');
  const lease = await acquireEmbeddedServer(opts.embeddedDir);
  let opened: { db: Db; close(): Promise<void> };
  try {
    opened = kyselyOver(createPool(lease.connection, opts.poolSize ?? 16, report));
  } catch (err) {
    await lease.release();
    throw err;
  }
  return {
    db: opened.db,
    kind: 'embedded',
    location: path.resolve(opts.embeddedDir),
    connectDedicated: () => dedicatedClient(lease.connection),
    onConnectionError,
    close: async () => {
      try {
        await opened.close();
      } finally {
        await lease.release();
      }
    },
  };
}

/** One connection outside the pool, keepalive on; an 'error' listener so a dropped socket never ends the process. */
async function dedicatedClient(connection: string | EmbeddedConnection): Promise<pg.Client> {
  const client = new pg.Client({
    ...(typeof connection === 'string' ? { connectionString: connection } : connection),
    keepAlive: true,
    keepAliveInitialDelayMillis: 5_000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }
  return client;
}

/** The one place a pg pool is made, for a URL or the embedded server's socket. */
function createPool(connection: string | EmbeddedConnection, max: number, onConnectionError?: (error: Error) => void): pg.Pool {
  const pool = new pg.Pool({
    ...(typeof connection === 'string' ? { connectionString: connection } : connection),
    max,
    // int8 (ids, counts) and numeric as numbers so domain code sees one type; our values stay
    // far below 2^53.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID || oid === NUMERIC_OID ? (v: string) => Number(v)
        : oid === DATE_OID ? (v: string) => v
        : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  survivePoolErrors(pool, onConnectionError ?? (() => {}));
  // A raw message and its attachments go to the socket as they are, not copied into one Bind buffer.
  pool.on('connect', (client) => sendLargeValuesUncopied(client.connection));
  return pool;
}

/**
 * Kysely over the pool, and a close that returns only once every connection has ended: pool.end()
 * resolves before the sockets close, and a server stopping (or a database dropped) in between would
 * end them with an error nobody listens to.
 */
function kyselyOver(pool: pg.Pool): { db: Db; close(): Promise<void> } {
  const sockets = new Set<pg.Client>();
  pool.on('connect', (client) => {
    sockets.add(client);
    client.once('end', () => sockets.delete(client));
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: preparingPool(pool) }) });
  return {
    db,
    async close() {
      await db.destroy();
      await Promise.all([...sockets].map((client) => new Promise((resolve) => client.once('end', resolve))));
    },
  };
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
 * A statement that starts with this comment is never prepared: it is planned at each run, for the
 * arrays it is given and the tables' current size. For a statement whose best plan depends on
 * those (a join of an unnest to a table that grows): a prepared statement's generic plan, made
 * while the table was small, is kept until ANALYZE invalidates it. The outbox's mark-sent join
 * kept a hash join over a sequential scan of the whole outbox that way, 2-8 ms a call once it
 * held a few thousand rows (measured by auto_explain in the SMTP burst on a fresh database).
 */
export const PLAN_EACH_RUN = '/* plan each run */ ';

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
            if (typeof text !== 'string' || !Array.isArray(values) || values.length === 0 || text.length > MAX_PREPARED_SQL_LENGTH || text.startsWith(PLAN_EACH_RUN)) {
              return query(text, values);
            }
            const name = statementName(text);
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

const statementNames = new Map<string, string>();

/** A prepared statement's name: a hash of its text, remembered for the texts that recur (hashing a long text costs more than looking it up). */
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `k${createHash('sha1').update(text).digest('base64url').slice(0, 20)}`;
    if (statementNames.size >= MAX_PREPARED_PER_CONNECTION) statementNames.clear();
    statementNames.set(text, name);
  }
  return name;
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

/** Where the embedded PostgreSQL server keeps its data for a config's data folder. */
export function embeddedDirFor(dataDir: string): string {
  return path.join(dataDir, 'postgres');
}

/**
 * Database errors that mean "try again later", not "this message is bad". A server on a Unix
 * socket (the embedded one, or a DATABASE_URL with `?host=/folder`) that is stopped or restarting
 * has removed its socket file: pg's connect fails with ENOENT there, not ECONNREFUSED.
 */
export function isTemporaryDatabaseError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  const code = e?.code ?? '';
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', '57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08006', '40001', '40P01'].includes(code)
    || /Connection terminated|connect ECONNREFUSED|connect ENOENT .*\.s\.PGSQL\.\d+|the database system is (starting|shutting) up|Client has encountered a connection error/i.test(e?.message ?? '');
}
