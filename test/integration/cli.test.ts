// The built `casemail` command (issue 2, "Done when"), spawned as `node bin/casemail.js …`: directory
// import/export round trips and the three-bad-rows file that changes nothing; doctor naming the
// failed check; ingest exit codes (0 stored, 75 when the database is unreachable); and local mode
// on the embedded PostgreSQL server (issue 14) — `casemail start` with no config takes a message
// over SMTP and writes the acknowledgement to var/outbox; `case list`/`case show` work while it
// runs; after a SIGKILL the next start reuses the running server on the same data.
//
// Each test has its own data folder. Commands that only need a database run against this test's
// own database on the tier's server (DATABASE_URL, or the embedded test server). Local-mode tests
// copy one migrated embedded data folder (made once) so that only the cold-start test pays initdb.
// Needs the build: `npx tsc -p tsconfig.build.json`.
import { once } from 'node:events';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import nodemailer from 'nodemailer';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseDirectory, type DirectoryFile } from '../../src/directory/directory-file.js';
import { buildMail } from '../support/mail-builder.js';
import { REPO, headerOf, runCli } from '../support/service-harness.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { noPostmasterWithin, postmastersOf } from '../support/postmasters.js';

const CLI_TIMEOUT = 120_000;
const START_TIMEOUT_MS = 60_000;
const CLOSED_PORT_URL = 'postgres://postgres@127.0.0.1:1/nope';
const example = (name: string) => path.join(REPO, 'examples', name);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

let embeddedTemplate: string | null = null;

/**
 * A temp folder removed after the test (after any service using it has been stopped). Under
 * root the embedded server runs as `postgres`, which must be able to enter it (0755, not writable).
 */
function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

beforeAll(async () => {
  if (!existsSync(path.join(REPO, 'dist/src/cli/main.js'))) {
    throw new Error('dist/ is missing: run `npx tsc -p tsconfig.build.json` before the CLI tests');
  }
  // One migrated embedded data folder to copy into each local-mode test's data folder (initdb
  // costs seconds; copying a stopped server's folder costs milliseconds).
  embeddedTemplate = mkdtempSync(path.join(tmpdir(), 'casemail-cli-template-'));
  chmodSync(embeddedTemplate, 0o755);
  const env = { CASEMAIL_CONFIG: writeConfig(embeddedTemplate, {}) };
  const r = await runCli(['migrate'], env);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}, CLI_TIMEOUT);

afterAll(() => {
  if (embeddedTemplate) rmSync(embeddedTemplate, { recursive: true, force: true });
});

function writeConfig(dir: string, extra: Record<string, unknown>): string {
  const file = path.join(dir, 'casemail.json');
  writeFileSync(file, JSON.stringify({ dataDir: dir, imap: { mailboxes: [] }, ...extra }));
  return file;
}

interface Setup {
  dir: string;
  /** Environment for runCli: CASEMAIL_CONFIG, and DATABASE_URL on PostgreSQL. */
  env: Record<string, string>;
}

/**
 * A temp data folder with its config file. `database: 'test'` points the command at this test's
 * own database on the tier's server (DATABASE_URL); 'embedded' is local mode: no DATABASE_URL, a
 * copy of the migrated embedded data folder under the data folder.
 */
async function setup(database: 'test' | 'embedded' = 'test', extra: Record<string, unknown> = {}): Promise<Setup> {
  const dir = tempDir('casemail-cli-');
  const env: Record<string, string> = { CASEMAIL_CONFIG: writeConfig(dir, extra) };
  if (database === 'test') {
    const db: TestDatabase = await createTestDatabase();
    cleanups.push(() => db.close());
    env.DATABASE_URL = db.url;
  } else {
    // cp -a keeps the owner (the server's user under root) and the 0700 mode PostgreSQL insists on.
    execFileSync('cp', ['-a', path.join(embeddedTemplate!, 'postgres'), path.join(dir, 'postgres')]);
  }
  return { dir, env };
}

async function cli(args: string[], env: Record<string, string>, input?: Buffer) {
  const r = await runCli(args, env, input);
  return { ...r, output: `${r.stdout}${r.stderr}` };
}

function parsedDirectory(text: string, format: 'json' | 'csv'): DirectoryFile {
  const parsed = parseDirectory(text, format);
  if (!parsed.ok) throw new Error(`not a valid ${format} directory:\n${text}\n${JSON.stringify(parsed.problems)}`);
  return parsed.file;
}

