// Parsing quirks, one fixture each (test/fixtures/mail/parse/<scenario>.eml), through the real parser.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MAX_HTML_FOR_TEXT, parseMessage } from '../../src/ingest/parse-message.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/mail/parse/${name}.eml`, import.meta.url));
const parse = (name: string) => parseMessage(fixture(name));
const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');

describe('parseMessage: addresses', () => {
  it('flattens groups, keeps escaped quotes, takes names from comments, decodes IDN, drops source routes', async () => {
    const m = await parse('address-groups-odd-quoting-idn');
    expect(m.from).toEqual({ address: 'john.smith@example.com', name: 'Smith, John "JJ"' });
    expect(m.to).toEqual([
      { address: 'alice@example.org', name: '' },
      { address: 'bob@example.org', name: 'Bob (ops)' },
      { address: 'carol@bücher.example', name: 'Carol C.' },
    ]);
    expect(m.cc).toEqual([]);
    expect(m.replyTo).toEqual([{ address: 'reply@example.net', name: '' }]);
    expect(m.date?.toISOString()).toBe('2026-03-02T08:15:00.000Z');
  });
});

describe('parseMessage: encodings and charsets', () => {
  it('joins a UTF-8 character split across encoded words and decodes RFC 2231 continuations', async () => {
    const m = await parse('rfc2047-split-multibyte-and-rfc2231-filename');
    expect(m.subject).toBe('Grüße und Löschen');
    expect(m.from?.name).toBe('Jürgen');
    expect(m.attachments).toHaveLength(1);
    expect(m.attachments[0]).toMatchObject({ filename: 'Prüfbericht März.pdf', contentType: 'application/pdf', size: 9, md5: md5('%PDF-1.4\n') });
  });

  it('reads a part labelled Big5 whose bytes are UTF-8 as UTF-8, with a warning', async () => {
    const m = await parse('big5-label-with-utf8-bytes');
    expect(m.subject).toBe('系統錯誤');
    expect(m.text).toBe('系統無法登入，請協助。\n');
    expect(m.warnings.join(' ')).toMatch(/big5/i);
  });

  it('still decodes real Big5', async () => {
    const m = await parse('real-big5-text');
    expect(m.text.trim()).toBe('系統無法登入');
    expect(m.warnings).toEqual([]);
  });

  it('reads raw 8-bit header bytes in the body charset', async () => {
    const m = await parse('raw-8bit-latin1-headers');
    expect(m.subject).toBe('Grüße aus Köln');
    expect(m.from).toEqual({ address: 'jm@example.de', name: 'Jürgen Müller' });
    expect(m.text.trim()).toBe('Schöne Grüße.');
  });

  it('reads Latin-1 bytes labelled UTF-8 as windows-1252 rather than replacement characters', async () => {
    const m = await parse('utf8-labelled-latin1-bytes');
    expect(m.text.trim()).toBe('Grüße');
    expect(m.warnings.length).toBe(1);
  });

  it('keeps damaged UTF-8 as UTF-8, replacing only the bad byte', async () => {
    const m = await parse('damaged-utf8-base64');
    expect(m.text).toBe('Grüße \uFFFD Ende');
  });
});

describe('parseMessage: structure', () => {
  it('pulls uuencoded files out of a plain-text body', async () => {
    const m = await parse('uuencode-in-text-body');
    expect(m.text).not.toContain('begin 644');
    expect(m.text).toContain('Here is the log.');
    expect(m.text).toContain('Thanks');
    expect(m.attachments).toEqual([expect.objectContaining({ filename: 'log.txt', size: 22, md5: md5('hello uuencoded world\n'), inline: false })]);
  });

  it('keeps an attached message as one attachment and does not mix its body into ours', async () => {
    const m = await parse('attached-message-rfc822');
    expect(m.text).toBe('See the forwarded message.');
    expect(m.attachments).toHaveLength(1);
    expect(m.attachments[0]!.contentType).toBe('message/rfc822');
    expect(m.attachments[0]!.content.toString('latin1')).toContain('inner body');
  });

  it('lists a related image as inline with its Content-ID and takes text from the text alternative', async () => {
    const m = await parse('related-inline-image-cid');
    expect(m.text).toBe('Screenshot below.');
    expect(m.html).toContain('cid:shot1@example.com');
    expect(m.attachments).toEqual([expect.objectContaining({ contentType: 'image/png', contentId: '<shot1@example.com>', inline: true, size: 40, md5: md5(Buffer.from(Array.from({ length: 40 }, (_, i) => i))) })]);
  });

  it('finds the boundary of a Content-Type that lacks its semicolon', async () => {
    const m = await parse('content-type-missing-semicolon');
    expect(m.text).toBe('visible text');
    expect(m.attachments).toEqual([expect.objectContaining({ filename: 'image001.png', md5: md5('hello world\n'), inline: false })]);
  });

  it('does not take a nested boundary that extends the parent boundary for the parent close delimiter', async () => {
    const m = await parse('nested-boundary-extends-parent');
    expect(m.text).toBe('inner text');
  });

  it('derives text from an HTML-only body, keeping blocks and quotes apart', async () => {
    const m = await parse('html-only-body');
    expect(m.html).toContain('<p>First&nbsp;line</p>');
    expect(m.text).toBe('First line\n\nSecond & last\n\n> quoted');
  });
});

