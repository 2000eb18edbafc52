// The directory file format (issue 2): JSON and CSV parse to the same rows; every bad row is
// reported with its line and reason (not just the first); duplicates, unknown CSV types and
// dates that do not exist are bad rows; formatDirectory writes what parseDirectory reads.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseCsv } from 'csv-parse/sync';
import { formatDirectory, parseDirectory, type DirectoryFile, type DirectoryParse, type RowProblem } from '../../src/directory/directory-file.js';

const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const read = (p: string) => readFileSync(path.join(REPO, p), 'utf8');

function parsedOk(result: DirectoryParse): { file: DirectoryFile; lines: Map<string, number> } {
  if (!result.ok) throw new Error(`expected the file to parse, got:\n${result.problems.map((p) => `line ${p.line}: ${p.reason}`).join('\n')}`);
  return result;
}

function problemsOf(result: DirectoryParse): RowProblem[] {
  if (result.ok) throw new Error('expected bad rows, but the file parsed');
  return result.problems;
}

const HEADER = 'type,organisation,name,address,role,active,team,product,starts_on,ends_on,time_zone';
const csv = (...rows: string[]) => [HEADER, ...rows].join('\n') + '\n';

const EXAMPLE: DirectoryFile = {
  organisations: [
    { key: 'acme', name: 'Acme Industries', timeZone: 'Europe/Berlin' },
    { key: 'globex', name: 'Globex Corporation', timeZone: 'America/New_York' },
  ],
  contracts: [
    { organisation: 'acme', product: 'Casemail Server', startsOn: '2026-01-01', endsOn: '2027-12-31' },
    { organisation: 'globex', product: 'Casemail Server', startsOn: '2024-01-01', endsOn: '2025-12-31' },
  ],
  contacts: [
    { organisation: 'acme', address: 'ada@acme.example', name: 'Ada Admin', role: 'org_admin', active: true },
    { organisation: 'acme', address: 'bob@acme.example', name: 'Bob Builder', role: 'contact', active: true },
    { organisation: 'globex', address: 'hank@globex.example', name: 'Hank Scorpio', role: 'contact', active: true },
  ],
  engineers: [
    { address: 'erin@vendor.example', name: 'Erin Engineer', team: 'core', role: 'engineer', active: true },
    { address: 'sam@vendor.example', name: 'Sam Supervisor', team: 'core', role: 'supervisor', active: true },
  ],
};

describe('parseDirectory: the shipped examples', () => {
  it('parses examples/directory.json', () => {
    const { file, lines } = parsedOk(parseDirectory(read('examples/directory.json'), 'json'));
    expect(file).toEqual(EXAMPLE);
    expect(lines.get('organisations[0]')).toBe(3);
    expect(lines.get('contacts[2]')).toBe(13);
    expect(lines.get('engineers[1]')).toBe(17);
  });

  it('parses examples/directory.csv to the same directory, with CSV line numbers', () => {
    const { file, lines } = parsedOk(parseDirectory(read('examples/directory.csv'), 'csv'));
    expect(file).toEqual(EXAMPLE);
    expect(lines.get('organisations[0]')).toBe(2);
    expect(lines.get('contracts[0]')).toBe(4);
    expect(lines.get('engineers[1]')).toBe(10);
  });

  it('names all three bad rows of examples/directory-bad-rows.csv with their lines, not just the first', () => {
    const problems = problemsOf(parseDirectory(read('examples/directory-bad-rows.csv'), 'csv'));
    expect(problems.map((p) => p.line)).toEqual([3, 4, 6]);
    expect(problems[0]!.reason).toMatch(/startsOn: .*(date|calendar)/);
    expect(problems[1]!.reason).toMatch(/address: not an email address/);
    expect(problems[2]!.reason).toMatch(/role: .*engineer.*supervisor/);
    expect(problems.map((p) => p.row)).toEqual(['contract', 'contact', 'engineer']);
  });
});

