// What the CLI prints from mail: control characters (ESC/OSC, C1, DEL), bidi overrides and line
// separators become visible escapes; JSON stays JSON and parses to the same value.
import { describe, expect, it } from 'vitest';
import { directoryForOutput, stringifyForTerminal, terminalJson, terminalLine, terminalText } from '../../src/cli/terminal-text.js';

const HOSTILE = 'Invoice \x1b]0;pwned\x07 \x9b31m red \u202egnp.exe \u2028 end\x7f';

describe('terminalLine', () => {
  it('prints escape sequences, C1, bidi overrides and DEL as visible escapes', () => {
    expect(terminalLine(HOSTILE)).toBe('Invoice \\x1b]0;pwned\\x07 \\x9b31m red \\u202egnp.exe \\u2028 end\\x7f');
  });

  it('keeps a line one line: newline, CR and tab escaped', () => {
    expect(terminalLine('a\nb\r\tc')).toBe('a\\x0ab\\x0d\\x09c');
  });

  it('leaves ordinary text alone, accents and emoji included', () => {
    const s = 'Grüße aus Köln — 😀 [Case #100042] "quoted" \\ back';
    expect(terminalLine(s)).toBe(s);
  });
});

describe('terminalText', () => {
  it('keeps newlines and tabs but escapes the rest', () => {
    expect(terminalText('a\n\tb\x1b[2J')).toBe('a\n\tb\\x1b[2J');
  });
});

describe('terminalJson', () => {
  it('has no raw control, C1 or bidi character and parses back to the same value', () => {
    const value = { subject: HOSTILE, nested: [{ name: 'x\u0085y\u2066z' }] };
    const json = stringifyForTerminal(value);
    // eslint-disable-next-line no-control-regex
    expect(json).not.toMatch(/[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\u202e\u2066\u2028]/);
    expect(JSON.parse(json)).toEqual(value);
    expect(json).toContain('\\u202egnp.exe');
  });

  it('keeps the indentation of pretty-printed JSON', () => {
    expect(terminalJson(JSON.stringify({ a: 1 }, null, 2))).toBe('{\n  "a": 1\n}');
  });
});

describe('directory export output', () => {
  const csv = 'type,organisation,name\norganisation,acme,"Acme \x1b]0;x\x07"\n';
  it('escapes CSV for a terminal but keeps its exact bytes for a file', () => {
    expect(directoryForOutput(csv, 'csv', true)).toBe('type,organisation,name\norganisation,acme,"Acme \\x1b]0;x\\x07"\n');
    expect(directoryForOutput(csv, 'csv', false)).toBe(csv);
  });

  it('makes JSON terminal-safe in both cases without changing the data', () => {
    const json = JSON.stringify({ organisations: [{ name: 'Acme \u202e\x9b' }] }, null, 2);
    const out = directoryForOutput(json, 'json', false);
    expect(out).not.toMatch(/[\u202e\x9b]/);
    expect(JSON.parse(out)).toEqual(JSON.parse(json));
  });
});
