// Chaos figures: every part records what it measured (count, limit, pass/fail) through
// `figure`; the chaos global setup (figures-setup.ts) prints them as one table when the run ends
// and exits non-zero through the tests' own assertions when a promise breaks.
import { appendFileSync } from 'node:fs';
import { inject } from 'vitest';

export interface ChaosFigure {
  /** The part: "crash", "dependency faults", "two instances", "fuzz", "abuse". */
  part: string;
  /** What was counted or timed: "messages lost", "failover seconds", ... */
  measure: string;
  value: number | string;
  /** The promise, as text: "0", "<= 20", "< 30 s"; '' for a plain figure. */
  limit: string;
  ok: boolean;
}

/** Whether this is CI's short run (CHAOS_SHORT=1): smaller counts, same promises. */
export function chaosShort(): boolean {
  return process.env.CHAOS_SHORT === '1';
}

/** `full` in the full run, `short` in CI's short run. */
export function chaosScale<T>(full: T, short: T): T {
  return chaosShort() ? short : full;
}

/** Records one figure for the table. `ok` says whether the promise held (true for a plain figure). */
export function figure(part: string, measure: string, value: number | string, limit = '', ok = true): void {
  const row: ChaosFigure = { part, measure, value, limit, ok };
  appendFileSync(inject('chaosFiguresFile'), JSON.stringify(row) + '\n');
}

declare module 'vitest' {
  export interface ProvidedContext {
    chaosFiguresFile: string;
  }
}
