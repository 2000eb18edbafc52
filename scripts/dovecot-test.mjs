#!/usr/bin/env node
// Starts a throwaway Dovecot IMAP server for tests: loopback only, a spare port, a passwd-file
// user, Maildir in a fresh temp folder, plaintext auth, no TLS. All of its files (config,
// sockets, state, log, mail) live in that folder, so it needs no root-owned configuration.
// Usage: `node scripts/dovecot-test.mjs start [--no-idle]` prints one JSON line
// {host, port, pid, dir, user, password, log}; `node scripts/dovecot-test.mjs stop <pid> [dir]`
// stops it (SIGTERM to the master, which takes its children down) and removes dir.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, openSync, existsSync, readFileSync, chmodSync, chownSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { setTimeout } from 'node:timers';
import { join } from 'node:path';

const HOST = '127.0.0.1';
const USER = 'support';
const PASSWORD = 'support-test-password';
const READY_TIMEOUT_MS = 15_000;

// Dovecot lives in /usr/sbin, which is not on every user's PATH. DOVECOT_BIN, when set, is the
// only candidate (DOVECOT_BIN=/nonexistent shows how the tests behave without Dovecot).
export function findDovecot() {
  if (process.env.DOVECOT_BIN) return existsSync(process.env.DOVECOT_BIN) ? process.env.DOVECOT_BIN : null;
  for (const candidate of ['/usr/sbin/dovecot', '/usr/local/sbin/dovecot']) {
    if (existsSync(candidate)) return candidate;
  }
  try {
    return execFileSync('sh', ['-c', 'command -v dovecot'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

// Dovecot refuses root for login and mail processes. Under root (tests and CI) those run as an
// unprivileged account that owns the mail folder; otherwise everything runs as the caller.
function unprivilegedUser() {
  for (const name of ['dovenull', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      return { name, uid, gid };
    } catch {
      // try the next one
    }
  }
  throw new Error('running as root needs an unprivileged account (dovenull or nobody) for Dovecot');
}

function sparePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() => resolve(address.port));
    });
  });
}

function config({ dir, port, user, group, loginUser, noIdle }) {
  const lines = [
    `base_dir = ${dir}/run`,
    `state_dir = ${dir}/state`,
    `log_path = ${dir}/dovecot.log`,
    `info_log_path = ${dir}/dovecot.log`,
    `protocols = imap`,
    `listen = ${HOST}`,
    `ssl = no`,
    `disable_plaintext_auth = no`,
    `auth_mechanisms = plain login`,
    // Internal processes run as the caller, so nothing needs root-owned directories.
    `default_internal_user = ${user}`,
    `default_internal_group = ${group}`,
    `default_login_user = ${loginUser}`,
    `first_valid_uid = 1`,
    `first_valid_gid = 0`,
    `mail_location = maildir:${dir}/mail/%u`,
    `passdb {`,
    `  driver = passwd-file`,
    `  args = scheme=PLAIN username_format=%u ${dir}/passwd`,
    `}`,
    `userdb {`,
    `  driver = passwd-file`,
    `  args = username_format=%u ${dir}/passwd`,
    `}`,
    `namespace inbox {`,
    `  inbox = yes`,
    `  separator = /`,
    `}`,
    `service imap-login {`,
    // chroot needs root; without it the login process runs in place.
    `  chroot =`,
    `  inet_listener imap {`,
    `    address = ${HOST}`,
    `    port = ${port}`,
    `  }`,
    `  inet_listener imaps {`,
    `    port = 0`,
    `  }`,
    `}`,
    `service anvil {`,
    `  chroot =`,
    `}`,
    `service stats {`,
    `  unix_listener stats-reader {`,
    `    user = ${user}`,
    `  }`,
    `  unix_listener stats-writer {`,
    `    user = ${user}`,
    `  }`,
    `}`,
  ];
  // Lets tests exercise the poll fallback for servers that do not offer IDLE.
  if (noIdle) lines.push('imap_capability = IMAP4rev1 LITERAL+ SASL-IR LOGIN-REFERRALS ID ENABLE UIDPLUS MOVE NAMESPACE');
  return lines.join('\n') + '\n';
}

