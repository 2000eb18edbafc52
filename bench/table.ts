// The bench's one table: rows of figures (value, unit, target, met) collected from every part of
// one run, printed as aligned text and written as JSON under bench/results/ (<ISO time>.json and
// latest.json). I/O: stdout and the results folder.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Target {
  /** The figure must be at least (`min`) or at most (`max`) this. */
  min?: number;
  max?: number;
}

export interface Row {
  group: string;
  name: string;
  value: number | null;
  unit: string;
  target?: Target;
  met?: boolean;
  /** Why the value is missing, or what the figure needs to be read right. */
  note?: string;
}

export type AddRow = (row: Omit<Row, 'met'>) => void;

function isMet(value: number | null, target: Target | undefined): boolean | undefined {
  if (!target) return undefined;
  if (value === null || !Number.isFinite(value)) return false;
  return (target.min === undefined || value >= target.min) && (target.max === undefined || value <= target.max);
}

export function withMet(row: Omit<Row, 'met'>): Row {
  const met = isMet(row.value, row.target);
  return met === undefined ? row : { ...row, met };
}

function formatValue(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '—';
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en');
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function formatTarget(t: Target | undefined): string {
  if (!t) return '';
  return [t.min !== undefined ? `≥ ${formatValue(t.min)}` : '', t.max !== undefined ? `≤ ${formatValue(t.max)}` : ''].filter(Boolean).join(' ');
}

export function formatTable(rows: readonly Row[]): string {
  const cells = rows.map((r) => [r.group, r.name, formatValue(r.value), r.unit, formatTarget(r.target), r.met === undefined ? '' : r.met ? 'yes' : 'NO', r.note ?? '']);
  const head = ['group', 'figure', 'value', 'unit', 'target', 'met', 'note'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === 2 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

/** Writes <time>.json; also latest.json when `latest` (a full run: a partial one must not replace the committed table). */
export function writeResults(dir: string, rows: readonly Row[], meta: Record<string, unknown>, latest = true): string {
  mkdirSync(dir, { recursive: true });
  const at = new Date();
  const doc = {
    at: at.toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? null, memoryMb: Math.round(os.totalmem() / 1048576), node: process.version, platform: `${os.platform()} ${os.release()}` },
    ...meta,
    rows,
  };
  const text = JSON.stringify(doc, null, 2) + '\n';
  const file = path.join(dir, `${at.toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, text);
  if (latest) writeFileSync(path.join(dir, 'latest.json'), text);
  return file;
}