/** A `casemail start` child process whose log lines can be awaited. */
interface Service {
  child: ChildProcess;
  output(): string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
  waitForLog(text: string, timeoutMs: number): Promise<void>;
}

function spawnStart(cwd: string, env: Record<string, string>, args: string[] = ['start']): Service {
  const child = spawn(process.execPath, [path.join(REPO, 'bin/casemail.js'), ...args], {
    cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (b: Buffer) => {
    out += b.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return {
    child,
    output: () => out,
    exited,
    waitForLog(text, timeoutMs) {
      return new Promise((resolve, reject) => {
        const done = (err?: Error) => {
          clearTimeout(timer);
          listeners.delete(check);
          child.off('exit', onExit);
          if (err) reject(err);
          else resolve();
        };
        const check = () => {
          if (out.includes(text)) done();
        };
        const onExit = () => done(new Error(`casemail start exited before logging "${text}":\n${out}`));
        const timer = setTimeout(() => done(new Error(`no "${text}" within ${timeoutMs} ms:\n${out}`)), timeoutMs);
        listeners.add(check);
        child.once('exit', onExit);
        check();
      });
    },
  };
}

/** Resolves with the exit code, or rejects when the process has not exited by the deadline. */
async function exitWithin(service: Service, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`casemail start did not exit within ${ms} ms of SIGINT:\n${service.output()}`)), ms);
  });
  try {
    const [code] = await Promise.race([service.exited, deadline]);
    return code;
  } finally {
    clearTimeout(timer);
  }
}