describe('parseDirectory: round trip through formatDirectory', () => {
  it.each(['json', 'csv'] as const)('%s: format then parse gives the same directory', (format) => {
    const text = formatDirectory(EXAMPLE, format);
    expect(parsedOk(parseDirectory(text, format)).file).toEqual(EXAMPLE);
  });

  it('csv: quoting survives names with commas, quotes and line breaks', () => {
    const tricky: DirectoryFile = {
      organisations: [{ key: 'ob', name: 'O\'Brien, "Sons" & Co', timeZone: 'Europe/Dublin' }],
      contracts: [],
      contacts: [{ organisation: 'ob', address: 'pat@ob.example', name: 'Pat\nO\'Brien', role: 'org_admin', active: false }],
      engineers: [],
    };
    expect(parsedOk(parseDirectory(formatDirectory(tricky, 'csv'), 'csv')).file).toEqual(tricky);
  });

  it('csv: a cell a spreadsheet would run as a formula is written as text and read back as it was', () => {
    const formulas: DirectoryFile = {
      organisations: [{ key: 'evil', name: "=cmd|' /C calc'!A0", timeZone: 'UTC' }],
      contracts: [{ organisation: 'evil', product: '+SUM(1+1)', startsOn: '2026-01-01', endsOn: '2026-12-31' }],
      contacts: [{ organisation: 'evil', address: 'eve@evil.example', name: '-2+3', role: 'contact', active: true }],
      engineers: [{ address: 'mal@vendor.example', name: '@SUM(A1)', team: '=1+1', role: 'engineer', active: true }],
    };
    const text = formatDirectory(formulas, 'csv');
    const cells = parseCsv(text, { from_line: 2 }) as string[][];
    expect(cells.flat().filter((c) => /^[=+\-@]/.test(c))).toEqual([]);
    expect(cells.flat()).toContain("'=cmd|' /C calc'!A0");
    expect(parsedOk(parseDirectory(text, 'csv')).file).toEqual(formulas);
  });
});

describe('parseDirectory: bad rows in JSON', () => {
  it('names every bad element with the line where it starts', () => {
    const problems = problemsOf(parseDirectory(read('test/fixtures/directory/bad-rows.json'), 'json'));
    expect(problems.map((p) => [p.line, p.row])).toEqual([
      [4, 'organisations[1]'],
      [10, 'contracts[0]'],
      [14, 'contacts[1]'],
    ]);
    expect(problems[0]!.reason).toMatch(/timeZone: unknown IANA time zone/);
    expect(problems[1]!.reason).toMatch(/startsOn: not a real calendar date/);
    expect(problems[2]!.reason).toMatch(/address: not an email address/);
  });

  it('finds element lines past strings holding brackets, commas and escaped quotes', () => {
    const text = [
      '{"organisations": [',
      '  {"key": "a", "name": "A [x], {y} \\"z\\" ,", "timeZone": "UTC"},',
      '  {"key": "b", "name": "B", "timeZone": "UTC"}',
      '], "contacts": [',
      '  {"organisation": "a", "address": "one@a.example"},',
      '  {"organisation": "a", "address": "nope"}',
      ']}',
    ].join('\n');
    const problems = problemsOf(parseDirectory(text, 'json'));
    expect(problems.map((p) => [p.line, p.row])).toEqual([[6, 'contacts[1]']]);
  });

  it('a non-object element is a bad row on its own line', () => {
    const text = '{\n  "engineers": [\n    "erin@vendor.example",\n    null\n  ]\n}\n';
    const problems = problemsOf(parseDirectory(text, 'json'));
    expect(problems.map((p) => p.line)).toEqual([3, 4]);
  });

  it('an unknown section, a non-list section or invalid JSON is one problem for the file', () => {
    expect(problemsOf(parseDirectory('{"customers": []}', 'json'))).toEqual([
      expect.objectContaining({ row: 'customers', reason: expect.stringMatching(/unknown section "customers"/) }),
    ]);
    expect(problemsOf(parseDirectory('{"contacts": {}}', 'json'))[0]!.reason).toBe('expected a list');
    expect(problemsOf(parseDirectory('{"contacts": [', 'json'))[0]!.reason).toMatch(/not valid JSON/);
    expect(problemsOf(parseDirectory('[]', 'json'))[0]!.reason).toMatch(/expected an object/);
  });
});

