// The directory file format (JSON or CSV) of organisations, contracts, contacts and engineers:
// parsing with every bad row reported by line and reason, and writing the same format back.
// In CSV a cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first) is written with a
// leading apostrophe, which reading the CSV back removes again. No database here: directory-store.ts applies a parsed file.
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as stringifyCsv } from 'csv-stringify/sync';
import { z } from 'zod';
import { isTimeZone } from '../calendar/business-calendar.js';

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date YYYY-MM-DD').refine(
  (s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s),
  'not a real calendar date',
);
const address = z.string().trim().email('not an email address').transform((s) => s.toLowerCase());
const key = z.string().trim().min(1, 'organisation key is empty');
// Case-insensitive: spreadsheets write TRUE/FALSE.
const booleanish = z.preprocess((v) => (typeof v === 'string' ? v.trim().toLowerCase() : v),
  z.union([z.boolean(), z.enum(['true', 'false', 'yes', 'no', '1', '0', ''])]))
  .transform((v) => (typeof v === 'boolean' ? v : v === '' ? true : ['true', 'yes', '1'].includes(v)));

export const organisationRow = z.object({
  key,
  name: z.string().trim().min(1, 'name is empty'),
  timeZone: z.string().trim().default('UTC').refine(isTimeZone, 'unknown IANA time zone'),
});
export const contractRow = z.object({
  organisation: key,
  product: z.string().trim().min(1, 'product is empty'),
  startsOn: isoDate,
  endsOn: isoDate,
}).refine((c) => c.startsOn <= c.endsOn, { message: 'startsOn is after endsOn', path: ['endsOn'] });
export const contactRow = z.object({
  organisation: key,
  address,
  name: z.string().trim().default(''),
  role: z.enum(['contact', 'org_admin']).default('contact'),
  active: booleanish.default(true),
});
export const engineerRow = z.object({
  address,
  name: z.string().trim().min(1, 'name is empty'),
  team: z.string().trim().min(1).default('support'),
  role: z.enum(['engineer', 'supervisor']).default('engineer'),
  active: booleanish.default(true),
});

export type OrganisationRow = z.infer<typeof organisationRow>;
export type ContractRow = z.infer<typeof contractRow>;
export type ContactRow = z.infer<typeof contactRow>;
export type EngineerRow = z.infer<typeof engineerRow>;

export interface DirectoryFile {
  organisations: OrganisationRow[];
  contracts: ContractRow[];
  contacts: ContactRow[];
  engineers: EngineerRow[];
}

export interface RowProblem {
  /** 1-based line in the file where the row starts. */
  line: number;
  /** e.g. "contacts[2]" (JSON) or "contact" (CSV). */
  row: string;
  reason: string;
}

export type DirectoryParse =
  | { ok: true; file: DirectoryFile; /** "contacts[2]" -> line, for problems the database finds later */ lines: Map<string, number> }
  | { ok: false; problems: RowProblem[] };

type Section = keyof DirectoryFile;
const SECTIONS: Section[] = ['organisations', 'contracts', 'contacts', 'engineers'];
const SCHEMAS = { organisations: organisationRow, contracts: contractRow, contacts: contactRow, engineers: engineerRow } as const;
const CSV_TYPES: Record<string, Section> = {
  organisation: 'organisations', contract: 'contracts', contact: 'contacts', engineer: 'engineers',
};
/** CSV columns, in order; each row type uses the ones that apply to it. */
export const CSV_COLUMNS = ['type', 'organisation', 'name', 'address', 'role', 'active', 'team', 'product', 'starts_on', 'ends_on', 'time_zone'] as const;