/** Polls a folder (observable state, short interval, bounded) until `pick` finds a file. */
async function waitForFile(dir: string, pick: (file: string) => boolean, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = existsSync(dir) ? readdirSync(dir).map((f) => path.join(dir, f)).find(pick) : undefined;
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no matching file in ${dir} within ${timeoutMs} ms (has: ${existsSync(dir) ? readdirSync(dir).join(', ') : 'no folder'})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe(`casemail directory on ${databaseKind()}`, () => {
  it('imports examples/directory.json, exports it back, and a file with three bad rows changes nothing', async () => {
    const { env } = await setup();
    const imported = await cli(['directory', 'import', example('directory.json')], env);
    expect(imported.output).toContain('imported 2 organisations, 2 contracts, 3 contacts, 2 engineers');
    expect(imported.code).toBe(0);

    // Logging at info must not end up in the exported data (stdout is the file).
    const exported = await cli(['directory', 'export'], { ...env, LOG_LEVEL: 'info' });
    expect(exported.code).toBe(0);
    expect(parsedDirectory(exported.stdout, 'json')).toEqual(parsedDirectory(readFileSync(example('directory.json'), 'utf8'), 'json'));

    const bad = await cli(['directory', 'import', example('directory-bad-rows.csv')], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('3 bad row(s)');
    expect(bad.stderr).toContain('nothing was changed');
    expect(bad.stderr).toMatch(/line 3 \(contract\): startsOn: .*date/);
    expect(bad.stderr).toMatch(/line 4 \(contact\): address: not an email address/);
    expect(bad.stderr).toMatch(/line 6 \(engineer\): role: /);
    expect(bad.stdout).toBe('');

    // The bad file's good rows (Carol, a new contact) were not applied either.
    const after = await cli(['directory', 'export'], env);
    expect(after.code).toBe(0);
    expect(after.stdout).toBe(exported.stdout);
    expect(after.stdout).not.toContain('carol@acme.example');
  }, CLI_TIMEOUT);

  it('imports examples/directory.csv and exports the same CSV directory with --format csv', async () => {
    const { env } = await setup();
    const imported = await cli(['directory', 'import', example('directory.csv')], env);
    expect(imported.code).toBe(0);
    const exported = await cli(['directory', 'export', '--format', 'csv'], env);
    expect(exported.code).toBe(0);
    const original = readFileSync(example('directory.csv'), 'utf8');
    expect(parsedDirectory(exported.stdout, 'csv')).toEqual(parsedDirectory(original, 'csv'));
    expect(exported.stdout.split('\n')[0]).toBe(original.split('\n')[0]);
  }, CLI_TIMEOUT);
});

describe(`casemail doctor on ${databaseKind()}`, () => {
  it('with DATABASE_URL at a closed port exits non-zero and names the database check and why', async () => {
    const dir = tempDir('casemail-cli-');
    const r = await cli(['doctor'], { CASEMAIL_CONFIG: writeConfig(dir, {}), DATABASE_URL: CLOSED_PORT_URL });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(/^ok\s+config\s/m);
    expect(r.stdout).toMatch(/^fail\s+database\s+DATABASE_URL: .*ECONNREFUSED/m);
    // the other checks still run and report
    expect(r.stdout).toMatch(/^skip\s+imap\s/m);
    expect(r.stdout).toMatch(/^skip\s+smtp\s/m);
  }, CLI_TIMEOUT);

  it('with a good setup exits 0 with every check ok or skipped', async () => {
    const { env } = await setup();
    const r = await cli(['doctor'], env);
    expect(r.stdout).toMatch(/^ok\s+database\s+postgres at /m);
    expect(r.stdout).toMatch(/^ok\s+migrations\s+up to date/m);
    expect(r.stdout).toMatch(/^ok\s+clock\s/m);
    expect(r.stdout).not.toMatch(/^fail/m);
    expect(r.code).toBe(0);
  }, CLI_TIMEOUT);

  it('warns (exit 0) when the outbox is not vacuumed by the server, and names the table turned off', async () => {
    const db: TestDatabase = await createTestDatabase();
    cleanups.push(() => db.close());
    const dir = tempDir('casemail-cli-');
    const env = { CASEMAIL_CONFIG: writeConfig(dir, {}), DATABASE_URL: db.url };
    const server = (await sql<{ autovacuum: string }>`show autovacuum`.execute(db.db)).rows[0]!.autovacuum;
    const before = await cli(['doctor'], env);
    expect(before.stdout).toMatch(server === 'on' ? /^ok\s+vacuum\s+autovacuum on/m : /^warn\s+vacuum\s+autovacuum is off on this server/m);
    await sql`alter table outbox set (autovacuum_enabled = false)`.execute(db.db);
    const after = await cli(['doctor'], env);
    expect(after.stdout).toMatch(server === 'on' ? /^warn\s+vacuum\s+autovacuum is off for outbox:/m : /^warn\s+vacuum\s+autovacuum is off on this server/m);
    expect(after.code).toBe(0);
  }, CLI_TIMEOUT);
});

describe(`casemail ingest on ${databaseKind()}`, () => {
  it('stores a message from an entitled contact (exit 0) and `case list` shows the case', async () => {
    const { env } = await setup();
    expect((await cli(['directory', 'import', path.join(REPO, 'test/fixtures/directory/entitled.json')], env)).code).toBe(0);
    const subject = `Nightly export stops with E42 ${Date.now()}`;
    const r = await cli(['ingest'], env, buildMail({ from: 'Bob Builder <bob@acme.example>', subject }));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const number = /^processed #(\d+)/.exec(r.stdout)?.[1];
    expect(number, r.stdout).toBeDefined();

    const list = await cli(['case', 'list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^Case #${number} .*Acme Industries\\s+${subject}$`, 'm'));
  }, CLI_TIMEOUT);

  it('refuses an empty message with exit 65 (EX_DATAERR) and a clear error', async () => {
    const { env } = await setup();
    const r = await cli(['ingest'], env, Buffer.alloc(0));
    expect(r.stderr).toMatch(/^casemail ingest: refused: empty message/m);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(65);
  }, CLI_TIMEOUT);

  it('exits 75 (EX_TEMPFAIL) when DATABASE_URL points at a closed port', async () => {
    const dir = tempDir('casemail-cli-');
    const r = await cli(['ingest'], { CASEMAIL_CONFIG: writeConfig(dir, {}), DATABASE_URL: CLOSED_PORT_URL }, buildMail());
    expect(r.stderr).toMatch(/database unavailable: .*ECONNREFUSED/);
    expect(r.code).toBe(75);
  }, CLI_TIMEOUT);
});

describe('read commands never create a database', () => {
  it('`case list/show`, `held list/show` and `directory export` with no DATABASE_URL and no embedded database refuse (exit 1) and leave nothing behind', async () => {
    const dir = tempDir('casemail-nodb-');
    const env = { CASEMAIL_CONFIG: writeConfig(dir, {}) };
    const commands = [['case', 'list'], ['case', 'list', '--json'], ['case', 'show', '1', '--json'], ['held', 'list', '--json'], ['held', 'show', '1'], ['directory', 'export']];
    for (const args of commands) {
      const r = await cli(args, env);
      expect(r.stderr, args.join(' ')).toContain(`no casemail database at ${path.join(dir, 'postgres')}; run \`casemail start\` first, or set DATABASE_URL / --config`);
      expect(r.stdout, args.join(' ')).toBe('');
      expect(r.code, args.join(' ')).toBe(1);
    }
    // No cluster, no client registrations, no lock: only the config file.
    expect(readdirSync(dir)).toEqual(['casemail.json']);
    expect(postmastersOf(path.join(dir, 'postgres'))).toEqual([]);
  }, CLI_TIMEOUT);

  it('a read command names the database it opened on stderr (DATABASE_URL)', async () => {
    const { env } = await setup();
    const r = await cli(['case', 'list', '--json'], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
    expect(r.stderr).toMatch(/^database: postgres:\/\/[^\n]*\n$/);
  }, CLI_TIMEOUT);
});

describe('local mode: `casemail start` with no configuration (npm start)', () => {
  it('starts, creates the embedded database under ./var, answers a mail over SMTP into var/outbox, and exits 0 within 5 s of SIGINT', async () => {
    const cwd = tempDir('casemail-local-');
    const env: Record<string, string> = {};
    let port = 2525;
    if (!(await portIsFree(2525))) {
      // Something else holds the default port: the same defaults, except the port.
      port = await freePort();
      env.CASEMAIL_CONFIG = path.join(cwd, 'casemail.json');
      writeFileSync(env.CASEMAIL_CONFIG, JSON.stringify({ smtpIntake: { port } }));
      console.warn(`port 2525 is taken; local-mode test uses smtpIntake.port ${port}`);
    }
    const service = spawnStart(cwd, env);
    await service.waitForLog('casemail running', START_TIMEOUT_MS);
    const log = service.output();
    expect(log).toContain(`"dataDir":"${path.join(cwd, 'var')}"`);
    expect(log).toContain(`"location":"${path.join(cwd, 'var', 'postgres')}"`);
    expect(log).toContain('embedded database migrated');
    expect(log).toContain('DEMO directory loaded');
    expect(log).toMatch(new RegExp(`"port":${port}.*SMTP intake listening`));
    expect(existsSync(path.join(cwd, 'var', 'postgres', 'PG_VERSION'))).toBe(true);
    expect(postmastersOf(path.join(cwd, 'var', 'postgres'))).toHaveLength(1);

    const messageId = `<local-${Date.now()}@demo.example>`;
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
    try {
      await transport.sendMail({
        from: 'Demo Customer <customer@demo.example>', to: 'support@casemail.localhost',
        subject: 'Cannot log in', text: 'Since this morning the login page says error 500.', messageId,
      });
    } finally {
      transport.close();
    }

    const outbox = path.join(cwd, 'var', 'outbox');
    const ack = await waitForFile(outbox, (f) => f.endsWith('.eml') && headerOf(readFileSync(f), 'In-Reply-To') === messageId, 30_000);
    const raw = readFileSync(ack);
    expect(headerOf(raw, 'Subject')).toMatch(/^\[Case #\d+\] Cannot log in$/);
    expect(headerOf(raw, 'To')).toBe('customer@demo.example');

    service.child.kill('SIGINT');
    expect(await exitWithin(service, 5_000)).toBe(0);
    expect(service.output()).toContain('"msg":"stopped"');
    // `casemail start` started the embedded server and, the last user out, stopped it.
    expect(await noPostmasterWithin(path.join(cwd, 'var', 'postgres'), 30_000)).toEqual([]);
  }, CLI_TIMEOUT);

  it('`casemail --data-dir data start --port N` with no config file: the data folder is read from the working directory, and a read command given the same folder by CASEMAIL_DATA_DIR prints only its answer', async () => {
    const cwd = tempDir('casemail-flags-');
    mkdirSync(path.join(cwd, 'data'), { mode: 0o755 });
    execFileSync('cp', ['-a', path.join(embeddedTemplate!, 'postgres'), path.join(cwd, 'data', 'postgres')]);
    const port = await freePort();
    const service = spawnStart(cwd, { LOG_FORMAT: 'json' }, ['--data-dir', 'data', 'start', '--port', String(port)]);
    await service.waitForLog('casemail running', START_TIMEOUT_MS);
    expect(service.output()).toContain(`"dataDir":"${path.join(cwd, 'data')}"`);
    expect(service.output()).toMatch(new RegExp(`"port":${port}.*SMTP intake listening`));
    const subject = `Licence server unreachable ${Date.now()}`;
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
    try {
      await transport.sendMail({ from: 'customer@demo.example', to: 'support@casemail.localhost', subject, text: 'The licence server does not answer since 9:00.' });
    } finally {
      transport.close();
    }
    await waitForFile(path.join(cwd, 'data', 'outbox'), (f) => f.endsWith('.eml') && (headerOf(readFileSync(f), 'Subject') ?? '').endsWith(subject), 30_000);
    // No LOG_LEVEL: a read command's own start-up logs (database opened, ...) stay off stderr.
    const list = await cli(['case', 'list'], { CASEMAIL_DATA_DIR: path.join(cwd, 'data'), LOG_LEVEL: '' });
    expect(list.code).toBe(0);
    expect(list.stderr).toBe(`database: ${path.join(cwd, 'data', 'postgres')}\n`);
    expect(list.stdout).toContain(subject);
    service.child.kill('SIGINT');
    expect(await exitWithin(service, 10_000)).toBe(0);
    expect(await noPostmasterWithin(path.join(cwd, 'data', 'postgres'), 30_000)).toEqual([]);
  }, CLI_TIMEOUT);

  it('`case list` and `case show N` work while `casemail start` runs on the embedded server, and the service still stops it', async () => {
    const { dir, env } = await setup('embedded', { smtpIntake: { port: 0 }, demoDirectory: true });
    const service = spawnStart(dir, { ...env, LOG_LEVEL: 'info' });
    await service.waitForLog('casemail running', START_TIMEOUT_MS);
    const port = Number(/"port":(\d+)[^\n]*SMTP intake listening/.exec(service.output())?.[1]);
    const subject = `Report export hangs ${Date.now()}`;
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
    try {
      await transport.sendMail({ from: 'customer@demo.example', to: 'support@casemail.localhost', subject, text: 'It hangs at 99 %.' });
    } finally {
      transport.close();
    }

    const list = await cli(['case', 'list'], env);
    // A read command names the database it opened, on stderr (stdout is its result).
    expect(list.stderr).toBe(`database: ${path.join(dir, 'postgres')}\n`);
    expect(list.code).toBe(0);
    const number = new RegExp(`^Case #(\\d+) .*${subject}$`, 'm').exec(list.stdout)?.[1];
    expect(number, list.stdout).toBeDefined();
    const shown = await cli(['case', 'show', number!, '--json'], env);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ number: Number(number), subject });
    // The commands used the service's server and left it running.
    expect(postmastersOf(path.join(dir, 'postgres'))).toHaveLength(1);

    service.child.kill('SIGINT');
    expect(await exitWithin(service, 10_000)).toBe(0);
    expect(await noPostmasterWithin(path.join(dir, 'postgres'), 30_000)).toEqual([]);
  }, CLI_TIMEOUT);

  it('after a SIGKILL of `casemail start`, the next start reuses the running server on the same data: one postmaster', async () => {
    const { dir, env } = await setup('embedded', { smtpIntake: { port: 0 }, demoDirectory: false });
    expect((await cli(['directory', 'import', path.join(REPO, 'test/fixtures/directory/entitled.json')], env)).code).toBe(0);
    const first = spawnStart(dir, { ...env, LOG_LEVEL: 'info' });
    await first.waitForLog('casemail running', START_TIMEOUT_MS);
    const stored = await cli(['ingest'], env, buildMail({ from: 'Bob Builder <bob@acme.example>', subject: 'Before the kill' }));
    expect(stored.code, stored.stderr).toBe(0);
    const [postmaster] = postmastersOf(path.join(dir, 'postgres'));
    expect(postmaster).toBeDefined();

    first.child.kill('SIGKILL');
    await first.exited;
    // The server outlives the killed service (it runs in its own session)...
    expect(postmastersOf(path.join(dir, 'postgres')).map((p) => p.pid)).toEqual([postmaster!.pid]);

    const second = spawnStart(dir, { ...env, LOG_LEVEL: 'info' });
    await second.waitForLog('casemail running', START_TIMEOUT_MS);
    // ...and the next start reuses it: the same postmaster, no second one.
    expect(postmastersOf(path.join(dir, 'postgres')).map((p) => p.pid)).toEqual([postmaster!.pid]);
    const list = await cli(['case', 'list'], env);
    expect(list.stdout).toMatch(/^Case #\d+ .*Before the kill$/m);

    second.child.kill('SIGINT');
    expect(await exitWithin(second, 10_000)).toBe(0);
    expect(await noPostmasterWithin(path.join(dir, 'postgres'), 30_000)).toEqual([]);
  }, CLI_TIMEOUT);
});
