// SMTP intake under memory pressure, against the real service (`casemail start` of a checkout, as a
// child process) on a fresh PostgreSQL database: 8 clients send a 24 MB message each at the same
// time (retrying 4xx like an MTA), and the child's peak RSS (VmHWM) is read from /proc; then a
// 25 MB message of empty MIME parts is sent and another client's small message is timed.
// Usage: node dist/bench/smtp-memory-bench.js [--repo DIR]  (DIR: a built checkout; default this one)
// Needs PostgreSQL (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test). Linux only.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import pg from 'pg';

const CLIENTS = 8;
const MESSAGE_BYTES = 24 * 1000 * 1000;
const SEND_TIMEOUT_MS = 300_000;

function repoRoot(): string {
  const i = process.argv.indexOf('--repo');
  if (i > 0 && process.argv[i + 1]) return path.resolve(process.argv[i + 1]!);
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

/** A ~24 MB request with a base64 attachment, as a customer's mail client would send it. */
function bigMessage(i: number): Buffer {
  const head = `From: bob@acme.example\r\nTo: support@casemail.localhost\r\nSubject: Big log ${i}\r\nMessage-ID: <big-${i}-${Date.now()}@acme.example>\r\n`
    + 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe log is attached.\r\n'
    + '--b\r\nContent-Type: application/octet-stream; name="log.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n';
  const raw = Math.floor(((MESSAGE_BYTES - head.length - 10) / 78) * 57);
  const body = Buffer.alloc(raw, i + 1).toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(`${head}${body}\r\n--b--\r\n`);
}

function emptyParts(bytes: number): Buffer {
  const head = 'From: bob@acme.example\r\nTo: support@casemail.localhost\r\nSubject: Many parts\r\n'
    + `Message-ID: <parts-${Date.now()}@acme.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="a"\r\n\r\n`;
  return Buffer.from(`${head}${'--a\r\n'.repeat(Math.floor((bytes - head.length - 7) / 5))}--a--\r\n`);
}

async function sendAsMta(port: number, raw: Buffer, deadline: number): Promise<{ tempFailures: number }> {
  let tempFailures = 0;
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true, socketTimeout: SEND_TIMEOUT_MS });
  while (Date.now() < deadline) {
    try {
      await transport.sendMail({ envelope: { from: 'bob@acme.example', to: ['support@casemail.localhost'] }, raw });
      return { tempFailures };
    } catch (error) {
      const code = (error as { responseCode?: number }).responseCode;
      if (code !== undefined && code >= 500) throw error;
      tempFailures += 1;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error('not accepted before the deadline');
}

/**
 * One SMTP transaction the way Postfix or Exim send: SIZE declared on MAIL FROM when the server
 * offers it. Resolves with the final reply code (a refusal at MAIL FROM sends no bytes).
 */
function sendDeclaringSize(port: number, raw: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buffer = '';
    const steps = ['greeting', 'ehlo', 'mail', 'rcpt', 'data', 'end'];
    let step = 0;
    socket.setEncoding('latin1');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let m = /^(?:\d{3}-.*\r\n)*(\d{3}) .*\r\n/.exec(buffer); m; m = /^(?:\d{3}-.*\r\n)*(\d{3}) .*\r\n/.exec(buffer)) {
        buffer = buffer.slice(m[0].length);
        const code = Number(m[1]);
        const at = steps[step++];
        const ok = at === 'data' ? code === 354 : code < 400;
        if (!ok || at === 'end') {
          socket.end('QUIT\r\n');
          resolve(code);
          return;
        }
        if (at === 'greeting') socket.write('EHLO bench.example\r\n');
        else if (at === 'ehlo') socket.write(`MAIL FROM:<bob@acme.example> SIZE=${raw.length}\r\n`);
        else if (at === 'mail') socket.write('RCPT TO:<support@casemail.localhost>\r\n');
        else if (at === 'rcpt') socket.write('DATA\r\n');
        else if (at === 'data') {
          // Our messages have no line starting with a dot, so no dot-stuffing is needed.
          socket.write(raw);
          socket.write(raw.subarray(-2).toString() === '\r\n' ? '.\r\n' : '\r\n.\r\n');
        }
      }
    });
  });
}