export function parseDirectory(text: string, format: 'json' | 'csv'): DirectoryParse {
  const raw = format === 'json' ? rawRowsFromJson(text) : rawRowsFromCsv(text);
  if ('fatal' in raw) return { ok: false, problems: [raw.fatal] };
  const file: DirectoryFile = { organisations: [], contracts: [], contacts: [], engineers: [] };
  const problems: RowProblem[] = 'problems' in raw ? [...(raw.problems as RowProblem[])] : [];
  const lines = new Map<string, number>();
  for (const r of raw.rows) {
    const parsed = SCHEMAS[r.section].safeParse(r.value);
    if (!parsed.success) {
      problems.push({ line: r.line, row: r.label, reason: parsed.error.issues.map((i) => `${i.path.join('.') || 'row'}: ${i.message}`).join('; ') });
      continue;
    }
    lines.set(`${r.section}[${file[r.section].length}]`, r.line);
    (file[r.section] as unknown[]).push(parsed.data);
    (r as RawRow & { parsed?: unknown }).parsed = parsed.data;
  }
  problems.push(...crossCheck(raw.rows));
  problems.sort((a, b) => a.line - b.line);
  return problems.length ? { ok: false, problems } : { ok: true, file, lines };
}

interface RawRow {
  section: Section;
  line: number;
  label: string;
  value: unknown;
}

/** Duplicates within the file are found here. References to organisations the file does not define may be to ones already in
 * the database, so the store checks those (reporting the row's line from `lines`). */
function crossCheck(rows: (RawRow & { parsed?: unknown })[]): RowProblem[] {
  const problems: RowProblem[] = [];
  const seen = new Map<string, number>();
  const dup = (id: string, r: RawRow, what: string) => {
    const first = seen.get(id);
    if (first !== undefined) problems.push({ line: r.line, row: r.label, reason: `${what} already given on line ${first}` });
    else seen.set(id, r.line);
  };
  for (const r of rows) {
    const p = r.parsed as Record<string, string> | undefined;
    if (!p) continue;
    if (r.section === 'organisations') dup(`org:${p.key}`, r, `organisation "${p.key}"`);
    if (r.section === 'contracts') dup(`contract:${p.organisation}:${p.product}:${p.startsOn}`, r, 'the same contract');
    if (r.section === 'contacts' || r.section === 'engineers') dup(`addr:${p.address}`, r, `address ${p.address}`);
  }
  return problems;
}

function rawRowsFromCsv(text: string): { rows: RawRow[]; problems: RowProblem[] } | { fatal: RowProblem } {
  // Line numbers come from each record's end offset (info.bytes), not info.lines: that is the
  // line where a record ends (not starts) and counts a CRLF inside a quoted field twice.
  const buf = Buffer.from(text, 'utf8');
  let parsed: { record: string[]; info: { bytes: number } }[];
  try {
    parsed = parseCsv(buf, { skip_empty_lines: true, trim: true, info: true, relax_column_count: true, bom: true }) as unknown as typeof parsed;
  } catch (err) {
    const e = err as Error & { lines?: number };
    return { fatal: { line: e.lines ?? 1, row: 'file', reason: `not valid CSV: ${e.message}` } };
  }
  let scanned = 0;
  let lineNo = 1;
  /** 1-based line of the first non-blank byte at or after `from`: where the record there starts. */
  const startLine = (from: number): number => {
    let i = from;
    while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x09 || buf[i] === 0x0d || buf[i] === 0x0a)) i++;
    for (; scanned < i; scanned++) if (buf[scanned] === 0x0a) lineNo++;
    return lineNo;
  };
  const header = (parsed[0]?.record ?? []).map((c) => c.trim().toLowerCase());
  const records = parsed.slice(1).map(({ record }, i) => ({
    record: Object.fromEntries(header.map((h, j) => [h, record[j]])) as Record<string, string | undefined>,
    line: startLine(parsed[i]!.info.bytes),
  }));
  const rows: RawRow[] = [];
  const problems: RowProblem[] = [];
  for (const { record, line } of records) {
    const type = (record.type ?? '').toLowerCase();
    const section = CSV_TYPES[type];
    if (!section) {
      problems.push({ line, row: type || '(no type)', reason: `type must be one of ${Object.keys(CSV_TYPES).join(', ')}` });
      continue;
    }
    const v = (k: string) => (record[k] === undefined || record[k] === '' ? undefined : fromCsvCell(record[k]));
    const value =
      section === 'organisations' ? { key: v('organisation'), name: v('name'), timeZone: v('time_zone') }
      : section === 'contracts' ? { organisation: v('organisation'), product: v('product'), startsOn: v('starts_on'), endsOn: v('ends_on') }
      : section === 'contacts' ? { organisation: v('organisation'), address: v('address'), name: v('name'), role: v('role'), active: v('active') }
      : { address: v('address'), name: v('name'), team: v('team'), role: v('role'), active: v('active') };
    rows.push({ section, line, label: type, value });
  }
  return { rows, problems };
}

