// Hostile and forged input through the real parser and content hash (issue 11): MIME shapes that
// used to take quadratic time, nesting and part caps, forged senders (quoted "@", a lone CR
// smuggling a second From), the originator facts, and content hashes of unreadable messages.
// Timeouts here only catch a hang; the speed figures live in bench/hostile-bench.ts.
import { describe, expect, it } from 'vitest';
import { contentHash } from '../../src/ingest/content-hash.js';
import { decodeBase64Loose } from '../../src/ingest/parse-header.js';
import { MAX_ADDRESSES_PER_HEADER, normalizeLineEnds, parseMessageSync } from '../../src/ingest/parse-message.js';
import { MAX_HEADER_BYTES, parseMimePart } from '../../src/ingest/parse-mime.js';
import type { MimePart } from '../../src/ingest/parse-mime.js';

const CRLF = '\r\n';
const mail = (...lines: string[]): Buffer => Buffer.from(lines.join(CRLF), 'latin1');

function countParts(p: MimePart): number {
  return 1 + p.children.reduce((n, c) => n + countParts(c), 0) + (p.message ? countParts(p.message) : 0);
}

describe('MIME walk on hostile shapes', () => {
  it('reads 2 MB of empty parts quickly, at most 1000 parts, the rest one opaque part and a warning', () => {
    const raw = Buffer.from(`From: a@acme.example${CRLF}Content-Type: multipart/mixed; boundary=a${CRLF}${CRLF}${'--a\r\n'.repeat(400_000)}`, 'latin1');
    const warnings: string[] = [];
    const root = parseMimePart(raw, warnings);
    const opaque = root.children.at(-1)!;
    expect(countParts(root) - 1).toBeLessThanOrEqual(1000); // the opaque remainder is not read
    expect(opaque.contentType.value).toBe('application/octet-stream');
    expect(opaque.body.subarray(0, 5).toString()).toBe('--a\r\n');
    expect(warnings).toContain('more than 1000 MIME parts; the rest kept as one opaque part');

    const parsed = parseMessageSync(raw);
    expect(parsed.warnings).toContain('more than 1000 MIME parts; the rest kept as one opaque part');
    const att = parsed.attachments.filter((a) => a.contentType === 'application/octet-stream');
    expect(att).toHaveLength(1);
    // Nothing is lost: the remainder keeps every byte from its first delimiter on.
    expect(att[0]!.size).toBe(raw.length - raw.indexOf('--a') - 999 * 5);
  }, 10_000);

  it('takes the part cap from the options', () => {
    const parts = Array.from({ length: 10 }, (_, i) => `--a${CRLF}Content-Type: text/plain${CRLF}${CRLF}part ${i}`);
    const raw = mail('From: a@acme.example', 'Content-Type: multipart/mixed; boundary=a', '', ...parts, '--a--', '');
    const capped = parseMessageSync(raw, { maxParts: 5 });
    expect(capped.text).toBe(['part 0', 'part 1', 'part 2', 'part 3'].join('\n'));
    expect(capped.warnings).toContain('more than 5 MIME parts; the rest kept as one opaque part');
    // The remainder runs from the first unread delimiter to the end, close delimiter included.
    expect(capped.attachments.map((a) => a.content.toString('latin1'))).toEqual([[...parts.slice(4), '--a--', ''].join(CRLF)]);
    const whole = parseMessageSync(raw);
    expect(whole.text.split('\n')).toHaveLength(10);
    expect(whole.warnings).toEqual([]);
  });

  it('reads 50 levels of nesting and keeps deeper levels as raw data with a warning', () => {
    const levels = 60;
    let body = 'bottom';
    for (let n = levels - 1; n >= 0; n--) {
      body = [`Content-Type: multipart/mixed; boundary=b${n}`, '', `--b${n}`, 'Content-Type: text/plain', '', `level ${n}`, `--b${n}`, body, `--b${n}--`, ''].join(CRLF);
    }
    const parsed = parseMessageSync(Buffer.from(`From: a@acme.example${CRLF}${body}`, 'latin1'));
    const read = parsed.text.split('\n');
    expect(read).toContain('level 49');
    expect(read).not.toContain('level 50');
    expect(parsed.warnings).toContain('MIME nesting deeper than 50 levels; inner parts kept as raw data');
    // The unread levels are one attachment holding them whole.
    const raw = parsed.attachments.find((a) => a.contentType === 'multipart/mixed');
    expect(raw?.content.toString('latin1')).toContain('level 59');
    expect(parseMessageSync(Buffer.from(`From: a@acme.example${CRLF}${body}`, 'latin1'), { maxDepth: 3 }).text.split('\n')).toEqual(['level 0', 'level 1', 'level 2']);
  });

  it('still separates a nested multipart whose boundary begins with the parent boundary', () => {
    const raw = mail(
      'From: a@acme.example', 'Content-Type: multipart/mixed; boundary="a--"', '',
      '--a--', 'Content-Type: multipart/alternative; boundary="a----"', '',
      '--a----', 'Content-Type: text/plain', '', 'inner text',
      '--a----', 'Content-Type: text/html', '', '<p>inner html</p>',
      '--a------',
      '--a--', 'Content-Type: text/plain', 'Content-Disposition: attachment; filename=log.txt', '', 'log',
      '--a----', '',
    );
    const parsed = parseMessageSync(raw);
    expect(parsed.text).toBe('inner text');
    expect(parsed.attachments.map((a) => a.filename)).toEqual(['log.txt']);
  });

  it('decodes nested quoted-printable messages no further than the message size', () => {
    let inner = `From: deep@acme.example${CRLF}${CRLF}deep`;
    for (let n = 0; n < 30; n++) inner = `From: x${n}@acme.example${CRLF}Content-Type: message/rfc822${CRLF}Content-Transfer-Encoding: quoted-printable${CRLF}${CRLF}${inner}`;
    const warnings: string[] = [];
    const root = parseMimePart(Buffer.from(inner + 'x'.repeat(200_000), 'latin1'), warnings);
    expect(countParts(root)).toBeLessThan(10);
    expect(warnings).toContain('encoded embedded messages larger than the message itself; the rest kept as raw data');
  });
});

