// `casemail inspect --json`: one NDJSON line per file with every contract field, errors as lines.
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runInspect } from '../../src/inspect/run-inspect.js';
import { tempDir } from '../support/temp-dirs.js';

function sink(): { out: Writable; lines: () => Array<Record<string, unknown>> } {
  let buf = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      buf += chunk.toString();
      cb();
    },
  });
  return { out, lines: () => buf.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/mail/parse/${name}.eml`, import.meta.url));

describe('runInspect', () => {
  it('prints one line per file, in order, with every contract field', async () => {
    const s = sink();
    const files = [fixture('related-inline-image-cid'), fixture('attached-message-rfc822')];
    expect(await runInspect(files, { json: true, out: s.out })).toBe(0);
    const lines = s.lines();
    expect(lines.map((l) => l.file)).toEqual(files);
    const first = lines[0]!;
    for (const key of ['file', 'error', 'parse', 'reply', 'classify', 'caseRef', 'severity', 'issues', 'elapsedMs']) expect(first).toHaveProperty(key);
    const parse = first.parse as Record<string, unknown>;
    for (const key of ['from', 'to', 'cc', 'replyTo', 'subject', 'messageId', 'inReplyTo', 'references', 'date', 'text', 'html', 'attachments', 'tnef']) expect(parse).toHaveProperty(key);
    expect(parse.date).toBe('2026-03-08T12:00:00.000Z');
    expect(parse.attachments).toEqual([{ filename: null, contentType: 'image/png', size: 40, md5: expect.stringMatching(/^[0-9a-f]{32}$/), contentId: '<shot1@example.com>', inline: true, fromTnef: false }]);
    expect(typeof first.elapsedMs).toBe('number');
    expect((first.issues as unknown[]).length).toBeGreaterThanOrEqual(1);
  });

  it('gives an unreadable file a line with an error and still exits 0', async () => {
    const s = sink();
    const missing = fixture('no-such-scenario');
    expect(await runInspect([missing, fixture('html-only-body')], { json: true, out: s.out })).toBe(0);
    const [bad, good] = s.lines();
    expect(bad).toMatchObject({ file: missing, error: { code: 'ENOENT' }, issues: [] });
    expect(good).toMatchObject({ error: null });
  });

  it('prints a readable summary without --json', async () => {
    let text = '';
    const out = new Writable({
      write(chunk: Buffer, _enc, cb) {
        text += chunk.toString();
        cb();
      },
    });
    await runInspect([fixture('html-only-body')], { json: false, out });
    expect(text).toContain('subject: html only');
  });

  it('prints control characters from the mail as visible escapes in the summary', async () => {
    const dir = tempDir('casemail-inspect-');
    const file = path.join(dir, 'hostile.eml');
    // An encoded subject that would retitle the terminal (OSC) and reverse the text (U+202E).
    writeFileSync(file, 'From: a@example.org\r\nSubject: =?UTF-8?B?' + Buffer.from('hi \x1b]0;pwned\x07 \u202eevil').toString('base64') + '?=\r\n\r\nbody\r\n');
    let text = '';
    const out = new Writable({
      write(chunk: Buffer, _enc, cb) {
        text += chunk.toString();
        cb();
      },
    });
    await runInspect([file], { json: false, out });
    rmSync(dir, { recursive: true, force: true });
    expect(text).toContain('subject: hi \\x1b]0;pwned\\x07 \\u202eevil');
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\x1b\x07\u202e]/);
  });
});