function rawRowsFromJson(text: string): { rows: RawRow[] } | { fatal: RowProblem } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { fatal: { line: 1, row: 'file', reason: `not valid JSON: ${(err as Error).message}` } };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return { fatal: { line: 1, row: 'file', reason: 'expected an object with organisations, contracts, contacts, engineers' } };
  }
  const lines = elementLines(text);
  const rows: RawRow[] = [];
  for (const [name, list] of Object.entries(doc)) {
    if (!(SECTIONS as string[]).includes(name)) {
      return { fatal: { line: 1, row: name, reason: `unknown section "${name}" (expected ${SECTIONS.join(', ')})` } };
    }
    if (!Array.isArray(list)) return { fatal: { line: 1, row: name, reason: 'expected a list' } };
    list.forEach((value, i) => rows.push({ section: name as Section, line: lines.get(`${name}[${i}]`) ?? 1, label: `${name}[${i}]`, value }));
  }
  return { rows };
}

/** Line number of each element of the top-level arrays, found by one scan of the JSON text. */
function elementLines(text: string): Map<string, number> {
  const out = new Map<string, number>();
  let line = 1;
  let depth = 0;
  let inString = false;
  let currentKey = '';
  let lastString = '';
  let stringStart = 0;
  let index = -1;
  let expectingElement = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\n') line++;
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') {
        inString = false;
        lastString = text.slice(stringStart, i);
      }
      continue;
    }
    if (ch === '"') {
      inString = true;
      stringStart = i + 1;
      if (depth === 2 && expectingElement) {
        out.set(`${currentKey}[${++index}]`, line);
        expectingElement = false;
      }
      continue;
    }
    if (ch === ':' && depth === 1) currentKey = lastString;
    if (ch === '[' || ch === '{') {
      if (depth === 2 && expectingElement) {
        out.set(`${currentKey}[${++index}]`, line);
        expectingElement = false;
      }
      depth++;
      if (depth === 2 && ch === '[') {
        index = -1;
        expectingElement = true;
      }
    } else if (ch === ']' || ch === '}') {
      depth--;
    } else if (ch === ',' && depth === 2) {
      expectingElement = true;
    } else if (depth === 2 && expectingElement && !/\s/.test(ch ?? '')) {
      out.set(`${currentKey}[${++index}]`, line);
      expectingElement = false;
    }
  }
  return out;
}

export function formatDirectory(file: DirectoryFile, format: 'json' | 'csv'): string {
  if (format === 'json') return JSON.stringify(file, null, 2) + '\n';
  const rows: Record<string, string>[] = [];
  for (const o of file.organisations) rows.push({ type: 'organisation', organisation: o.key, name: o.name, time_zone: o.timeZone });
  for (const c of file.contracts) rows.push({ type: 'contract', organisation: c.organisation, product: c.product, starts_on: c.startsOn, ends_on: c.endsOn });
  for (const c of file.contacts) rows.push({ type: 'contact', organisation: c.organisation, name: c.name, address: c.address, role: c.role, active: String(c.active) });
  for (const e of file.engineers) rows.push({ type: 'engineer', name: e.name, address: e.address, role: e.role, active: String(e.active), team: e.team });
  return stringifyCsv(rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, toCsvCell(v)]))), { header: true, columns: [...CSV_COLUMNS] });
}

/** What a spreadsheet opening the CSV would run as a formula (OWASP "CSV injection"). */
const FORMULA_START = /^[=+\-@\t\r]/;

/** A cell as written to CSV: a would-be formula gets a leading apostrophe, so it stays text. */
export function toCsvCell(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** A cell as read from CSV: the apostrophe toCsvCell put before a would-be formula is removed. */
export function fromCsvCell(value: string): string {
  return value.startsWith("'") && FORMULA_START.test(value.slice(1)) ? value.slice(1) : value;
}
