// Test helper around scripts/dovecot-test.mjs: starts a throwaway Dovecot as a child of the test
// process (so stop() can wait for its exit) and decides what IMAP suites do without Dovecot:
// skip loudly, or fail when CASEMAIL_REQUIRE_DOVECOT=1 (CI).
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import { describe, it } from 'vitest';
import { findDovecot, start } from '../../scripts/dovecot-test.mjs';

export interface DovecotServer {
  host: string;
  port: number;
  user: string;
  password: string;
  /** The temp folder holding config, Maildir and dovecot.log (useful when a test fails). */
  dir: string;
  stop(): Promise<void>;
}

const STOP_TIMEOUT_MS = 10_000;
const running = new Set<{ kill(signal: NodeJS.Signals): boolean }>();
let exitHookInstalled = false;

export function dovecotAvailable(): boolean {
  return findDovecot() !== null;
}

export function dovecotRequired(): boolean {
  return process.env.CASEMAIL_REQUIRE_DOVECOT === '1';
}

/** `noIdle` starts a Dovecot that does not advertise IDLE, for the poll fallback. */
export async function startDovecot(options: { noIdle?: boolean } = {}): Promise<DovecotServer> {
  const info = await start({ noIdle: options.noIdle ?? false });
  const child = info.child;
  running.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A crashed test run must not leave daemons behind.
    process.once('exit', () => {
      for (const server of running) server.kill('SIGKILL');
    });
  }
  let stopped: Promise<void> | null = null;
  return {
    host: info.host,
    port: info.port,
    user: info.user,
    password: info.password,
    dir: info.dir,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = once(child, 'exit');
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
          await exited;
          clearTimeout(timer);
        }
        running.delete(child);
        await rm(info.dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/**
 * describe() for suites that need Dovecot. Without it the suite is skipped with a loud warning,
 * unless CASEMAIL_REQUIRE_DOVECOT=1, where a failing test takes its place.
 */
export function describeWithDovecot(name: string, body: () => void): void {
  if (dovecotAvailable()) {
    describe(name, body);
    return;
  }
  const why = 'Dovecot is not installed (apt-get install -y dovecot-imapd)';
  if (dovecotRequired()) {
    describe(name, () => {
      it('needs Dovecot (CASEMAIL_REQUIRE_DOVECOT=1)', () => {
        throw new Error(`${why}; CASEMAIL_REQUIRE_DOVECOT=1 makes this a failure`);
      });
    });
    return;
  }
  const banner = '!'.repeat(78);
  console.warn(`\n${banner}\n!! SKIPPED: "${name}" — ${why}.\n!! Set CASEMAIL_REQUIRE_DOVECOT=1 to make this a failure.\n${banner}\n`);
  describe.skip(`${name} [SKIPPED: Dovecot not installed]`, body);
}
