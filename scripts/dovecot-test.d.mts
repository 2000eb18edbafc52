// Types for scripts/dovecot-test.mjs, so test/support/dovecot.ts can start Dovecot in-process.
import type { ChildProcess } from 'node:child_process';

export interface DovecotInfo {
  host: string;
  port: number;
  pid: number;
  dir: string;
  user: string;
  password: string;
  log: string;
  child: ChildProcess;
}

export function findDovecot(): string | null;
/** `dir` and `port` of an earlier start (its Dovecot exited): the same port and Maildir again. */
export function start(options?: { noIdle?: boolean; detached?: boolean; dir?: string; port?: number }): Promise<DovecotInfo>;
export function stop(pid: number, dir?: string): void;
