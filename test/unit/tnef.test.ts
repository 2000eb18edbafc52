// TNEF decoding against streams built by a small encoder here (MS-OXTNEF layout), so every
// byte of the input is known: attachments, names, embedded items, bodies and compressed RTF.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeTnef, decompressRtf } from '../../src/ingest/tnef.js';
import { parseMessage } from '../../src/ingest/parse-message.js';

const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}
function pad4(b: Buffer): Buffer {
  return Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
}
function attribute(level: number, tag: number, data: Buffer): Buffer {
  let sum = 0;
  for (const x of data) sum = (sum + x) & 0xffff;
  return Buffer.concat([Buffer.from([level]), u32(tag), u32(data.length), data, u16(sum)]);
}
type Prop = { id: number; type: number; value: Buffer | number };
function props(list: Prop[]): Buffer {
  const parts: Buffer[] = [u32(list.length)];
  for (const p of list) {
    parts.push(u16(p.type), u16(p.id));
    if (typeof p.value === 'number') parts.push(u32(p.value));
    else parts.push(u32(1), u32(p.value.length), pad4(p.value));
  }
  return Buffer.concat(parts);
}
function tnef(attrs: Buffer[]): Buffer {
  return Buffer.concat([u32(0x223e9f78), u16(0x0001), ...attrs]);
}
const str8 = (s: string): Buffer => Buffer.from(s + '\0', 'latin1');
const uni = (s: string): Buffer => Buffer.from(s + '\0', 'utf16le');

/** LZFu stream of literals only, ended by the end-of-stream reference. */
function lzfuLiterals(raw: Buffer): Buffer {
  const body: number[] = [];
  let w = 207;
  for (let i = 0; i < raw.length; i += 8) {
    const chunk = raw.subarray(i, i + 8);
    body.push(chunk.length < 8 ? 1 << chunk.length : 0, ...chunk);
    w += chunk.length;
    if (chunk.length < 8) {
      body.push(((w & 4095) >> 4) & 0xff, ((w & 15) << 4) & 0xff);
      return lzfuFrame(raw.length, Buffer.from(body));
    }
  }
  body.push(1, ((w & 4095) >> 4) & 0xff, ((w & 15) << 4) & 0xff);
  return lzfuFrame(raw.length, Buffer.from(body));
}
function lzfuFrame(rawSize: number, body: Buffer): Buffer {
  return Buffer.concat([u32(body.length + 12), u32(rawSize), u32(0x75465a4c), u32(0), body]);
}

describe('decompressRtf (MS-OXRTFCP)', () => {
  it('decodes literal runs up to the end marker', () => {
    const raw = Buffer.from('{\\rtf1 hello world, this is plain}');
    expect(decompressRtf(lzfuLiterals(raw))?.toString()).toBe(raw.toString());
  });

  it('resolves a reference into the pre-loaded dictionary', () => {
    // control 0b01: first item a reference to offset 0, length 6 ("{\rtf1"), then literal "X"
    const ref = (0 << 4) | (6 - 2);
    const body = Buffer.from([0b01, ref >> 8, ref & 0xff, 0x58]);
    expect(decompressRtf(lzfuFrame(7, body))?.toString()).toBe('{\\rtf1X');
  });

  it('passes an uncompressed (MELA) body through and rejects unknown formats', () => {
    const raw = Buffer.from('{\\rtf1 plain}');
    const mela = Buffer.concat([u32(raw.length + 12), u32(raw.length), u32(0x414c454d), u32(0), raw]);
    expect(decompressRtf(mela)?.toString()).toBe('{\\rtf1 plain}');
    expect(decompressRtf(Buffer.concat([u32(12), u32(0), u32(0x12345678), u32(0)]))).toBeNull();
  });
});