async function sendAsPostfix(port: number, raw: Buffer, deadline: number): Promise<{ tempFailures: number }> {
  let tempFailures = 0;
  while (Date.now() < deadline) {
    const code = await sendDeclaringSize(port, raw).catch(() => 421);
    if (code < 400) return { tempFailures };
    if (code >= 500) throw new Error(`refused with ${code}`);
    tempFailures += 1;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('not accepted before the deadline');
}

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

export async function runSmtpMemoryBench(log: (line: string) => void): Promise<void> {
  const repo = repoRoot();
  const baseUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const dbName = `casemail_bench_mem_${process.pid}`;
  const admin = new pg.Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`create database ${dbName}`);
  const u = new URL(baseUrl);
  u.pathname = `/${dbName}`;
  const env = { PATH: process.env.PATH ?? '', DATABASE_URL: u.toString(), LOG_LEVEL: 'info' };
  const dir = mkdtempSync(path.join(tmpdir(), 'casemail-membench-'));
  const config = path.join(dir, 'casemail.json');
  writeFileSync(config, JSON.stringify({ dataDir: dir, demoDirectory: false, smtpIntake: { port: 0 }, outbox: { transport: 'file' } }));
  const bin = path.join(repo, 'bin/casemail.js');
  const migrated = spawnSync(process.execPath, [bin, 'migrate'], { env: { ...env, CASEMAIL_CONFIG: config }, encoding: 'utf8' });
  if (migrated.status !== 0) throw new Error(`migrate failed: ${migrated.stderr}`);

  const child = spawn(process.execPath, [bin, 'start'], { env: { ...env, CASEMAIL_CONFIG: config }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /"port":(\d+)[^\n]*SMTP intake listening/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', () => reject(new Error(`service exited:\n${out.slice(-2000)}`)));
    });
    const idle = peakRssMb(child.pid!);
    const messages = Array.from({ length: CLIENTS }, (_, i) => bigMessage(i));
    for (const [label, sender] of [['declaring SIZE, as Postfix does', sendAsPostfix], ['without SIZE (nodemailer)', sendAsMta]] as const) {
      const started = Date.now();
      const results = await Promise.all(messages.map((m) => sender(port, Buffer.from(m.toString('latin1').replace(/^Message-ID: <big-/m, `Message-ID: <${label.length}-big-`), 'latin1'), started + SEND_TIMEOUT_MS)));
      const seconds = (Date.now() - started) / 1000;
      log(`smtp memory (${path.basename(repo)}): ${CLIENTS} simultaneous ${(MESSAGE_BYTES / 1e6).toFixed(0)} MB messages ${label} accepted in ${seconds.toFixed(1)} s, `
        + `${results.reduce((n, r) => n + r.tempFailures, 0)} temporary refusals; service peak RSS so far ${peakRssMb(child.pid!).toFixed(0)} MB (idle ${idle.toFixed(0)} MB)`);
    }

    // A message that is slow to understand, then another client's small one while it is.
    const big = sendAsMta(port, emptyParts(25_000_000), Date.now() + SEND_TIMEOUT_MS).then(() => Date.now(), () => Date.now());
    const bigSent = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    const smallStart = Date.now();
    const small = await Promise.race([
      sendAsMta(port, Buffer.from('From: carol@acme.example\r\nTo: support@casemail.localhost\r\nSubject: small\r\n\r\nHello\r\n'), smallStart + 30_000)
        .then(() => `${Date.now() - smallStart} ms`),
      new Promise<string>((r) => setTimeout(() => r('no answer within 30 s'), 30_000)),
    ]);
    const bigDone = await Promise.race([big, new Promise<null>((r) => setTimeout(() => r(null), 60_000))]);
    log(`smtp memory (${path.basename(repo)}): 25 MB of empty MIME parts answered after ${bigDone ? `${((bigDone - bigSent) / 1000).toFixed(1)} s` : 'more than 60 s'}; `
      + `another client's small message meanwhile answered in ${small}`);
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    await admin.query(`drop database if exists ${dbName} with (force)`);
    await admin.end();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  await runSmtpMemoryBench((line) => process.stdout.write(`${line}\n`));
  process.exit(0);
}
