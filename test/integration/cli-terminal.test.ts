// The built `casemail` command against mail that carries terminal escapes (issue 11): a customer
// writes through the real SMTP intake of `casemail start` with an encoded subject holding OSC,
// CSI, C1 and bidi controls; then `case list`, `case show`, `directory export` and `doctor` print
// it as visible escapes (JSON stays JSON and parses to the same text). Needs the build (dist/).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, runCli } from '../support/service-harness.js';
import { createTestDatabase, databaseKind, type TestDatabase } from '../support/test-database.js';
import { tempDir } from '../support/temp-dirs.js';

const TIMEOUT = 120_000;
// OSC 0 (retitle the window), CSI clear screen, one-byte C1 CSI, DEL, a right-to-left override.
const HOSTILE_SUBJECT = 'Invoice \x1b]0;pwned\x07 \x1b[2J \x9b31m red \x7f \u202egnp.exe';
// eslint-disable-next-line no-control-regex
const RAW_UNSAFE = /[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u202e\u2066]/;

describe(`casemail CLI output of hostile mail on ${databaseKind()}`, () => {
  let dir: string;
  let env: Record<string, string>;
  let tdb: TestDatabase | null = null;
  let caseNumber: number;

  beforeAll(async () => {
    if (!existsSync(path.join(REPO, 'dist/src/cli/main.js'))) throw new Error('dist/ is missing: run `npm run build` before the CLI tests');
    dir = tempDir('casemail-terminal-');
    const configFile = path.join(dir, 'casemail.json');
    env = { CASEMAIL_CONFIG: configFile };
    writeFileSync(configFile, JSON.stringify({ dataDir: dir, imap: { mailboxes: [] }, demoDirectory: false, smtpIntake: { port: 0 } }));
    // The tier's server (DATABASE_URL or the embedded test server), one database of this file's own.
    tdb = await createTestDatabase();
    env.DATABASE_URL = tdb.url;
    const directory = path.join(dir, 'directory.json');
    writeFileSync(directory, JSON.stringify({
      organisations: [{ key: 'acme', name: 'Ac\u202eme\u009b', timeZone: 'UTC' }],
      contracts: [{ organisation: 'acme', product: 'Server', startsOn: '2000-01-01', endsOn: '2099-12-31' }],
      contacts: [{ organisation: 'acme', address: 'bob@acme.example', name: 'Bob', role: 'contact', active: true }],
      engineers: [],
    }));
    const imported = await runCli(['directory', 'import', directory], env);
    expect(imported.stderr).toBe('');

    // The service, as operators run it; the customer's server delivers over SMTP.
    const child = spawn(process.execPath, [path.join(REPO, 'bin/casemail.js'), 'start'], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = once(child, 'exit');
    let out = '';
    const running = new Promise<number>((resolve, reject) => {
      const onData = (b: Buffer) => {
        out += b.toString();
        const port = /"port":(\d+)[^\n]*SMTP intake listening/.exec(out)?.[1];
        if (port && out.includes('casemail running')) resolve(Number(port));
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', () => reject(new Error(`casemail start exited:\n${out}`)));
    });
    try {
      const port = await running;
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
      // nodemailer encodes the control characters as an encoded word; the 250 comes after the commit.
      await transport.sendMail({ from: 'Bob <bob@acme.example>', to: 'support@casemail.localhost', subject: HOSTILE_SUBJECT, text: 'Please look.' });
      transport.close();
    } finally {
      child.kill('SIGINT');
      await exited;
    }
    const list = await runCli(['case', 'list'], env);
    caseNumber = Number(/#(\d+)/.exec(list.stdout)?.[1]);
    expect(caseNumber, list.stdout + list.stderr).toBeGreaterThan(0);
  }, TIMEOUT);

  afterAll(async () => {
    await tdb?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('case list prints the subject and organisation with visible escapes, not terminal controls', async () => {
    const r = await runCli(['case', 'list'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(RAW_UNSAFE);
    expect(r.stdout).toContain('Invoice \\x1b]0;pwned\\x07 \\x1b[2J \\x9b31m red \\x7f \\u202egnp.exe');
    expect(r.stdout).toContain('Ac\\u202eme\\x9b');
  }, TIMEOUT);

  it('case show --json stays JSON with the controls as \\u escapes, and parses back to the stored subject', async () => {
    const r = await runCli(['case', 'show', String(caseNumber), '--json'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(RAW_UNSAFE);
    expect(JSON.parse(r.stdout).subject).toBe(HOSTILE_SUBJECT);
  }, TIMEOUT);

  it('case show (the timeline) prints the subject and organisation with visible escapes', async () => {
    const r = await runCli(['case', 'show', String(caseNumber)], env);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(RAW_UNSAFE);
    expect(r.stdout.split('\n')[0]).toContain('Invoice \\x1b]0;pwned\\x07 \\x1b[2J \\x9b31m red \\x7f \\u202egnp.exe');
    expect(r.stdout).toContain('Ac\\u202eme\\x9b');
  }, TIMEOUT);

  it('directory export (JSON) parses to the same names without raw controls', async () => {
    const r = await runCli(['directory', 'export'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(RAW_UNSAFE);
    expect(JSON.parse(r.stdout).organisations[0].name).toBe('Ac\u202eme\u009b');
  }, TIMEOUT);

  it('directory export --format csv escapes on a terminal and keeps exact bytes when redirected', async () => {
    const redirected = await runCli(['directory', 'export', '--format', 'csv'], env);
    expect(redirected.code).toBe(0);
    expect(redirected.stdout).toContain('Ac\u202eme\u009b');
    // A terminal: util-linux `script` runs the command on a pseudo-terminal.
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(REPO, 'bin/casemail.js'))} directory export --format csv`;
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'error', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let onTerminal = '';
    child.stdout.on('data', (b: Buffer) => (onTerminal += b.toString()));
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(onTerminal).toContain('Ac\\u202eme\\x9b');
    expect(onTerminal).not.toMatch(RAW_UNSAFE);
  }, TIMEOUT);

  it('error messages that echo input escape it', async () => {
    const r = await runCli(['case', 'show', '\x1b]0;x\x07'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('casemail case show: "\\x1b]0;x\\x07" is not a case number\n');
    const missing = await runCli(['ingest', path.join(dir, 'missing-\x1b]0;x\x07.eml')], env);
    expect(missing.code).toBe(75);
    expect(missing.stderr).not.toMatch(RAW_UNSAFE);
    expect(missing.stderr).toContain('missing-\\x1b]0;x\\x07.eml');
    // commander's own errors repeat the argument too
    const unknown = await runCli(['\x1b]0;x\x07'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).not.toMatch(RAW_UNSAFE);
    expect(unknown.stderr).toContain("unknown command '\\x1b]0;x\\x07'");
  }, TIMEOUT);

  it('doctor escapes what it quotes (here the configuration file name)', async () => {
    const hostileConfig = path.join(dir, 'casemail-\x1b]0;doctor\x07.json');
    writeFileSync(hostileConfig, JSON.stringify({ dataDir: dir, imap: { mailboxes: [] } }));
    const r = await runCli(['doctor'], { ...env, CASEMAIL_CONFIG: hostileConfig });
    expect(r.stdout).not.toMatch(RAW_UNSAFE);
    expect(r.stdout).toMatch(/^ok\s+config\s+.*casemail-\\x1b\]0;doctor\\x07\.json$/m);
  }, TIMEOUT);
});
