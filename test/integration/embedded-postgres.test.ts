// The embedded PostgreSQL server (issue 14) on its own data folders, outside the tier's server:
// under root it runs as the unprivileged `postgres` user in a folder nobody else can enter (and
// refuses clearly when no such user exists); users share one server and the last one out stops
// it; racing starts make one postmaster; a stale postmaster.pid is no obstacle; a data folder too
// deep for a Unix socket path still works; a folder with other content is never overwritten;
// missing shared-library links are restored; closing a handle waits for its connections to end.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  acquireEmbeddedServer, removeEmbeddedData, restoreLibraryLinks, serverUser, socketDirFor, type EmbeddedLease,
} from '../../src/db/embedded-postgres.js';
import { openDatabase } from '../../src/db/database.js';
import { noPostmasterWithin, postmastersOf } from '../support/postmasters.js';
import { withDatabase } from '../support/global-setup.js';
import { serverUrl } from '../support/test-database.js';
import { tempDir } from '../support/temp-dirs.js';

const asRoot = process.getuid?.() === 0;
const folders: string[] = [];
let base: string;

/** A fresh folder the server's user can enter (0755: readable, not writable by others). */
function folder(): string {
  const dir = tempDir('casemail-epg-');
  chmodSync(dir, 0o755);
  folders.push(dir);
  return dir;
}

/** A stopped, initialised data folder copied from `base` (cp -a keeps owner and mode). */
function copyOfBase(): string {
  const dir = path.join(folder(), 'pg');
  execFileSync('cp', ['-a', base, dir]);
  return dir;
}

async function currentUser(lease: EmbeddedLease): Promise<string> {
  const client = new pg.Client(lease.connection);
  await client.connect();
  try {
    return (await client.query<{ u: string }>('select current_user as u')).rows[0]!.u;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  base = path.join(folder(), 'pg');
  const lease = await acquireEmbeddedServer(base, { disposable: true });
  await lease.release();
}, 120_000);