function waitForGreeting(port, deadline) {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = connect(port, HOST);
      socket.setEncoding('utf8');
      let greeted = false;
      socket.once('data', (chunk) => {
        greeted = true;
        socket.destroy();
        if (chunk.startsWith('* OK')) resolve();
        else reject(new Error(`unexpected greeting: ${chunk.trim()}`));
      });
      socket.once('error', () => socket.destroy());
      socket.setTimeout(2_000, () => socket.destroy());
      // A refused or silently closed connection (master up, imap-login not yet) is the only
      // signal a freshly spawned daemon gives, so try again until the deadline.
      socket.once('close', () => {
        if (greeted) return;
        if (Date.now() > deadline) reject(new Error(`Dovecot did not greet on ${HOST}:${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/**
 * Starts Dovecot and resolves once it greets. `detached` lets the CLI exit while Dovecot keeps
 * running; in-process callers (test/support/dovecot.ts) keep it attached and get `child` to
 * wait on its exit. `dir` and `port` (both from an earlier start whose Dovecot has exited)
 * start it again on the same port and Maildir: a restart.
 */
export async function start({ noIdle = false, detached = false, dir: reuseDir = null, port: reusePort = null } = {}) {
  const bin = findDovecot();
  if (!bin) throw new Error('dovecot is not installed (apt-get install -y dovecot-imapd)');
  const dir = reuseDir ?? mkdtempSync(join(tmpdir(), 'casemail-dovecot-'));
  for (const sub of ['run', 'state', 'mail']) mkdirSync(join(dir, sub), { recursive: true });
  const info = userInfo();
  const group = execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim();
  const mailUser = info.uid === 0 ? unprivilegedUser() : { name: info.username, uid: info.uid, gid: info.gid };
  if (info.uid === 0) {
    // mkdtemp makes the folder 0700; the unprivileged processes must traverse it.
    chmodSync(dir, 0o755);
    chownSync(join(dir, 'mail'), mailUser.uid, mailUser.gid);
  }
  writeFileSync(join(dir, 'passwd'), `${USER}:{PLAIN}${PASSWORD}:${mailUser.uid}:${mailUser.gid}::${dir}/mail/${USER}::\n`);
  const port = reusePort ?? await sparePort();
  const conf = join(dir, 'dovecot.conf');
  writeFileSync(conf, config({ dir, port, user: info.username, group, uid: info.uid, loginUser: mailUser.name, noIdle }));
  const out = openSync(join(dir, 'stdout.log'), 'a');
  // -F keeps the master in the foreground so the pid we print is the one to stop.
  const child = spawn(bin, ['-F', '-c', conf], { detached, stdio: ['ignore', out, out] });
  if (detached) child.unref();
  let exited = null;
  child.once('exit', (code) => { exited = code; });
  try {
    await waitForGreeting(port, Date.now() + READY_TIMEOUT_MS);
  } catch (err) {
    if (exited === null) process.kill(child.pid, 'SIGTERM');
    const log = [join(dir, 'stdout.log'), join(dir, 'dovecot.log')]
      .filter(existsSync).map((file) => readFileSync(file, 'utf8')).join('\n');
    throw new Error(`${err.message}\n${log}`);
  }
  return { host: HOST, port, pid: child.pid, dir, user: USER, password: PASSWORD, log: join(dir, 'dovecot.log'), child };
}

export function stop(pid, dir) {
  try {
    process.kill(pid, 'SIGTERM');
  } catch (err) {
    if (err.code !== 'ESRCH') throw err;
  }
  if (dir && dir.includes('casemail-dovecot-')) rmSync(dir, { recursive: true, force: true });
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'start') {
    start({ noIdle: args.includes('--no-idle'), detached: true }).then(
      ({ child: _child, ...info }) => { process.stdout.write(JSON.stringify(info) + '\n'); },
      (err) => { process.stderr.write(`${err.message}\n`); process.exitCode = 1; },
    );
  } else if (command === 'stop' && args[0]) {
    stop(Number(args[0]), args[1]);
  } else if (command === 'available') {
    process.exitCode = findDovecot() ? 0 : 1;
  } else {
    process.stderr.write('usage: dovecot-test.mjs start [--no-idle] | stop <pid> [dir] | available\n');
    process.exitCode = 2;
  }
}
