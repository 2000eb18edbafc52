// A throwaway Dovecot (scripts/dovecot-test.mjs) that can be restarted: stopped by its pid and
// started again on the same port and Maildir. stop() ends it for good and removes its folder.
// I/O: the Dovecot child process and its temp folder.
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import type { ChildProcess } from 'node:child_process';
import { start } from '../../../scripts/dovecot-test.mjs';
import type { DovecotServer } from '../../support/dovecot.js';

export interface RestartableDovecot extends DovecotServer {
  /** SIGTERM to the master (its children go with it), wait for its exit, start again on the same port and Maildir. */
  restart(): Promise<void>;
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
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
