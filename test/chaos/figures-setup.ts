// Chaos global setup: one figures file for the run; at the end the figures are printed as one
// table (and written to chaos-results/latest.json when CHAOS_RESULTS_DIR is set) and the file removed.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import type { ChaosFigure } from './figures.js';

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(path.join(tmpdir(), 'casemail-chaos-figures-'));
  const file = path.join(dir, 'figures.jsonl');
  writeFileSync(file, '');
  project.provide('chaosFiguresFile', file);
  return () => {
    const rows: ChaosFigure[] = existsSync(file)
      ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ChaosFigure)
      : [];
    rmSync(dir, { recursive: true, force: true });
    process.stdout.write('\n' + chaosTable(rows) + '\n');
    const out = process.env.CHAOS_RESULTS_DIR;
    if (out) {
      mkdirSync(out, { recursive: true });
      writeFileSync(path.join(out, 'latest.json'), JSON.stringify({ short: process.env.CHAOS_SHORT === '1', at: new Date().toISOString(), figures: rows }, null, 2) + '\n');
    }
  };
}

export function chaosTable(rows: readonly ChaosFigure[]): string {
  const head = ['part', 'measure', 'value', 'promise', 'held'];
  const body = rows.map((r) => [r.part, r.measure, String(r.value), r.limit, r.limit ? (r.ok ? 'yes' : 'NO') : '']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [`casemail chaos (${process.env.CHAOS_SHORT === '1' ? 'short run' : 'full run'})`, line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n');
}
