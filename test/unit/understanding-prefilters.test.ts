// The shortcuts that keep understanding cheap must not change a result: reportSection's walk over
// the lines with its first-character pre-filter against the split-per-line form it replaces, and
// the pre-filters in front of the bounce-sentence, severity and count-phrase patterns on inputs at
// their edges.
import { describe, expect, it } from 'vitest';
import { bounceBodyPhrase, reportSection, reportSectionByLines } from '../../src/threading/bounce-text.js';
import { htmlToQuoteText } from '../../src/threading/quote-html.js';
import { suggestSeverity } from '../../src/threading/severity.js';
import { explainSplit, splitIssues } from '../../src/threading/split-issues.js';

const CAP = 48 * 1024;

describe('reportSection: the same cut as the split-per-line rule', () => {
  const tricky: Array<[string, string]> = [
    ['empty', ''],
    ['one newline', '\n'],
    ['marker on line 0 (dashes)', '--- Original Message ---\nbody'],
    ['marker on line 0 (header)', 'Received: from x\nbody'],
    ['header on line 1', 'a\nReceived: from x\nbody'],
    ['header on line 2', 'a\nb\nReceived: from x\nbody'],
    ['header on line 3', 'a\nb\nc\nReceived: from x\nbody'],
    ['dashes on line 1 and 2', 'a\n-- returned message\nb\n---- undelivered message'],
    ['header after \\r on line 0..3', 'a\rReceived: x\nb\rReturn-Path: y\nc\nd\re\rMessage-ID: <a@b>\nz'],
    ['header after \\r from line 3 on', 'a\nb\nc\nd\rReceived: x\nReceived: y\ntail'],
    ['\\r before the marker on its own line', 'a\nb\nc\n\rReceived: x\ntail'],
    ['\\r\\n line ends', 'a\r\nb\r\nc\r\nReceived: x\r\ntail'],
    ['\\u2028 and \\u2029', 'a\u2028Received: x\nb\u2029--- original message\nc\nd\u2028\u2029Return-Path: <x@y>\ntail'],
    ['\\u2028 at a line start', 'a\nb\nc\n\u2028Received: x\ntail'],
    ['blank lines before a header', 'a\n\n\n\nReceived: x'],
    ['blank lines with spaces before a header on line 2', '\n  \n\t\nReceived: x'],
    ['whitespace-only lines, then dashes', '  \n \t \n-- forwarded message'],
    ['no-break space indent', 'a\nb\nc\n\u00a0Received: x'],
    ['marker in mid-line', 'see --- Original Message --- below\nb\nc\nd Received: x\ntail'],
    ['single dash is no marker', 'a\n- original message\nb'],
    ['header without its space', 'a\nb\nc\nReceived:x\nReceived: y'],
    ['upper case', 'a\nb\nc\nRECEIVED: x'],
    ['trailing newline', 'a\nb\nc\nReceived: x\n'],
    ['marker is the last line', 'a\nb\nc\nd\n-- message headers follow'],
    ['marker just past the cap', `${'x'.repeat(CAP - 2)}\n--- Original Message\nReceived: y`],
    ['marker cut by the cap', `${'x'.repeat(CAP - 12)}\n--- Original Message\nReceived: y`],
    ['marker just inside the cap', `${'x'.repeat(CAP - 30)}\n--- Original Message ---\n`],
    ['many lines, marker past the cap', `${'line\n'.repeat(12_000)}Received: x`],
    ['many blank lines, header late', `${'\n'.repeat(5_000)}Received: x\nmore`],
    ['white space of every kind before a marker', 'a\nb\nc\n\u000b\f\u1680\u2000\u200a\u202f\u205f\u3000\ufeffReceived: x'],
    ['a non-space above U+1680 first', 'a\nb\nc\n\u4e00Received: x\n\u2003Received: y'],
    ['letters that look like marker openers', 'a\nb\nc\nÓriginal message headers:\nDelivered-To: x'],
    ['lower-case and upper-case openers', 'a\nb\nc\nARC-Seal: x\n'],
    ['the Kelvin sign and long s', 'a\nb\nc\n\u212aReceived: x\n\u017fx-received: y\nmime-version: 1.0'],
  ];
  it.each(tricky)('%s', (_name, text) => {
    expect(reportSection(text)).toBe(reportSectionByLines(text));
  });

  it('agrees on generated texts', () => {
    const pieces = ['Received: a', 'return-path: <a@b>', '--- Original Message', '-- this is a copy of the message', 'original message headers:',
      'X-Received: b', 'DKIM-Signature: c', 'text', 'more text', '', ' ', '\t', '-', '--', 'Message-ID: <x@y>', 'Mime-Version: 1.0'];
    const seps = ['\n', '\n', '\r\n', '\r', '\u2028', '\u2029', ' ', '\n\n', '\n \n'];
    let seed = 42;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let k = 0; k < 2000; k++) {
      let text = '';
      const n = next(12);
      for (let i = 0; i < n; i++) text += pieces[next(pieces.length)]! + seps[next(seps.length)]!;
      expect(reportSection(text), JSON.stringify(text)).toBe(reportSectionByLines(text));
    }
  });
});

