// decodeBase64Body decodes a base64 body in windows straight from its Buffer; the bytes must be
// exactly those of the old way, decodeBase64Loose(body.toString('latin1')), for every input:
// line styles, junk, missing and mid-stream padding, quanta split across window edges (small
// windows here), windows with fewer than 4 data characters, and seeded random input.
import { describe, expect, it } from 'vitest';
import { decodeBase64Body } from '../../src/ingest/base64-decode.js';
import { decodeBase64Loose } from '../../src/ingest/parse-header.js';

const old = (body: Buffer): Buffer => decodeBase64Loose(body.toString('latin1'));

/** A small deterministic generator, so a failure can be rerun. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x / 0x7fffffff;
  };
}

function randomBytes(n: number, seed: number): Buffer {
  const next = random(seed);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
  return out;
}

/** Base64 of `data` in lines of `width` characters ended by `eol`. */
function wrapped(data: Buffer, width: number, eol: string): Buffer {
  const b64 = data.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += width) lines.push(b64.slice(i, i + width));
  return Buffer.from(lines.join(eol) + eol, 'latin1');
}

/** Compares the new decoder with the old one, at the default window and at small ones. */
function expectSame(body: Buffer, windows: number[] = [4, 5, 6, 7, 8, 9, 13, 64, 77, 78, 79]): void {
  const expected = old(body);
  expect(decodeBase64Body(body).equals(expected)).toBe(true);
  for (const w of windows) {
    const got = decodeBase64Body(body, w);
    if (!got.equals(expected)) throw new Error(`window ${w}: ${got.toString('hex')} != ${expected.toString('hex')} for ${JSON.stringify(body.toString('latin1'))}`);
  }
}

describe('decodeBase64Body', () => {
  it('decodes known text', () => {
    expect(decodeBase64Body(Buffer.from('SGVsbG8sIHdvcmxkIQ==\r\n')).toString()).toBe('Hello, world!');
    expect(decodeBase64Body(Buffer.from('SGVs\r\nbG8s\r\nIHdv\r\ncmxk\r\nIQ==\r\n'), 4).toString()).toBe('Hello, world!');
  });

  it('is empty for an empty body, junk only, or a lone character', () => {
    for (const s of ['', '\r\n', '   ', 'Q', '==', '=QUJD\r\n'.slice(0, 1)]) {
      expect(decodeBase64Body(Buffer.from(s)).length).toBe(0);
      expectSame(Buffer.from(s));
    }
  });

  it('76-column lines with CRLF, with LF only, and without line breaks', () => {
    for (const n of [0, 1, 2, 3, 56, 57, 58, 100, 1000, 4097]) {
      const data = randomBytes(n, n + 1);
      expectSame(wrapped(data, 76, '\r\n'));
      expectSame(wrapped(data, 76, '\n'));
      expectSame(Buffer.from(data.toString('base64')));
      expect(decodeBase64Body(wrapped(data, 76, '\r\n'), 13).equals(data)).toBe(true);
    }
  });

  it('missing padding: 2 and 3 characters make 1 and 2 bytes, a lone one none', () => {
    for (const s of ['QQ', 'QUI', 'QUJDRA', 'QUJDREU', 'QUJDR', 'QUJD\r\nR\r\n', 'QU\r\nJD\r\nRE\r\n']) expectSame(Buffer.from(s));
  });

  it('garbage characters, high bytes and the URL-safe alphabet', () => {
    const bodies = [
      'QU JD\tRE\x00VG\r\n',
      'QU*JD.RE!VG~R0g\r\n',
      'QU\xffJD\x80RE\xa0VG\r\n',
      'QU-_ab-_\r\n',
      '!!!!!!!!!!!!!!!!!!!!!!QUJD!!!!!!!!!!!!!!!!!!!!!!!!RE!!!!!!!!!!!!!!!!!!!VG!!!!!!!!!!!!',
      'Q\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nU\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nJ\r\n\r\n\r\n\r\n\r\n\r\n\r\nD\r\n\r\n\r\nR',
    ];
    for (const s of bodies) expectSame(Buffer.from(s, 'latin1'));
  });

  it('padding at the end, with junk or nothing after it', () => {
    for (const s of ['QUJDRA==', 'QUJDRA==\r\n', 'QUJDREU=\r\n', 'QUJDRA=\r\n', 'QUJDRA==\r\n\r\n--', 'QUJDRA== \xa0 \t\r\n.*!', 'QUJDRA=\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n-_']) {
      expectSame(Buffer.from(s, 'latin1'));
    }
  });

  it('padding in the middle of the stream (concatenated blocks) decodes every block', () => {
    const bodies = [
      'QQ==QkI=Q0ND\r\n',
      'QQ==\r\nQkI=\r\nQ0ND\r\n',
      wrapped(Buffer.from('first block'), 76, '\r\n').toString('latin1') + wrapped(Buffer.from('second'), 76, '\r\n').toString('latin1'),
      'QUJD=RA==',
      'QUJDR=EF',
      '=QUJD',
      'QQ=\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nQkI=',
    ];
    for (const s of bodies) expectSame(Buffer.from(s, 'latin1'));
    expect(decodeBase64Body(Buffer.from('QQ==\r\nQkI=\r\nQ0ND\r\n')).toString()).toBe('ABBCCC');
  });

  it('a quantum split across every window edge', () => {
    const data = randomBytes(300, 7);
    for (const body of [wrapped(data, 76, '\r\n'), wrapped(data, 75, '\n'), wrapped(data, 1, '\r\n'), Buffer.from(data.toString('base64'))]) {
      const expected = old(body);
      for (let w = 4; w <= 160; w++) expect(decodeBase64Body(body, w).equals(expected)).toBe(true);
    }
  });

  it('seeded random bodies of data, line breaks, junk and padding', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_';
    for (let seed = 1; seed <= 400; seed++) {
      const next = random(seed);
      const n = Math.floor(next() * 200);
      const junk = next() * 0.4;
      const pad = next() < 0.3;
      let s = '';
      for (let i = 0; i < n; i++) {
        const r = next();
        if (r < junk) s += ['\r\n', '\n', ' ', '\t', '.', '*', '\x00', '\xa0', '\xff', '\x85'][Math.floor(next() * 10)];
        else if (pad && r < junk + 0.03) s += '=';
        else s += alphabet[Math.floor(next() * 64)];
      }
      expectSame(Buffer.from(s, 'latin1'), [4, 5, 7, 11, 16, 33]);
    }
  });

  it('a long random body, at the default window and at an odd one', () => {
    const data = randomBytes(3 * 1024 * 1024 + 1, 42);
    for (const body of [wrapped(data, 76, '\r\n'), wrapped(data, 76, '\n')]) {
      const expected = old(body);
      expect(expected.equals(data)).toBe(true);
      expect(decodeBase64Body(body).equals(expected)).toBe(true);
      expect(decodeBase64Body(body, 65_537).equals(expected)).toBe(true);
    }
  });
});
