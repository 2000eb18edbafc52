// Charset decoding (src/ingest/charset-decode.ts): the built-in decoder path must read what
// iconv-lite reads, for the charsets mail uses, and keep the mislabelling rules.
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { decodeCharset, isValidUtf8 } from '../../src/ingest/charset-decode.js';

const samples: Array<[string, string]> = [
  ['iso-8859-1', 'Grüße aus Köln, ça va?'],
  ['windows-1252', 'Preis: 5 € – „Zitat“ …'],
  ['iso-8859-2', 'Zażółć gęślą jaźń'],
  ['iso-8859-15', 'Œuvre à 10 €'],
  ['windows-1251', 'Привет, мир'],
  ['koi8-r', 'Привет, мир'],
  ['shift_jis', 'ログインできません'],
  ['euc-jp', 'ログインできません'],
  ['gb2312', '无法登录系统'],
  ['big5', '系統無法登入'],
  ['euc-kr', '로그인할 수 없습니다'],
  ['windows-874', 'สวัสดี'],
  ['utf-16le', 'Grüße'],
];

describe('decodeCharset', () => {
  it.each(samples)('reads %s', (label, text) => {
    const bytes = iconv.encode(text, label === 'gb2312' ? 'gbk' : label);
    expect(decodeCharset(bytes, label).text).toBe(text);
  });

  it('reads iso-2022-jp (7-bit, escape sequences)', () => {
    // ESC $ B, JIS X 0208 codes of ログイン, ESC ( B
    const bytes = Buffer.from([0x1b, 0x24, 0x42, 0x25, 0x6d, 0x25, 0x30, 0x25, 0x24, 0x25, 0x73, 0x1b, 0x28, 0x42, 0x21]);
    expect(decodeCharset(bytes, 'ISO-2022-JP').text).toBe('ログイン!');
  });

  it('shows a byte windows-1252 leaves undefined as U+FFFD, as iconv-lite does', () => {
    const bytes = Buffer.from([0x41, 0x81, 0x42, 0x80]);
    expect(decodeCharset(bytes, 'windows-1252').text).toBe('A\ufffdB€');
    expect(decodeCharset(bytes, 'windows-1252').text).toBe(iconv.decode(bytes, 'windows-1252'));
  });

  it('still reads a rare charset (through iconv-lite) and falls back on an unknown label', () => {
    expect(decodeCharset(iconv.encode('Grüße', 'cp850'), 'cp850').text).toBe('Grüße');
    const r = decodeCharset(Buffer.from([0x47, 0x72, 0xfc, 0xdf, 0x65]), 'x-no-such-charset');
    expect(r.text).toBe('Grüße');
    expect(r.warning).toMatch(/unknown charset/);
  });

  it('judges UTF-8 validity strictly: overlongs, surrogates, out-of-range and truncated sequences are invalid', () => {
    for (const bad of [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]) expect(isValidUtf8(Buffer.from(bad))).toBe(false);
    for (const good of [[0xe2, 0x82, 0xac], [0xf0, 0x9f, 0x98, 0x80], [0x41]]) expect(isValidUtf8(Buffer.from(good))).toBe(true);
  });
});
