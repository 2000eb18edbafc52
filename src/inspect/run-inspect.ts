// `casemail inspect`: reads raw message files and prints what the intake understands, one NDJSON
// line per file (spec/inspect-json.md). Reading the files and the configuration, and stdout, are
// the only I/O; understanding itself is `inspectJson`, the intake's own step, which the bench
// measures too.
import { readFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { inspectJson } from './understand.js';
import { InspectConfigError, inspectOptions, type InspectOptions } from './inspect-options.js';
import { terminalText } from '../cli/terminal-text.js';

export interface RunInspectOptions {
  json: boolean;
  out: Writable;
  /** The configuration file (--config, else CASEMAIL_CONFIG); null: the schema's defaults. */
  config?: string | null;
  /** Where problems with the configuration are told (default: stderr). */
  err?: Writable;
}

export async function runInspect(files: string[], opts: RunInspectOptions): Promise<number> {
  let options: InspectOptions;
  try {
    options = await inspectOptions(opts.config ?? null, process.cwd());
  } catch (err) {
    if (!(err instanceof InspectConfigError)) throw err;
    (opts.err ?? process.stderr).write(`casemail inspect: ${terminalText(err.message)}\n`);
    return 2;
  }
  for (const file of files) {
    const started = performance.now();
    let line: Record<string, unknown>;
    try {
      const raw = await readFile(file);
      line = { file, ...inspectJson(raw, options), elapsedMs: round(performance.now() - started) };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      line = {
        file,
        error: { code: e.code ?? 'parse_failed', message: e.message },
        parse: null,
        reply: null,
        classify: null,
        caseRef: null,
        severity: null,
        issues: [],
        elapsedMs: round(performance.now() - started),
      };
    }
    const text = opts.json ? JSON.stringify(line) : humanSummary(line);
    // Two writes, not `text + '\n'`: a 25 MB body appears three times in the line, and the
    // concatenation would copy all of it once more.
    opts.out.write(text);
    if (!opts.out.write('\n')) await new Promise((resolve) => opts.out.once('drain', resolve));
  }
  return 0;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** A short readable form for operators who run inspect without --json; what came from mail is escaped for the terminal. */
function humanSummary(line: Record<string, unknown>): string {
  return terminalText(humanLines(line));
}

function humanLines(line: Record<string, unknown>): string {
  const p = line.parse as { from?: { address: string } | null; subject?: string; attachments?: unknown[] } | null;
  const c = line.classify as { kind?: string; reasons?: string[] } | null;
  if (line.error && !p) return `${String(line.file)}: error ${JSON.stringify(line.error)}`;
  return [
    `${String(line.file)}:`,
    `  from: ${p?.from?.address ?? '-'}  subject: ${p?.subject ?? ''}`,
    `  kind: ${c?.kind ?? '-'} (${(c?.reasons ?? []).join('; ')})  attachments: ${p?.attachments?.length ?? 0}`,
    `  caseRef: ${JSON.stringify(line.caseRef)}  severity: ${JSON.stringify(line.severity)}  issues: ${(line.issues as unknown[]).length}`,
  ].join('\n');
}