describe('parseMessage: text bodies', () => {
  it('joins format=flowed soft breaks only within one quote depth', async () => {
    const m = await parse('flowed-quote-depth');
    expect(m.text.split('\n')).toEqual([
      'Thanks, that worked.',
      '',
      'On 01.03.26 09:00, Support wrote:',
      '> Please clear the cache and retry.',
      '>> Original question ',
      'Still one issue left.',
      '',
    ]);
  });

  it('drops the XML declaration and DOCTYPE from text derived from HTML', async () => {
    const m = await parse('html-xml-declaration');
    expect(m.text).toBe('Printer offline');
  });
});

describe('parseMessage: hostile bodies', () => {
  const mail = (type: string, body: string): Buffer => Buffer.from(
    `From: x@example.org\r\nSubject: t\r\nMIME-Version: 1.0\r\nContent-Type: ${type}; charset=utf-8\r\n\r\n${body}`,
  );
  it('reads HTML with thousands of unclosed comments, <style> tags and stray "<" as the HTML parser would', async () => {
    expect((await parseMessage(mail('text/html', '<p>before</p>' + '<!--'.repeat(50_000) + 'gone'))).text).toBe('before');
    expect((await parseMessage(mail('text/html', '<p>kept</p>' + '<style>'.repeat(50_000) + 'x'))).text).toBe('kept\nx');
    expect((await parseMessage(mail('text/html', 'a < b and ' + '<a'.repeat(50_000)))).text.startsWith('a < b and <a<a')).toBe(true);
  });
  it('derives text from the start of a multi-megabyte HTML body only, keeps all the HTML and says so', async () => {
    const rows = Array.from({ length: Math.ceil((MAX_HTML_FOR_TEXT * 2) / 40) }, (_, i) => `<tr><td>row ${i}</td></tr>`).join('');
    const html = `<p>Monthly report</p><table>${rows}</table>`;
    const m = await parseMessage(mail('text/html', html));
    expect(m.html).toBe(html);
    expect(m.text.startsWith('Monthly report\n\nrow 0\n\nrow 1\n')).toBe(true);
    expect(m.text).not.toContain(`row ${Math.ceil((MAX_HTML_FOR_TEXT * 2) / 40) - 1}`);
    expect(m.warnings.join(' ')).toMatch(/text derived from the first \d+ of \d+ characters of HTML/);
  });
  it('caps the "> " prefix of deeply nested blockquotes', async () => {
    const m = await parseMessage(mail('text/html', '<p>new</p>' + '<blockquote>'.repeat(5_000) + 'old'));
    expect(m.text).toBe('new\n\n' + '> '.repeat(10) + 'old');
  });
  it('finds uuencoded blocks among many "begin" lines without an "end"', async () => {
    const body = 'begin 644 a.txt\n#86)C\n`\nend\n' + 'begin 644 none.bin\n'.repeat(20_000) + 'tail';
    const m = await parseMessage(mail('text/plain', body));
    expect(m.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([['a.txt', 'abc']]);
    expect(m.text.split('\n').filter((l) => l === 'begin 644 none.bin')).toHaveLength(20_000);
    expect(m.text.endsWith('tail')).toBe(true);
  });
});

describe('parseMessage: bad input', () => {
  it('never throws on garbage and records what it guessed', async () => {
    const m = await parse('truncated-garbage');
    expect(m.from).toBeNull();
    expect(m.subject).toBe('=?utf-8?B?broken');
    expect(m.warnings.length).toBeGreaterThan(0);
  });

  it('gives null for an unparseable date and a missing From, and brackets a bare Message-ID', async () => {
    const m = await parse('unparseable-date-and-no-from');
    expect(m.date).toBeNull();
    expect(m.from).toBeNull();
    expect(m.messageId).toBe('<bare-id@example.com>');
  });

  it('survives empty input and random bytes', async () => {
    expect((await parseMessage(Buffer.alloc(0))).text).toBe('');
    const noise = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256));
    await expect(parseMessage(noise)).resolves.toBeDefined();
  });
});