afterAll(() => {
  for (const dir of folders) {
    removeEmbeddedData(path.join(dir, 'pg'));
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('embedded PostgreSQL server', () => {
  it(`runs as ${asRoot ? 'the unprivileged postgres user (we are root)' : 'ourselves (we are not root)'}, in a data folder nobody else can enter`, async () => {
    const dir = copyOfBase();
    const lease = await acquireEmbeddedServer(dir);
    try {
      const expectedUid = asRoot ? serverUser()!.uid : process.getuid!();
      if (asRoot) expect(expectedUid).not.toBe(0);
      const [postmaster] = postmastersOf(dir);
      expect(postmaster?.pid).toBe(lease.pid);
      expect(postmaster?.uid).toBe(expectedUid);
      const mode = statSync(dir).mode & 0o777;
      expect(statSync(dir).uid).toBe(expectedUid);
      expect(mode & 0o077).toBe(0); // not world- (or group-) writable, readable or enterable
      expect(statSync(path.dirname(dir)).mode & 0o002).toBe(0); // nothing above was made world-writable
      // Nothing on TCP: the socket is in the data folder.
      expect(lease.connection.host).toBe(dir);
      expect(existsSync(path.join(dir, '.s.PGSQL.5432'))).toBe(true);
      expect(await currentUser(lease)).toBe('postgres');
    } finally {
      await lease.release();
    }
    expect(await noPostmasterWithin(dir, 30_000)).toEqual([]);
  }, 60_000);

  it.runIf(asRoot)('as root with no unprivileged user to run as, refuses clearly and creates nothing', async () => {
    const dir = path.join(folder(), 'pg');
    await expect(acquireEmbeddedServer(dir, { runAsUser: 'casemail-no-such-user' }))
      .rejects.toThrow(/refuses to run as root .*no "casemail-no-such-user" user.*set DATABASE_URL .*or run casemail as a normal user/);
    expect(existsSync(dir)).toBe(false);
  });

  it('is shared: a second user reuses the running server, and only the last one out stops it (a dead registration does not count)', async () => {
    const dir = copyOfBase();
    const first = await acquireEmbeddedServer(dir);
    const second = await acquireEmbeddedServer(dir);
    expect(first.started).toBe(true);
    expect(second.started).toBe(false);
    expect(second.pid).toBe(first.pid);

    // A process that registered and then died (as a SIGKILLed casemail would) keeps nothing alive.
    const dead = spawn(process.execPath, ['-e', '']);
    await once(dead, 'exit');
    writeFileSync(path.join(`${dir}.clients`, `${dead.pid}-killed`), '');

    await first.release();
    expect(postmastersOf(dir).map((p) => p.pid)).toEqual([first.pid]);
    expect(await currentUser(second)).toBe('postgres');
    await second.release();
    expect(await noPostmasterWithin(dir, 30_000)).toEqual([]);
  }, 60_000);

  it('two users starting at the same moment make one postmaster', async () => {
    const dir = copyOfBase();
    const leases = await Promise.all([acquireEmbeddedServer(dir), acquireEmbeddedServer(dir)]);
    try {
      expect(leases.filter((l) => l.started)).toHaveLength(1);
      expect(leases[0]!.pid).toBe(leases[1]!.pid);
      expect(postmastersOf(dir)).toHaveLength(1);
    } finally {
      await Promise.all(leases.map((l) => l.release()));
    }
    expect(await noPostmasterWithin(dir, 30_000)).toEqual([]);
  }, 60_000);

  it('a user arriving while the server is stopping waits for it and starts a fresh one', async () => {
    const dir = copyOfBase();
    const first = await acquireEmbeddedServer(dir);
    // What the last user out does (it waits only a little for the exit): ask for a fast shutdown.
    process.kill(first.pid, 'SIGINT');
    const second = await acquireEmbeddedServer(dir);
    try {
      expect(await currentUser(second)).toBe('postgres');
      expect(postmastersOf(dir).map((p) => p.pid)).toEqual([second.pid]);
    } finally {
      await first.release();
      await second.release();
    }
    expect(await noPostmasterWithin(dir, 30_000)).toEqual([]);
  }, 60_000);

  it('starts over a stale postmaster.pid whose pid now belongs to another live process', async () => {
    const dir = copyOfBase();
    // Owned by the server's user: PostgreSQL itself treats another user's pid as stale.
    const user = serverUser();
    const decoy = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', ...(user ? { uid: user.uid, gid: user.gid } : {}) });
    try {
      // What a server killed with the machine leaves behind, its pid since reused.
      writeFileSync(path.join(dir, 'postmaster.pid'), `${decoy.pid}\n${dir}\n1796000000\n5432\n${dir}\n\n  0  0\nready   \n`);
      const lease = await acquireEmbeddedServer(dir);
      try {
        expect(lease.started).toBe(true);
        expect(lease.pid).not.toBe(decoy.pid);
        expect(postmastersOf(dir).map((p) => p.pid)).toEqual([lease.pid]);
      } finally {
        await lease.release();
      }
      expect(decoy.exitCode).toBeNull(); // the unrelated process was left alone
    } finally {
      decoy.kill();
    }
  }, 60_000);

  it('puts the socket in a short private folder when the data folder is too deep for a Unix socket path', async () => {
    let deep = folder();
    while (deep.length < 120) {
      deep = path.join(deep, 'a-rather-long-folder-name');
      mkdirSync(deep, { mode: 0o755 });
    }
    const dir = path.join(deep, 'pg');
    execFileSync('cp', ['-a', base, dir]);
    expect(socketDirFor(dir)).not.toBe(dir);
    const lease = await acquireEmbeddedServer(dir);
    try {
      expect(lease.connection.host).toBe(socketDirFor(dir));
      expect(Buffer.byteLength(path.join(lease.connection.host, '.s.PGSQL.5432'))).toBeLessThan(107);
      expect(await currentUser(lease)).toBe('postgres');
    } finally {
      await lease.release();
      removeEmbeddedData(dir);
    }
  }, 60_000);

  it('closing a database handle waits for its connections to end before the server stops (no stray connection errors)', async () => {
    const dir = copyOfBase();
    const errors: unknown[] = [];
    const onError = (err: unknown) => errors.push(err);
    process.on('uncaughtException', onError);
    try {
      for (let round = 0; round < 5; round++) {
        const handle = await openDatabase({ databaseUrl: null, embeddedDir: dir, poolSize: 10 });
        // Ten connections at once, each left idle in the pool.
        await Promise.all(Array.from({ length: 10 }, () => sql`select pg_sleep(0.05)`.execute(handle.db)));
        await handle.close();
        expect(await noPostmasterWithin(dir, 30_000)).toEqual([]);
      }
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(errors).toEqual([]);
  }, 120_000);

  it('never initialises over a folder that has content but is no data folder (the content stays)', async () => {
    const dir = path.join(folder(), 'pg');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'notes.txt'), 'not a database');
    await expect(acquireEmbeddedServer(dir)).rejects.toThrow(/exists but is not a PostgreSQL data folder .*set DATABASE_URL/);
    expect(readFileSync(path.join(dir, 'notes.txt'), 'utf8')).toBe('not a database');
    expect(postmastersOf(dir)).toEqual([]);
  });

  it('restores the shared-library links the platform package lists when its postinstall did not run', () => {
    const root = folder();
    mkdirSync(path.join(root, 'native', 'lib'), { recursive: true });
    writeFileSync(path.join(root, 'native', 'lib', 'libdemo.so.5.18'), 'library bytes');
    writeFileSync(path.join(root, 'native', 'pg-symlinks.json'), JSON.stringify([
      { source: 'native/lib/libdemo.so.5.18', target: 'native/lib/libdemo.so.5' },
      { source: 'native/lib/libdemo.so.5.18', target: 'native/lib/libdemo.so' },
    ]));
    restoreLibraryLinks(root);
    for (const name of ['libdemo.so.5', 'libdemo.so']) {
      const link = path.join(root, 'native', 'lib', name);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(readlinkSync(link)).toBe('libdemo.so.5.18'); // relative: survives moving node_modules
      expect(readFileSync(link, 'utf8')).toBe('library bytes');
    }
    restoreLibraryLinks(root); // idempotent
  });
});

describe('database handle on a URL', () => {
  it('close() returns only once every connection has ended, so dropping the database right after raises no stray errors', async () => {
    const url = serverUrl();
    const errors: unknown[] = [];
    const onError = (err: unknown) => errors.push(err);
    process.on('uncaughtException', onError);
    try {
      for (let round = 0; round < 5; round++) {
        const name = `casemail_close_${process.pid}_${round}`;
        const admin = new pg.Client({ connectionString: url });
        await admin.connect();
        try {
          await admin.query(`create database ${name}`);
          const handle = await openDatabase({ databaseUrl: withDatabase(url, name), poolSize: 10 });
          await Promise.all(Array.from({ length: 10 }, () => sql`select pg_sleep(0.05)`.execute(handle.db)));
          await handle.close();
          await admin.query(`drop database ${name} with (force)`);
        } finally {
          await admin.end();
        }
      }
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(errors).toEqual([]);
  }, 120_000);
});