describe('decodeTnef', () => {
  const fileA = Buffer.from('first attachment bytes\r\n');
  const fileB = Buffer.from([0, 1, 2, 3, 254, 255]);
  const rtf = Buffer.from('{\\rtf1\\ansi Hello from Outlook}');
  const stream = tnef([
    attribute(1, 0x00069007, Buffer.concat([u32(1252), u32(0)])),
    attribute(1, 0x00069003, props([
      { id: 0x1009, type: 0x0102, value: lzfuLiterals(rtf) },
      { id: 0x1000, type: 0x001e, value: str8('Hello from Outlook') },
    ])),
    attribute(2, 0x00069002, Buffer.alloc(14)),
    attribute(2, 0x00018010, str8('SHORT~1.TXT')),
    attribute(2, 0x0006800f, fileA),
    attribute(2, 0x00069005, props([{ id: 0x3707, type: 0x001f, value: uni('Long name für Datei.txt') }])),
    attribute(2, 0x00069002, Buffer.alloc(14)),
    attribute(2, 0x00018010, str8('data.bin')),
    attribute(2, 0x0006800f, fileB),
  ]);

  it('unpacks attachments with the long file name preferred over the 8.3 title', () => {
    const r = decodeTnef(stream);
    expect(r.ok).toBe(true);
    expect(r.attachments.map((a) => [a.filename, md5(a.content)])).toEqual([
      ['Long name für Datei.txt', md5(fileA)],
      ['data.bin', md5(fileB)],
    ]);
  });

  it('reports the RTF body (decompressed) over the plain one', () => {
    const r = decodeTnef(stream);
    expect(r.bodyType).toBe('rtf');
    expect(r.rtf?.toString()).toBe(rtf.toString());
    expect(r.text).toBe('Hello from Outlook');
  });

  it('prefers an HTML body when there is one', () => {
    const r = decodeTnef(tnef([attribute(1, 0x00069003, props([{ id: 0x1013, type: 0x0102, value: Buffer.from('<p>hi</p>') }]))]));
    expect(r.bodyType).toBe('html');
    expect(r.html).toBe('<p>hi</p>');
  });

  it('lists an attached Outlook item and the files inside it', () => {
    const inner = tnef([attribute(2, 0x00069002, Buffer.alloc(14)), attribute(2, 0x00018010, str8('inner.txt')), attribute(2, 0x0006800f, Buffer.from('inside'))]);
    const iid = Buffer.from('0703020000000000c000000000000046', 'hex');
    const outer = tnef([
      attribute(2, 0x00069002, Buffer.alloc(14)),
      attribute(2, 0x00018010, str8('Untitled Attachment')),
      attribute(2, 0x00069005, props([{ id: 0x3701, type: 0x000d, value: Buffer.concat([iid, inner]) }])),
    ]);
    const r = decodeTnef(outer);
    expect(r.attachments.map((a) => a.filename)).toEqual(['Untitled Attachment', 'inner.txt']);
    expect(md5(r.attachments[0]!.content)).toBe(md5(inner));
    expect(r.attachments[1]!.content.toString()).toBe('inside');
  });

  it('lists an attached Outlook item with its own embedded object once when attAttachData repeats it; a placeholder stub is kept beside it', () => {
    const inner = tnef([attribute(2, 0x00069002, Buffer.alloc(14)), attribute(2, 0x00018010, str8('diagram.png')), attribute(2, 0x0006800f, Buffer.from('png bytes'))]);
    const iid = Buffer.from('0703020000000000c000000000000046', 'hex');
    const item = (legacy: Buffer): Buffer[] => [
      attribute(2, 0x00069002, Buffer.alloc(14)),
      attribute(2, 0x00018010, str8('Meeting notes')),
      attribute(2, 0x0006800f, legacy),
      attribute(2, 0x00069005, props([
        { id: 0x3705, type: 0x0003, value: 5 },
        { id: 0x3701, type: 0x000d, value: Buffer.concat([iid, inner]) },
      ])),
    ];
    // attAttachData repeating the embedded item (without the interface id): one entry, not two.
    const repeated = decodeTnef(tnef(item(inner)));
    expect(repeated.attachments.map((a) => a.filename)).toEqual(['Meeting notes', 'diagram.png']);
    expect(md5(repeated.attachments[0]!.content)).toBe(md5(inner));
    // A placeholder stub there is listed as MimeKit lists it (the shared corpus expects it).
    const stub = Buffer.from('This attachment is a MAPI 1.0 embedded message (invented stub text)');
    const stubbed = decodeTnef(tnef(item(stub)));
    expect(stubbed.attachments.map((a) => [a.filename, a.content.length])).toEqual([['Meeting notes', stub.length], ['Meeting notes', inner.length], ['diagram.png', 9]]);
  });

  it('never throws on a truncated stream or a non-TNEF blob, and says why', () => {
    const cut = decodeTnef(stream.subarray(0, stream.length - 5));
    expect(cut.ok).toBe(true);
    expect(cut.warnings.join(' ')).toMatch(/truncated/);
    expect(cut.attachments.map((a) => a.filename)).toContain('Long name für Datei.txt');
    const junk = decodeTnef(Buffer.from('definitely not tnef'));
    expect(junk.ok).toBe(false);
    expect(junk.attachments).toEqual([]);
  });

  it('is unpacked from a winmail.dat part into attachments marked fromTnef', async () => {
    const raw = [
      'From: o@example.com', 'To: support@example.test', 'Subject: tnef', 'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b"', '', '--b', 'Content-Type: text/plain', '', 'See attachment.', '--b',
      'Content-Type: application/ms-tnef; name="winmail.dat"', 'Content-Transfer-Encoding: base64', '',
      stream.toString('base64'), '--b--', '',
    ].join('\r\n');
    const m = await parseMessage(Buffer.from(raw));
    expect(m.tnef).toEqual({ bodyType: 'rtf' });
    expect(m.attachments.map((a) => [a.filename, a.fromTnef])).toEqual([
      ['winmail.dat', false],
      ['Long name für Datei.txt', true],
      ['data.bin', true],
    ]);
    expect(m.attachments[2]).toMatchObject({ size: 6, md5: md5(fileB) });
  });
});
