// A throwaway Dovecot (scripts/dovecot-test.mjs) that can be restarted: stopped by its pid and
// started again on the same port and Maildir. Its IMAP session processes outlive a stopped master
// here (established sessions keep working), which would make the restart invisible; a restart is
// meant to drop them, as a crash or reboot does, so the master's own children are ended by pid
// too. stop() ends it for good and removes its folder.
// I/O: the Dovecot processes (ps, signals) and its temp folder.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';
import { start } from '../../../scripts/dovecot-test.mjs';
import type { DovecotServer } from '../../support/dovecot.js';

export interface RestartableDovecot extends DovecotServer {
  /** SIGTERM to the master (its children go with it), wait for its exit, start again on the same port and Maildir. */
  restart(): Promise<void>;
}

/** The processes `pid` started (one level: Dovecot's master starts every service process itself). */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n').map((l) => Number(l.trim())).filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const sessions = child.pid ? childrenOf(child.pid) : [];
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
  for (const pid of sessions) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export async function startRestartableDovecot(): Promise<RestartableDovecot> {
  const first = await start();
  let child = first.child;
  // A crashed test run must not leave the daemon behind.
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  return {
    host: first.host,
    port: first.port,
    user: first.user,
    password: first.password,
    dir: first.dir,
    async restart() {
      await terminate(child);
      child = (await start({ dir: first.dir, port: first.port })).child;
    },
    async stop() {
      process.off('exit', onExit);
      await terminate(child);
      await rm(first.dir, { recursive: true, force: true });
    },
  };
}
