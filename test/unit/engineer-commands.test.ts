// The engineer's command block (src/threading/engineer-commands.ts): every accepted spelling,
// every error with its line number, conflicts, and where the command block ends.
import { describe, expect, it } from 'vitest';
import { parseEngineerCommands, VALID_COMMANDS, type CommandParse } from '../../src/threading/engineer-commands.js';

function ok(text: string): Extract<CommandParse, { ok: true }> {
  const r = parseEngineerCommands(text);
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r;
}

function fails(text: string): Extract<CommandParse, { ok: false }> {
  const r = parseEngineerCommands(text);
  if (r.ok) throw new Error(`expected an error, got ${JSON.stringify(r)}`);
  return r;
}

describe('parseEngineerCommands: accepted commands', () => {
  it('reads each of the eight commands', () => {
    expect(ok('#severity 1').commands).toEqual([{ kind: 'severity', severity: 1 }]);
    expect(ok('#need-info').commands).toEqual([{ kind: 'need-info' }]);
    expect(ok('#resolved').commands).toEqual([{ kind: 'resolved' }]);
    expect(ok('#close').commands).toEqual([{ kind: 'close' }]);
    expect(ok('#open').commands).toEqual([{ kind: 'open' }]);
    expect(ok('#assign me').commands).toEqual([{ kind: 'assign', to: 'me' }]);
    expect(ok('#note').commands).toEqual([{ kind: 'note' }]);
    expect(ok('#merge 100042').commands).toEqual([{ kind: 'merge', caseNumber: 100042 }]);
  });

  it('ignores case, surrounding spaces, and a colon after the name', () => {
    expect(ok('#SEVERITY 3   ').commands).toEqual([{ kind: 'severity', severity: 3 }]);
    expect(ok('#severity: 2').commands).toEqual([{ kind: 'severity', severity: 2 }]);
    expect(ok('#Severity:2').commands).toEqual([{ kind: 'severity', severity: 2 }]);
    expect(ok('  #Need-Info \t').commands).toEqual([{ kind: 'need-info' }]);
    expect(ok('#ASSIGN ME').commands).toEqual([{ kind: 'assign', to: 'me' }]);
  });

  it('accepts the documented short spellings #sev and #needinfo', () => {
    expect(ok('#sev 2').commands).toEqual([{ kind: 'severity', severity: 2 }]);
    expect(ok('#needinfo').commands).toEqual([{ kind: 'need-info' }]);
    expect(ok('#need_info').commands).toEqual([{ kind: 'need-info' }]);
  });

  it('lower-cases an assignee address and accepts it in angle brackets', () => {
    expect(ok('#assign Erin.Example@Example.COM').commands).toEqual([{ kind: 'assign', to: 'erin.example@example.com' }]);
    expect(ok('#assign <bob@support.example>').commands).toEqual([{ kind: 'assign', to: 'bob@support.example' }]);
  });

  it('accepts a merge target written with a leading #', () => {
    expect(ok('#merge #100007').commands).toEqual([{ kind: 'merge', caseNumber: 100007 }]);
  });

  it('applies several commands, with blank lines between them, in order', () => {
    const r = ok('#severity 1\n\n#assign me\n#need-info\n\nCould you send the logs?\nThanks');
    expect(r.commands).toEqual([{ kind: 'severity', severity: 1 }, { kind: 'assign', to: 'me' }, { kind: 'need-info' }]);
    expect(r.body).toBe('Could you send the logs?\nThanks');
  });

  it('allows #note with state commands and with #merge', () => {
    expect(ok('#note\n#resolved').commands).toEqual([{ kind: 'note' }, { kind: 'resolved' }]);
    expect(ok('#merge 100001\n#note\nSame issue as 100001.').commands).toEqual([{ kind: 'merge', caseNumber: 100001 }, { kind: 'note' }]);
  });

  it('allows the same state command or #note twice, one entry per line (commands.length counts the lines)', () => {
    expect(ok('#close\n#CLOSE\nBye').commands).toEqual([{ kind: 'close' }, { kind: 'close' }]);
    expect(ok('#note\n\n#note').commands).toEqual([{ kind: 'note' }, { kind: 'note' }]);
  });
});

describe('parseEngineerCommands: where the command block ends', () => {
  it('a reply without commands is all body, leading blank lines dropped', () => {
    expect(ok('\n\nHello Ana,\n\nplease try 4.2.\n')).toEqual({ ok: true, commands: [], body: 'Hello Ana,\n\nplease try 4.2.\n' });
  });

  it('an empty reply has no commands and no body', () => {
    expect(ok('')).toEqual({ ok: true, commands: [], body: '' });
  });

  it('a reply of commands only has an empty body', () => {
    expect(ok('#resolved\n\n')).toEqual({ ok: true, commands: [{ kind: 'resolved' }], body: '' });
  });

  it('lines in the body that look like commands are body', () => {
    const r = ok('#need-info\nHello,\n#close\n#frobnicate\n#1 is the cause');
    expect(r.commands).toEqual([{ kind: 'need-info' }]);
    expect(r.body).toBe('Hello,\n#close\n#frobnicate\n#1 is the cause');
  });

  it('# followed by a digit or a space at the top starts the body', () => {
    expect(ok('#1 is the cause, #2 follows from it.')).toEqual({ ok: true, commands: [], body: '#1 is the cause, #2 follows from it.' });
    expect(ok('#close\n#42 was the ticket\n#open')).toEqual({ ok: true, commands: [{ kind: 'close' }], body: '#42 was the ticket\n#open' });
    expect(ok('# Summary\ntext').commands).toEqual([]);
  });

  it('normalises CRLF line ends', () => {
    expect(ok('#close\r\nDone.\r\nErin')).toEqual({ ok: true, commands: [{ kind: 'close' }], body: 'Done.\nErin' });
  });
});

