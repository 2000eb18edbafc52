// A throwaway Dovecot for the bench (scripts/dovecot-test.mjs, the one the tests use), registered
// for cleanup; null when Dovecot is not installed. I/O: a child process and its temp folder.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ImapFlow } from 'imapflow';
import { onCleanup } from './cleanup.js';

export interface BenchDovecot {
  host: string;
  port: number;
  user: string;
  password: string;
  stop(): Promise<void>;
}

interface DovecotScript {
  findDovecot(): string | null;
  start(options?: { noIdle?: boolean }): Promise<{ host: string; port: number; user: string; password: string; pid: number; dir: string }>;
  stop(pid: number, dir?: string): void;
}

export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

export async function startDovecot(): Promise<BenchDovecot | null> {
  const script = (await import(pathToFileURL(path.join(repoRoot(), 'scripts/dovecot-test.mjs')).href)) as DovecotScript;
  if (!script.findDovecot()) return null;
  const d = await script.start();
  const stop = onCleanup(`dovecot ${d.pid}`, () => script.stop(d.pid, d.dir));
  return { host: d.host, port: d.port, user: d.user, password: d.password, stop };
}

export async function imapClient(d: BenchDovecot): Promise<ImapFlow> {
  const client = new ImapFlow({ host: d.host, port: d.port, secure: false, auth: { user: d.user, pass: d.password }, logger: false });
  // An idle client's socket times out during a long SMTP-only phase: the next command on it fails
  // (and says why); the 'error' event itself must not crash the bench.
  client.on('error', (err: Error) => process.stderr.write(`bench: IMAP client: ${err.message}\n`));
  await client.connect();
  return client;
}

export async function appendAll(d: BenchDovecot, raws: readonly Buffer[], folder = 'INBOX'): Promise<void> {
  const client = await imapClient(d);
  try {
    if (folder !== 'INBOX') await client.mailboxCreate(folder).catch(() => undefined);
    for (const raw of raws) await client.append(folder, raw);
  } finally {
    await client.logout();
  }
}
