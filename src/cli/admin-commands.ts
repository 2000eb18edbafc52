// Operator commands: migrate, directory import/export, case list (--json: case-view.ts; `case show` is in operator-commands.ts). Each opens the
// database, does one thing, prints a human-readable result and returns the exit code. Text
// that came from mail or files goes through terminal-text.ts, so it cannot drive the terminal.
import { readFileSync } from 'node:fs';
import { migrateToLatest } from '../db/database.js';
import { formatDirectory, parseDirectory } from '../directory/directory-file.js';
import { exportDirectory, importDirectory } from '../directory/directory-store.js';
import { listCases } from '../cases/case-queries.js';
import { caseListView } from '../cases/case-view.js';
import { loadContext, openForCommand, type AppContext, type GlobalOptions } from './context.js';
import { directoryForOutput, stringifyForTerminal, terminalLine } from './terminal-text.js';
import type { DatabaseHandle } from '../db/database.js';

function openOrSay(ctx: AppContext, command: string, migrate: 'auto' | 'never', create: 'create' | 'existing' = 'create'): Promise<DatabaseHandle | null> {
  return openForCommand(ctx, command, { migrate, create });
}

export async function runMigrate(opts: GlobalOptions): Promise<number> {
  const ctx = loadContext(opts);
  if (!ctx) return 1;
  const handle = await openOrSay(ctx, 'migrate', 'never');
  if (!handle) return 1;
  try {
    const result = await migrateToLatest(handle.db, ctx.config.settings.caseNumber.start);
    const applied = result.results?.map((r) => r.migrationName) ?? [];
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
    return 0;
  } catch (err) {
    process.stderr.write(`casemail migrate: ${terminalLine((err as Error).message)}\n`);
    return 1;
  } finally {
    await handle.close();
  }
}

export async function runDirectoryImport(opts: GlobalOptions, file: string): Promise<number> {
  const ctx = loadContext(opts);
  if (!ctx) return 1;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    process.stderr.write(`casemail directory import: cannot read ${terminalLine(file)}: ${terminalLine((err as Error).message)}\n`);
    return 1;
  }
  const format = /\.csv$/i.test(file) ? 'csv' : 'json';
  const parsed = parseDirectory(text, format);
  if (!parsed.ok) {
    process.stderr.write(`casemail directory import: ${parsed.problems.length} bad row(s) in ${terminalLine(file)}; nothing was changed\n`);
    for (const p of parsed.problems) process.stderr.write(`  line ${p.line} (${terminalLine(p.row)}): ${terminalLine(p.reason)}\n`);
    return 1;
  }
  const handle = await openOrSay(ctx, 'directory import', 'auto');
  if (!handle) return 1;
  try {
    const outcome = await importDirectory(handle.db, parsed.file, parsed.lines);
    if (!outcome.ok) {
      process.stderr.write(`casemail directory import: ${outcome.problems.length} bad row(s) in ${terminalLine(file)}; nothing was changed\n`);
      for (const p of outcome.problems) process.stderr.write(`  line ${p.line} (${terminalLine(p.row)}): ${terminalLine(p.reason)}\n`);
      return 1;
    }
    const c = outcome.counts;
    process.stdout.write(`imported ${c.organisations} organisations, ${c.contracts} contracts, ${c.contacts} contacts, ${c.engineers} engineers\n`);
    return 0;
  } finally {
    await handle.close();
  }
}

export async function runDirectoryExport(opts: GlobalOptions, format: string): Promise<number> {
  if (format !== 'json' && format !== 'csv') {
    process.stderr.write('casemail directory export: --format must be json or csv\n');
    return 2;
  }
  const ctx = loadContext(opts, 'stderr', { quiet: true });
  if (!ctx) return 1;
  const handle = await openOrSay(ctx, 'directory export', 'auto', 'existing');
  if (!handle) return 1;
  try {
    const text = formatDirectory(await exportDirectory(handle.db), format);
    process.stdout.write(directoryForOutput(text, format, process.stdout.isTTY === true));
    return 0;
  } finally {
    await handle.close();
  }
}

export async function runCaseList(opts: GlobalOptions, state?: string, json = false): Promise<number> {
  const ctx = loadContext(opts, 'stderr', { quiet: true });
  if (!ctx) return 1;
  const handle = await openOrSay(ctx, 'case list', 'auto', 'existing');
  if (!handle) return 1;
  try {
    if (json) {
      process.stdout.write(stringifyForTerminal(await caseListView(handle.db, { state: state ?? null })) + '\n');
      return 0;
    }
    const rows = await listCases(handle.db, { state: state ?? null });
    if (rows.length === 0) process.stdout.write('no cases\n');
    for (const r of rows) {
      process.stdout.write(`${ctx.config.settings.caseNumber.prefix} #${r.number}  sev ${r.severity}  ${r.state.padEnd(19)} ${terminalLine(r.organisation).padEnd(20).slice(0, 20)}  ${terminalLine(r.subject)}\n`);
    }
    return 0;
  } finally {
    await handle.close();
  }
}