describe('header sections and bodies at the size limit', () => {
  it('reads the first 1000 addresses of a header and warns about the rest', () => {
    const cc = Array.from({ length: 1500 }, (_, i) => `u${i}@acme.example`).join(', ');
    const parsed = parseMessageSync(mail('From: a@acme.example', `Cc: ${cc}`, 'From: b@acme.example', '', 'x'));
    expect(parsed.cc).toHaveLength(MAX_ADDRESSES_PER_HEADER);
    expect(parsed.cc.at(-1)?.address).toBe('u999@acme.example');
    expect(parsed.warnings).toContain('more than 1000 addresses in cc; the rest not read');
    expect(parsed.originator?.fromFields).toBe(2);
  });

  it('reads at most MAX_HEADER_BYTES of header lines, cut at a line end, with a warning', () => {
    const filler = 'X-Filler: 0123456789\r\n'.repeat(Math.ceil((MAX_HEADER_BYTES + 1000) / 22));
    const parsed = parseMessageSync(Buffer.from(`From: a@acme.example\r\n${filler}Subject: after the cap\r\n\r\nthe body\r\n`, 'latin1'));
    expect(parsed.from?.address).toBe('a@acme.example');
    expect(parsed.subject).toBe('');
    expect(parsed.headers['x-filler']!.every((v) => v === '0123456789')).toBe(true);
    expect(parsed.text).toBe('the body\n');
    expect(parsed.warnings).toContain(`header section over ${MAX_HEADER_BYTES} bytes in all; the rest of it not read`);
  });

  it('decodes base64 padded in the middle, chunk by chunk', () => {
    expect(decodeBase64Loose('QQ==QUI=QUJD').toString()).toBe('AABABC');
    expect(decodeBase64Loose('QQ==\r\nQUI=\r\nQ').toString()).toBe('AAB');
    expect(decodeBase64Loose('QQ=='.repeat(100_000)).length).toBe(100_000);
  });

  it('normalises CRLF and lone CR to LF, wide characters included', () => {
    expect(normalizeLineEnds('a\r\nb\rc\n\r')).toBe('a\nb\nc\n\n');
    expect(normalizeLineEnds('€\r\n😀\r')).toBe('€\n😀\n');
  });

  it('still extracts uuencoded files among many begin lines without an end', () => {
    const text = `${'begin 644 junk.bin\r\n'.repeat(3)}intro\r\nbegin 644 a.txt\r\n#86)C\r\n\`\r\nend\r\noutro`;
    const parsed = parseMessageSync(mail('From: a@acme.example', 'Content-Type: text/plain', '', text));
    expect(parsed.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([['junk.bin', expect.any(String)]]);
    const clean = parseMessageSync(mail('From: a@acme.example', 'Content-Type: text/plain', '', 'intro', 'begin 644 a.txt', '#86)C', '`', 'end', 'outro'));
    expect(clean.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([['a.txt', 'abc']]);
    expect(clean.text).toBe('intro\noutro');
  });
});

describe('forged senders', () => {
  it('keeps a quoted local part holding "@" as the local part', () => {
    const bare = parseMessageSync(mail('From: "ada@acme.example"@evil.example', 'Subject: hi', '', 'x'));
    expect(bare.from?.address).toBe('"ada@acme.example"@evil.example');
    const angle = parseMessageSync(mail('From: Ada <"ada@acme.example"@evil.example>', 'Subject: hi', '', 'x'));
    expect(angle.from).toEqual({ address: '"ada@acme.example"@evil.example', name: 'Ada' });
    // A quoted string with no unquoted "@" is a name, never an address.
    const nameOnly = parseMessageSync(mail('From: "ada@acme.example"', 'Subject: hi', '', 'x'));
    expect(nameOnly.from?.address).toBe('');
    // Quotes that are not needed still go.
    expect(parseMessageSync(mail('From: "john doe"@acme.example', '', 'x')).from?.address).toBe('johndoe@acme.example');
    expect(parseMessageSync(mail('From: <"ada"@acme.example>', '', 'x')).from?.address).toBe('ada@acme.example');
  });

  it('does not end a header line at a lone CR', () => {
    const raw = Buffer.from(`Subject: Re: [Case #100000] hi\rFrom: ada@acme.example\r\nFrom: evil@evil.example\r\n\r\nbody\r\n`, 'latin1');
    const parsed = parseMessageSync(raw);
    expect(parsed.from?.address).toBe('evil@evil.example');
    expect(parsed.originator).toEqual({ fromMailboxes: [{ address: 'evil@evil.example', name: '' }], fromFields: 1, sender: null });
    expect(parsed.subject).toBe('Re: [Case #100000] hi From: ada@acme.example');
    // The same inside a MIME part's headers.
    const part = parseMessageSync(mail('From: evil@evil.example', 'Content-Type: multipart/mixed; boundary=a', '', '--a', 'Content-Type: text/plain\rContent-Type: text/html', '', '<b>x</b>', '--a--', ''));
    expect(part.text).toBe('<b>x</b>');
  });

  it('states every From field and mailbox, groups flattened, and the Sender', () => {
    const two = parseMessageSync(mail('From: Ada <ada@acme.example>', 'From: evil@evil.example', '', 'x'));
    expect(two.from?.address).toBe('ada@acme.example');
    expect(two.originator).toEqual({ fromMailboxes: [{ address: 'ada@acme.example', name: 'Ada' }, { address: 'evil@evil.example', name: '' }], fromFields: 2, sender: null });

    const several = parseMessageSync(mail('From: ada@acme.example, Bob <bob@acme.example>', 'Sender: Bob <bob@acme.example>', '', 'x'));
    expect(several.originator).toEqual({ fromMailboxes: [{ address: 'ada@acme.example', name: '' }, { address: 'bob@acme.example', name: 'Bob' }], fromFields: 1, sender: { address: 'bob@acme.example', name: 'Bob' } });

    const group = parseMessageSync(mail('From: Team: ada@acme.example, "x@y" <bob@acme.example>;', '', 'x'));
    expect(group.originator?.fromMailboxes.map((m) => m.address)).toEqual(['ada@acme.example', 'bob@acme.example']);
    expect(parseMessageSync(mail('From: undisclosed-senders:;', '', 'x')).originator).toEqual({ fromMailboxes: [], fromFields: 1, sender: null });

    const quoted = parseMessageSync(mail('From: "ada@acme.example"@evil.example, ada@acme.example', '', 'x'));
    expect(quoted.originator?.fromMailboxes.map((m) => m.address)).toEqual(['"ada@acme.example"@evil.example', 'ada@acme.example']);
  });
});

describe('content hash', () => {
  it('tells apart messages whose structure cannot be read', () => {
    let seed = 7;
    const random = Buffer.alloc(3000);
    for (let i = 0; i < random.length; i++) random[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    const inputs = [
      Buffer.alloc(0),
      random,
      Buffer.from('no separator, first file\r\nsecond line'),
      Buffer.from('no separator, second file\r\nsecond line'),
      Buffer.from('X-Only: trace\r\n\r\nbody one'),
      Buffer.from('X-Only: trace\r\n\r\nbody two'),
      Buffer.from('From: a@acme.example\r\nSubject: headers only, no blank line'),
      Buffer.from('From: a@acme.example\r\nSubject: headers only, no blank line, other'),
    ];
    expect(new Set(inputs.map(contentHash)).size).toBe(inputs.length);
  });

  it('still hashes the IMAP and SMTP copies of one mail alike (trace headers and line ends aside)', () => {
    const headers = ['From: Ada <ada@acme.example>', 'To: support@casemail.localhost', 'Subject: Export fails', 'Message-ID: <m1@acme.example>', 'Date: Mon, 30 Nov 2026 10:00:00 +0000'];
    const smtp = Buffer.from([...headers, '', 'The export stops.', ''].join('\r\n'));
    const imap = Buffer.from(['Return-Path: <ada@acme.example>', 'Delivered-To: support@casemail.localhost', 'Received: from mx by imap; Mon, 30 Nov 2026 10:00:01 +0000', ...headers, '', 'The export stops.', '', ''].join('\n'));
    expect(contentHash(imap)).toBe(contentHash(smtp));
    expect(contentHash(Buffer.from(smtp.toString().replace('stops', 'works')))).not.toBe(contentHash(smtp));
  });

  it('hashes a body of long whitespace runs in linear time', () => {
    const raw = Buffer.from(`From: a@acme.example${CRLF}${CRLF}${' '.repeat(300_000)}x${' '.repeat(10)}`);
    expect(contentHash(raw)).toMatch(/^[0-9a-f]{64}$/);
    expect(contentHash(raw)).not.toBe(contentHash(Buffer.from(`From: a@acme.example${CRLF}${CRLF}${' '.repeat(300_000)}y`)));
  }, 10_000);
});

describe('header names that are Object.prototype names', () => {
  it('parses a message with Constructor and __proto__ headers and keeps them as headers', () => {
    const p = parseMessageSync(mail('From: a@example.org', 'Constructor: c', '__proto__: p', 'Subject: hi', '', 'body'));
    expect(p.subject).toBe('hi');
    expect(p.headers.constructor).toEqual(['c']);
    expect(Object.getOwnPropertyDescriptor(p.headers, '__proto__')?.value).toEqual(['p']);
    expect(Object.keys(p.headers)).toEqual(['from', 'constructor', '__proto__', 'subject']);
  });
});
