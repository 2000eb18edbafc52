// What every service command needs: the validated configuration, the root logger and, when asked,
// the database (PostgreSQL from DATABASE_URL, else the embedded server under the data folder, which
// every command shares). Local mode migrates automatically; a PostgreSQL server named by
// DATABASE_URL is migrated explicitly with `casemail migrate`. Read-only commands open only a
// database that exists: they never initdb an empty one and then answer "no cases".
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig, type Config } from '../config/config.js';
import { openDatabase, migrateToLatest, pendingMigrations, embeddedDirFor, type DatabaseHandle } from '../db/database.js';
import { createLogger, type Logger } from '../log/logger.js';
import { terminalLine, terminalText } from './terminal-text.js';

export interface GlobalOptions {
  config?: string;
  /** `--data-dir`: the data folder (embedded database, file outbox), from the working directory. */
  dataDir?: string;
}

export interface ContextOptions {
  /** Read-only commands: log warnings and errors only (LOG_LEVEL still wins). */
  quiet?: boolean;
  /** Settings from the command line, merged over the file. */
  overrides?: Record<string, unknown>;
}

export interface AppContext {
  config: Config;
  logger: Logger;
}

/**
 * Loads the configuration or prints every problem and returns null. The log goes to stderr, as
 * standard output is the command's result (`directory export > file`); `start` logs to stdout.
 */
export function loadContext(opts: GlobalOptions, logTo: 'stdout' | 'stderr' = 'stderr', more: ContextOptions = {}): AppContext | null {
  try {
    const config = loadConfig({ configFile: opts.config ?? null, dataDir: opts.dataDir ?? null, ...(more.overrides ? { overrides: more.overrides } : {}) });
    // A read command's output is the answer; its own start-up chatter (database opened, ...) is not.
    const level = process.env.LOG_LEVEL || (more.quiet ? 'warn' : config.settings.logLevel);
    return { config, logger: createLogger(level, logTo === 'stdout' ? 1 : 2) };
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`casemail: ${terminalText(err.message)}\n`);
      return null;
    }
    throw err;
  }
}

/** A read command found no database to read: nothing was created. */
export class NoDatabaseError extends Error {
  readonly code = 'no_database';
  constructor(readonly dir: string) {
    super(`no casemail database at ${dir}; run \`casemail start\` first, or set DATABASE_URL / --config`);
  }
}

export interface OpenAppDatabaseOptions {
  migrate: 'auto' | 'never';
  /**
   * 'create' (the default; write commands and the service): the embedded server is initialised
   * on first use. 'existing' (read commands): refused with NoDatabaseError unless DATABASE_URL is
   * set or the embedded data folder is already a PostgreSQL cluster (it has PG_VERSION).
   */
  create?: 'create' | 'existing';
}

export async function openAppDatabase(ctx: AppContext, { migrate, create = 'create' }: OpenAppDatabaseOptions): Promise<DatabaseHandle> {
  const { config, logger } = ctx;
  if (create === 'existing' && !config.secrets.databaseUrl) {
    const dir = path.resolve(embeddedDirFor(config.paths.dataDir));
    // initdb renames its folder into place once complete, so PG_VERSION means a whole cluster.
    if (!existsSync(path.join(dir, 'PG_VERSION'))) throw new NoDatabaseError(dir);
  }
  const handle = await openDatabase({
    databaseUrl: config.secrets.databaseUrl,
    embeddedDir: embeddedDirFor(config.paths.dataDir),
    // A dropped connection is survived (the pool opens a new one); the operator still sees it.
    onConnectionError: (err) => logger.warn({ err }, 'database connection lost'),
  });
  logger.info({ database: handle.kind, location: handle.location }, 'database opened');
  try {
    if (handle.kind === 'embedded' && migrate === 'auto') {
      const result = await migrateToLatest(handle.db, config.settings.caseNumber.start);
      const applied = result.results?.filter((r) => r.status === 'Success').map((r) => r.migrationName) ?? [];
      if (applied.length) logger.info({ applied }, 'embedded database migrated');
    } else if (migrate === 'auto') {
      const pending = await pendingMigrations(handle.db);
      if (pending.length) {
        throw Object.assign(new Error(`database has pending migrations (${pending.join(', ')}): run \`casemail migrate\``), { code: 'migrations_pending' });
      }
    }
  } catch (err) {
    // The caller never gets the handle: close it here, or the pool (and an embedded server this
    // process started, with no client left) would outlive the failure.
    await handle.close().catch(() => {});
    throw err;
  }
  return handle;
}

/**
 * Opens the database for one operator command, or says why not in one line (DATABASE_URL
 * unreachable, no embedded server for this platform, no database yet) and returns null. A read
 * command (`create: 'existing'`) names the database it opened on stderr: stdout is its result.
 */
export async function openForCommand(ctx: AppContext, command: string, opts: OpenAppDatabaseOptions): Promise<DatabaseHandle | null> {
  let handle: DatabaseHandle;
  try {
    handle = await openAppDatabase(ctx, opts);
  } catch (err) {
    const text = err instanceof NoDatabaseError ? err.message : `cannot open the database: ${(err as Error).message}`;
    process.stderr.write(`casemail ${command}: ${terminalLine(text)}\n`);
    return null;
  }
  if (opts.create === 'existing') process.stderr.write(`database: ${terminalLine(handle.location)}\n`);
  return handle;
}