describe('parseDirectory: bad rows in CSV', () => {
  it('reports an unknown row type with its line, and the other bad rows too', () => {
    const problems = problemsOf(parseDirectory(csv(
      'organisation,acme,Acme,,,,,,,,UTC',
      'customer,acme,Bob,bob@acme.example,contact,true,,,,,',
      ',acme,Nobody,nobody@acme.example,,,,,,,',
      'contact,acme,Carol,carol@acme.example,boss,true,,,,,',
    ), 'csv'));
    expect(problems.map((p) => [p.line, p.row])).toEqual([[3, 'customer'], [4, '(no type)'], [5, 'contact']]);
    expect(problems[0]!.reason).toBe('type must be one of organisation, contract, contact, engineer');
    expect(problems[2]!.reason).toMatch(/^role: /);
  });

  it.each([
    ['2026-02-30', /not a real calendar date/],
    ['2025-02-29', /not a real calendar date/],
    ['2026-04-31', /not a real calendar date/],
    ['2026-13-01', /not a real calendar date/],
    ['2026-00-10', /not a real calendar date/],
    ['30.02.2026', /expected a date YYYY-MM-DD/],
    ['2026-2-3', /expected a date YYYY-MM-DD/],
  ])('rejects the date %s', (date, reason) => {
    const problems = problemsOf(parseDirectory(csv('organisation,acme,Acme,,,,,,,,UTC', `contract,acme,,,,,,Server,${date},2027-12-31,`), 'csv'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ line: 3, row: 'contract' });
    expect(problems[0]!.reason).toMatch(reason);
  });

  it('accepts 29 February in a leap year and a one-day contract', () => {
    const { file } = parsedOk(parseDirectory(csv('organisation,acme,Acme,,,,,,,,UTC', 'contract,acme,,,,,,Server,2028-02-29,2028-02-29,'), 'csv'));
    expect(file.contracts).toEqual([{ organisation: 'acme', product: 'Server', startsOn: '2028-02-29', endsOn: '2028-02-29' }]);
  });

  it('rejects a contract that ends before it starts', () => {
    const problems = problemsOf(parseDirectory(csv('contract,acme,,,,,,Server,2027-01-01,2026-12-31,'), 'csv'));
    expect(problems).toEqual([{ line: 2, row: 'contract', reason: 'endsOn: startsOn is after endsOn' }]);
  });

  it('lists several problems of one row in one line', () => {
    const problems = problemsOf(parseDirectory(csv('engineer,,,not-an-address,wizard,maybe,,,,,'), 'csv'));
    expect(problems).toHaveLength(1);
    expect(problems[0]!.reason).toMatch(/address: .*; name: .*; role: .*; active: /);
  });

  it('reports the line a row starts on when an earlier quoted field spans lines', () => {
    const problems = problemsOf(parseDirectory(csv(
      'organisation,acme,"Acme\nIndustries\nGmbH",,,,,,,,UTC',
      'contact,acme,Bob,bob-at-acme,contact,true,,,,,',
    ), 'csv'));
    expect(problems.map((p) => p.line)).toEqual([5]);
  });

  it('counts lines right in a CRLF file with a BOM, blank lines, non-ASCII names and a CRLF inside a quoted field', () => {
    const text = '\ufeff' + [
      HEADER,
      'organisation,acme,"Acme Müller\r\nGmbH & Cö",,,,,,,,Europe/Berlin',
      '',
      'contact,acme,Zoë,zoe-at-acme,contact,true,,,,,',
      'contact,acme,"Åsa\r\nÖberg",asa@acme.example,chief,true,,,,,',
      'contact,acme,Bob,bob@acme.example,contact,true,,,,,',
      'engineer,,Erin,erin@vendor,engineer,true,core,,,,',
    ].join('\r\n') + '\r\n';
    const problems = problemsOf(parseDirectory(text, 'csv'));
    expect(problems.map((p) => p.line)).toEqual([5, 6, 9]);
  });

  it('a bad row spanning lines is reported at its first line', () => {
    const problems = problemsOf(parseDirectory(csv(
      'organisation,acme,Acme,,,,,,,,UTC',
      'contact,acme,"Bob\nBuilder",bob-at-acme,contact,true,,,,,',
    ), 'csv'));
    expect(problems.map((p) => p.line)).toEqual([3]);
  });
});

