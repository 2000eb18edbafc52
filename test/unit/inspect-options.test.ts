// `casemail inspect` takes the loop header and case prefix from the configuration file when one is
// given, and refuses an invalid one with exit status 2 instead of guessing.
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { runInspect } from '../../src/inspect/run-inspect.js';
import { tempDir } from '../support/temp-dirs.js';

const dir = tempDir('casemail-inspect-options-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sink(): { out: Writable; text: () => string } {
  let buf = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString();
      cb();
    },
  });
  return { out, text: () => buf };
}

const mailFile = path.join(dir, 'm.eml');
writeFileSync(mailFile, 'From: a@b.example\r\nSubject: about Ticket-100555\r\nX-Other-Loop: 1\r\n\r\nhi\r\n');

describe('inspect options', () => {
  it('uses the schema defaults without a configuration', async () => {
    const s = sink();
    expect(await runInspect([mailFile], { json: true, out: s.out, config: null })).toBe(0);
    expect(JSON.parse(s.text())).toMatchObject({ classify: { kind: 'human' }, caseRef: null });
  });

  it('uses the loop header and case prefix of the configuration file', async () => {
    const config = path.join(dir, 'casemail.json');
    writeFileSync(config, JSON.stringify({ loopHeader: 'X-Other-Loop', caseNumber: { prefix: 'Ticket' } }));
    const s = sink();
    expect(await runInspect([mailFile], { json: true, out: s.out, config })).toBe(0);
    expect(JSON.parse(s.text())).toMatchObject({ classify: { kind: 'loop' }, caseRef: { number: 100555, source: 'subject' } });
  });

  it('refuses an invalid configuration with status 2 and prints nothing on stdout', async () => {
    const config = path.join(dir, 'bad.json');
    writeFileSync(config, JSON.stringify({ loopHeader: 5 }));
    const s = sink();
    const err = sink();
    expect(await runInspect([mailFile], { json: true, out: s.out, config, err: err.out })).toBe(2);
    expect(s.text()).toBe('');
    expect(err.text()).toMatch(/loopHeader/);
  });
});
