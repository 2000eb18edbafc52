// Header recovery (issue 8, "Headers"): raw 8-bit subjects and names in an unknown or wrong
// charset, and From fields that break the rules, one fixture each under
// test/fixtures/mail/headers/, through the real parser.
import { readFileSync } from 'node:fs';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { decodeCharset, guessMultibyte } from '../../src/ingest/charset-decode.js';
import { parseAddressList } from '../../src/ingest/parse-header.js';
import { parseMessage } from '../../src/ingest/parse-message.js';

const parse = (name: string) => parseMessage(readFileSync(new URL(`../fixtures/mail/headers/${name}.eml`, import.meta.url)));

describe('raw 8-bit headers: UTF-8, then a detected multibyte charset, then windows-1252', () => {
  it.each([
    ['raw-8bit-utf8-subject', 'Drucker druckt nicht – bitte prüfen', 'Jürgen Müller'],
    ['raw-8bit-shift-jis-subject', 'ログインできない', '山田 太郎'],
    ['raw-8bit-euc-jp-subject', '請求書の件について', 'Hanako'],
    ['raw-8bit-gb18030-name', '无法登录系统', '王小明'],
    ['raw-8bit-big5-subject', '系統無法登入', 'Chen'],
    ['raw-8bit-latin1-subject', 'Grüße: Drucker in Köln ist kaputt', 'Jürgen Müller'],
  ])('%s', async (name, subject, fromName) => {
    const m = await parse(name);
    expect(m.subject).toBe(subject);
    expect(m.from?.name).toBe(fromName);
  });

  it('a us-ascii encoded word over 8-bit bytes is a mislabel, and the bytes are detected', async () => {
    expect((await parse('ascii-label-over-8bit-word')).subject).toBe('請求書の件 (2)');
  });

  it('an ISO-2022-JP encoded word whose bytes are 8-bit is read as Shift_JIS', async () => {
    const m = await parse('iso-2022-jp-label-shift-jis-bytes');
    expect(m.subject).toBe('サーバーが落ちました');
    expect(m.from).toEqual({ address: 'suzuki@example.jp', name: '鈴木' });
    // Real 7-bit ISO-2022-JP (ESC $ B, JIS X 0208 codes of ログイン, ESC ( B) is still read as such.
    const jis = Buffer.from([0x1b, 0x24, 0x42, 0x25, 0x6d, 0x25, 0x30, 0x25, 0x24, 0x25, 0x73, 0x1b, 0x28, 0x42]);
    expect(decodeCharset(jis, 'iso-2022-jp').text).toBe('ログイン');
  });

  it('Latin-1 words that form valid multibyte pairs are not taken for CJK', () => {
    for (const s of ['Grüße aus Köln', 'Frösche', 'ÀÉÎÕÜ', 'Ça va? Très bien', 'Müller, Jürgen', 'Zürich – Genève']) {
      const bytes = iconv.encode(s, 'windows-1252');
      expect(guessMultibyte(bytes)).toBeNull();
      expect(decodeCharset(bytes, 'us-ascii').text).toBe(s);
    }
  });

  it('damaged UTF-8 keeps its good characters and shows the bad bytes as U+FFFD', () => {
    const bytes = Buffer.concat([Buffer.from('Grüße ', 'utf8'), Buffer.from([0xff]), Buffer.from(' aus Köln', 'utf8')]);
    expect(decodeCharset(bytes, 'utf-8').text).toBe('Grüße \ufffd aus Köln');
  });
});

describe('From recovery', () => {
  it('a comma inside an encoded word in an unquoted display name does not split the list', async () => {
    const m = await parse('from-encoded-word-with-comma');
    expect(m.from).toEqual({ address: 'jane.doe@example.com', name: 'Doe, Jane' });
    expect(m.originator?.fromMailboxes).toHaveLength(1);
    expect(parseAddressList('=?utf-8?Q?Roe,_Ann?= <ann@example.org>, bob@example.org').map((a) => a.address)).toEqual(['ann@example.org', 'bob@example.org']);
  });

  it('duplicate From fields: the first mailbox with an address', async () => {
    const m = await parse('from-duplicate-fields');
    expect(m.from).toEqual({ address: 'ada@example.org', name: 'Ada Lovelace' });
    expect(m.originator?.fromFields).toBe(2);
  });

  it('an empty first entry: the first mailbox with an address', async () => {
    expect((await parse('from-empty-first-entry')).from).toEqual({ address: 'grace@example.net', name: 'Grace Hopper' });
  });

  it('"Name (user@host)": the address in the comment is recovered', async () => {
    expect((await parse('from-address-in-comment')).from).toEqual({ address: 'alan.turing@example.com', name: 'Alan Turing' });
    // A comment without an address still only names the sender.
    expect(parseAddressList('Alan Turing (Bletchley)')).toEqual([{ address: '', name: 'Alan Turing' }]);
  });

  it('no usable sender: from is null, not an empty address', async () => {
    expect((await parse('from-missing')).from).toBeNull();
  });
});

describe('TNEF: an attached Outlook item with its own embedded object', () => {
  it('is listed once from winmail.dat, its inner file after it', async () => {
    const m = await parse('tnef-attached-item-with-stub');
    // The placeholder stub stays beside the item: see the TNEF note in the helper report (the
    // shared MimeKit corpus expects the stubs listed).
    expect(m.attachments.filter((a) => a.fromTnef).map((a) => a.filename)).toEqual(['Printer outage report', 'Printer outage report', 'error-screenshot.png']);
    expect(m.attachments.filter((a) => a.fromTnef && a.filename === 'error-screenshot.png')).toHaveLength(1);
  });
});