describe('parseDirectory: duplicates and references', () => {
  it('an address given twice (as contacts, or as a contact and an engineer) is a bad row naming the first line', () => {
    const problems = problemsOf(parseDirectory(csv(
      'organisation,acme,Acme,,,,,,,,UTC',
      'contact,acme,Bob,bob@acme.example,contact,true,,,,,',
      'contact,acme,Bobby,BOB@acme.example,contact,true,,,,,',
      'engineer,,Bob the engineer,bob@acme.example,engineer,true,core,,,,',
    ), 'csv'));
    expect(problems).toEqual([
      { line: 4, row: 'contact', reason: 'address bob@acme.example already given on line 3' },
      { line: 5, row: 'engineer', reason: 'address bob@acme.example already given on line 3' },
    ]);
  });

  it('an organisation key or a contract given twice is a bad row', () => {
    const problems = problemsOf(parseDirectory(csv(
      'organisation,acme,Acme,,,,,,,,UTC',
      'contract,acme,,,,,,Server,2026-01-01,2026-12-31,',
      'organisation,acme,Acme again,,,,,,,,UTC',
      'contract,acme,,,,,,Server,2026-01-01,2027-12-31,',
    ), 'csv'));
    expect(problems.map((p) => [p.line, p.reason])).toEqual([
      [4, 'organisation "acme" already given on line 2'],
      [5, 'the same contract already given on line 3'],
    ]);
  });

  it('leaves a reference to an organisation the file does not define to the store (it may be in the database), keeping its line', () => {
    // The store reports "unknown organisation" with this line when the database has no such key
    // (see test/integration/directory-store.test.ts).
    const { file, lines } = parsedOk(parseDirectory(csv(
      'organisation,acme,Acme,,,,,,,,UTC',
      'contact,initech,Peter,peter@initech.example,contact,true,,,,,',
    ), 'csv'));
    expect(file.contacts).toEqual([{ organisation: 'initech', address: 'peter@initech.example', name: 'Peter', role: 'contact', active: true }]);
    expect(lines.get('contacts[0]')).toBe(3);
  });

  it('normalises addresses and fills defaults', () => {
    const { file } = parsedOk(parseDirectory(csv(
      'organisation,acme,Acme,,,,,,,,',
      'contact,acme,,  Bob@ACME.example ,,,,,,,',
      'engineer,,Erin,Erin@Vendor.example,,no,,,,,',
    ), 'csv'));
    expect(file.organisations[0]!.timeZone).toBe('UTC');
    expect(file.contacts[0]).toEqual({ organisation: 'acme', address: 'bob@acme.example', name: '', role: 'contact', active: true });
    expect(file.engineers[0]).toEqual({ address: 'erin@vendor.example', name: 'Erin', team: 'support', role: 'engineer', active: false });
  });

  it('reads spreadsheet-style TRUE/FALSE in the active column', () => {
    const { file } = parsedOk(parseDirectory(csv(
      'organisation,acme,Acme,,,,,,,,UTC',
      'contact,acme,Bob,bob@acme.example,contact,TRUE,,,,,',
      'contact,acme,Carol,carol@acme.example,contact,FALSE,,,,,',
    ), 'csv'));
    expect(file.contacts.map((c) => c.active)).toEqual([true, false]);
  });
});