describe('bounceBodyPhrase behind its pre-filter', () => {
  it.each([
    ['THIS IS THE MAIL SYSTEM AT host mx', 'this is the mail system at'],
    ["I'm sorry to have to inform you that your message could not", "i'm sorry to have to inform you that your message could not"],
    ['Sorry we were unable to deliver', 'sorry we were unable to deliver'],
    ['Transcript of session follows', 'transcript of session follows'],
    ['SMTP error from remote mail server', 'smtp error from remote mail server'],
    ['Unrouteable address', 'unrouteable address'],
    ['Retry timeout exceeded', 'retry timeout exceeded'],
    ['The original message was received at', 'the original message was received at'],
    ['did not reach the following recipient', 'did not reach the following recipient'],
    ['The following recipients failed', 'the following recipients failed'],
    ['Your message to bob@example.com could not be delivered', 'your message to bob@example.com could not be delivered'],
    ['UNDELIVERABLE MESSAGE', 'undeliverable message'],
  ])('%s', (sentence, phrase) => {
    expect(bounceBodyPhrase(`Hello,\n${sentence} today.\n`)).toBe(phrase);
  });

  it('finds nothing in ordinary mail', () => {
    expect(bounceBodyPhrase('Our nightly export stops with error E42; the following log shows it.')).toBeNull();
  });
});

describe('suggestSeverity behind its pre-filters', () => {
  it.each([
    // Under /iu the long s folds to "s": the pre-filter carries the same flags.
    ['ſeverity 1', 1, 'explicit "ſeverity 1" in text'],
    ['ſev: 2', 2, 'explicit "ſev: 2" in text'],
    ['PRIORITY: Urgent', 1, 'explicit "PRIORITY: Urgent" in text'],
    ['prod is DOWN', 1, '"production down" in text'],
    ['the system is inoperable', 1, '"system down" in text'],
    ['Nobody can login', 1, '"no one can work" in text'],
    ['DATA LOSS', 1, '"data loss" in text'],
    ['a show-stopper', 1, '"emergency" in text'],
    ['Several users cannot print', 2, '"users blocked" in text'],
    ['it is very slow', 2, '"performance" in text'],
  ] as const)('%s', (text, suggested, reason) => {
    expect(suggestSeverity('Question', text)).toEqual({ suggested, reasons: [reason] });
  });

  it('reads a marker in the subject and phrases in quoted-free text', () => {
    expect(suggestSeverity('P1: outage', 'all good')).toEqual({ suggested: 1, reasons: ['explicit "P1" in subject'] });
    expect(suggestSeverity('Question', '> production is down\nbut the outage is over')).toEqual({ suggested: 1, reasons: ['"outage" in text'] });
  });

  it('defaults when no pattern can match', () => {
    expect(suggestSeverity('Export problem', 'Our export stops with error E42 after ten minutes.')).toEqual({ suggested: 3, reasons: ['default'] });
  });
});

describe('splitIssues: the count phrase pre-filter', () => {
  const items = '1. The export fails with error E42 every night since the update.\n2. The import hangs for ten minutes and then stops with a timeout.\n';
  it('a count phrase across a line break counts as none', () => {
    expect(explainSplit('Help', `We found two\nissues today:\n\n${items}`)).toEqual(explainSplit('Help', `We found these today:\n\n${items}`));
  });
  it('a count phrase in the subject or the opening still counts', () => {
    expect(splitIssues('Two problems', `Hello,\n\n${items}`)).toHaveLength(2);
    expect(splitIssues('Help', `Hello, we have two problems.\n\n${items}`)).toHaveLength(2);
  });
});

describe('htmlToQuoteText: white space collapsed only where it changes the text', () => {
  it.each([
    ['<p>one two</p><p>three  four</p>', 'one two\n\nthree four'],
    ['<p> lead</p><p>a\tb\nc</p>', 'lead\n\na b c'],
    ['<div>x<span> y</span><span>  z</span></div>', 'x y z'],
    ['<p>a\u00a0 b</p><p>c\u3000d</p>', 'a b\n\nc d'],
    ['<pre>  keep   this\n  too</pre>', 'keep   this\n  too'],
    ['<p>a&nbsp;&nbsp;b</p>', 'a b'],
  ])('%j', (html, text) => {
    expect(htmlToQuoteText(html)).toBe(text);
  });
});