describe('parseEngineerCommands: errors name the line', () => {
  it('an unknown command at the top', () => {
    expect(fails('#frobnicate')).toEqual({ ok: false, line: '#frobnicate', lineNumber: 1, problem: 'unknown command' });
  });

  it('counts line numbers from 1 in the visible text, blank lines included', () => {
    const r = fails('\n#severity 2\n\n#sevrity 1\nbody');
    expect(r).toMatchObject({ line: '#sevrity 1', lineNumber: 4, problem: 'unknown command' });
  });

  it('a severity outside 1-3 or missing', () => {
    expect(fails('#severity 5')).toMatchObject({ line: '#severity 5', lineNumber: 1, problem: expect.stringContaining('1, 2 or 3') });
    expect(fails('#severity')).toMatchObject({ problem: expect.stringContaining('needs a level') });
    expect(fails('#severity high').problem).toContain('"high"');
    expect(fails('#severity 2 please').problem).toContain('1, 2 or 3');
  });

  it('#assign without argument or with a non-address', () => {
    expect(fails('#assign').problem).toBe('#assign needs an address or "me"');
    expect(fails('#assign erin').problem).toContain('"erin"');
    expect(fails('#assign erin@localhost').problem).toContain('not "erin@localhost"');
    expect(fails('#assign a@b.example c@d.example').problem).toContain('#assign needs');
  });

  it('#merge without a number or with something else', () => {
    expect(fails('#merge').problem).toBe('#merge needs a case number');
    expect(fails('#merge x').problem).toBe('#merge needs a case number, not "x"');
    expect(fails('#merge 0').problem).toContain('not "0"');
    expect(fails('#merge 12345678901234567890').problem).toContain('#merge needs a case number');
  });

  it('an argument on a command that takes none', () => {
    expect(fails('#close now please')).toMatchObject({ lineNumber: 1, problem: '#close takes no argument' });
    expect(fails('#note: internal').problem).toBe('#note takes no argument');
  });

  it('state commands that disagree conflict, reported on the second line', () => {
    for (const [a, b] of [['need-info', 'resolved'], ['close', 'open'], ['resolved', 'close'], ['open', 'need-info']]) {
      const r = fails(`#${a}\n#${b}\nText`);
      expect(r).toMatchObject({ line: `#${b}`, lineNumber: 2, problem: expect.stringContaining('conflicting commands') });
    }
  });

  it('two #severity, #assign or #merge lines conflict even when equal', () => {
    expect(fails('#severity 1\n#severity 2')).toMatchObject({ lineNumber: 2, problem: 'conflicting commands: #severity given twice' });
    expect(fails('#severity 2\n#sev 2').problem).toContain('given twice');
    expect(fails('#assign me\n#assign bob@x.example').problem).toBe('conflicting commands: #assign given twice');
    expect(fails('#merge 1\n#merge 2').problem).toContain('#merge given twice');
  });

  it('#merge cannot go with state, severity or assign commands, in either order', () => {
    expect(fails('#merge 100001\n#close').problem).toContain('#merge cannot be combined with #close');
    expect(fails('#resolved\n#merge 100001')).toMatchObject({ lineNumber: 2, problem: expect.stringContaining('#merge cannot be combined with #resolved') });
    expect(fails('#severity 1\n#merge 100001').problem).toContain('#severity');
    expect(fails('#merge 100001\n#assign me').problem).toContain('#assign');
  });

  it('a bad line anywhere in the block fails the whole parse (nothing applies)', () => {
    const r = parseEngineerCommands('#severity 1\n#assign me\n#frobnicate\nBody');
    expect(r.ok).toBe(false);
  });

  it('echoes a long bad line bounded', () => {
    const r = fails(`#frob${'x'.repeat(5000)}`);
    expect(r.line.length).toBe(200);
  });
});

describe('VALID_COMMANDS', () => {
  it('lists the eight commands for the error reply, and cannot be changed', () => {
    expect(VALID_COMMANDS).toEqual(['#severity 1|2|3', '#need-info', '#resolved', '#close', '#open', '#assign <address|me>', '#note', '#merge <case number>']);
    expect(Object.isFrozen(VALID_COMMANDS)).toBe(true);
  });
});
