// Runs the real service against a real Dovecot, a real smtp-server sink and the test database:
// in-process (startService) for most end-to-end tests, or as a child process (`casemail start`)
// where a test must SIGKILL it. Also: APPENDing to Dovecot and reading what the sink received.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { expect } from 'vitest';
import type { Db } from '../../src/db/database.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { createLogger, silentLogger } from '../../src/log/logger.js';
import type { DovecotServer } from './dovecot.js';
import type { SinkMessage, SmtpSink } from './smtp-sink.js';
import { tempDir } from './temp-dirs.js';

export const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

/**
 * Volume tests send hundreds of requests from one contact within seconds; the per-sender hourly
 * caps (issue 11; tested in hardening-policy*.test.ts) would acknowledge only the first 20, and
 * the per-address limit on automatic mail (issue 9; loop-safety.test.ts) would send only 10.
 */
const VOLUME_LIMITS = { maxNewCasesPerSenderPerHour: 1_000_000, maxAcknowledgementsPerSenderPerHour: 1_000_000, maxAutomaticMailPerAddressPerHour: 1_000_000 };

export function serviceSettings(dataDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    dataDir,
    demoDirectory: false,
    smtpIntake: { enabled: true, host: '127.0.0.1', port: 0 },
    imap: { mailboxes: [{ name: 'support', folder: 'INBOX', processedFolder: 'Processed', quarantineFolder: 'Quarantine' }] },
    outbox: { retryBaseSeconds: 0.2 },
    logLevel: 'silent',
    ...extra,
    limits: { ...VOLUME_LIMITS, ...(extra.limits as Record<string, unknown> | undefined) },
  };
}

export function imapUrl(d: DovecotServer): string {
  return `imap://${encodeURIComponent(d.user)}:${encodeURIComponent(d.password)}@${d.host}:${d.port}`;
}

export function smtpUrl(s: SmtpSink): string {
  return `smtp://${s.host}:${s.port}`;
}

export function serviceConfig(d: DovecotServer, s: SmtpSink, extra: Record<string, unknown> = {}): { config: Config; logger: typeof silentLogger } {
  const dataDir = tempDir('casemail-e2e-');
  const config = loadConfig({ env: { IMAP_URL: imapUrl(d), SMTP_URL: smtpUrl(s) }, overrides: serviceSettings(dataDir, extra) });
  const logger = process.env.CASEMAIL_TEST_LOG ? createLogger(process.env.CASEMAIL_TEST_LOG) : silentLogger;
  return { config, logger };
}

export async function imapClient(d: DovecotServer): Promise<ImapFlow> {
  const client = new ImapFlow({ host: d.host, port: d.port, secure: false, auth: { user: d.user, pass: d.password }, logger: false });
  await client.connect();
  return client;
}

export async function appendAll(d: DovecotServer, raws: Buffer[], folder = 'INBOX'): Promise<void> {
  const client = await imapClient(d);
  try {
    for (const raw of raws) await client.append(folder, raw);
  } finally {
    await client.logout();
  }
}

export async function folderCount(d: DovecotServer, folder: string): Promise<number> {
  const client = await imapClient(d);
  try {
    const list = await client.list();
    if (!list.some((f) => f.path === folder)) return 0;
    const st = await client.status(folder, { messages: true });
    return st ? st.messages ?? 0 : 0;
  } finally {
    await client.logout();
  }
}

export function headerOf(raw: Buffer, name: string): string | null {
  const head = raw.subarray(0, Math.max(0, raw.indexOf('\r\n\r\n'))).toString('utf8').replace(/\r\n[ \t]+/g, ' ');
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head);
  return m?.[1]?.trim() ?? null;
}

/** Acknowledgements at the sink: auto-replied mail with the case tag, by the customer Message-ID they answer. */
export function acknowledgements(messages: readonly SinkMessage[]): SinkMessage[] {
  return messages.filter((m) => headerOf(m.raw, 'Auto-Submitted') === 'auto-replied' && /\[Case #\d+\]/.test(headerOf(m.raw, 'Subject') ?? ''));
}

export function distinctAnswered(messages: readonly SinkMessage[]): Set<string> {
  return new Set(acknowledgements(messages).map((m) => headerOf(m.raw, 'In-Reply-To') ?? ''));
}

export interface ChildService {
  child: ChildProcess;
  output: () => string;
  /** Resolves when the child exits. */
  exited: Promise<unknown>;
}

/** Writes the settings to a config file and runs `node bin/casemail.js start` with it. */
export function spawnService(env: Record<string, string>, settings: Record<string, unknown>, configDir: string): ChildService {
  const file = path.join(configDir, 'casemail.json');
  writeFileSync(file, JSON.stringify(settings));
  let out = '';
  const child = spawn(process.execPath, [path.join(REPO, 'bin/casemail.js'), 'start'], {
    env: { PATH: process.env.PATH ?? '', CASEMAIL_CONFIG: file, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  return { child, output: () => out, exited: once(child, 'exit') };
}

export function runCli(args: string[], env: Record<string, string>, input?: Buffer): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO, 'bin/casemail.js'), ...args], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'error', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

/** One raw message into the service's SMTP intake, as an MTA hands it over; resolves with the server's reply. */
export async function sendToIntake(port: number, raw: Buffer, envelope: { from: string; to: string[] }): Promise<string> {
  const client = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  try {
    return String((await client.sendMail({ envelope, raw })).response);
  } finally {
    client.close();
  }
}

/** Resolves once no outbox row is pending: everything due was delivered (or failed). */
export async function outboxSettled(db: Db): Promise<void> {
  await expect.poll(async () => (await db.selectFrom('outbox').select('id').where('status', '=', 'pending').execute()).length, { timeout: 20_000, interval: 50 }).toBe(0);
}

/** Resolves with the first match of `pattern` in the child's output after `from`, as soon as it is printed. */
export function waitForOutput(service: ChildService, pattern: RegExp, timeoutMs = 60_000, from = 0): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = pattern.exec(service.output().slice(from));
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = () => {
      cleanup();
      reject(new Error(`service exited before printing ${pattern}:\n${service.output().slice(-4000)}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}:\n${service.output().slice(-3000)}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      service.child.stdout?.off('data', check);
      service.child.stderr?.off('data', check);
      service.child.off('exit', onExit);
    };
    service.child.stdout?.on('data', check);
    service.child.stderr?.on('data', check);
    service.child.on('exit', onExit);
    check();
  });
}
