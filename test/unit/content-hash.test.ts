// The content hash of a body is defined as the SHA-256 of the header part and of
// `.toString('latin1').replace(/\r\n/g, '\n').trimEnd()` hashed as UTF-8 (hashes already stored were
// made so). The implementation hashes in 64 KiB windows, never the whole body's string; these inputs
// (random bytes, white space runs across window edges, CRLF at edges, high latin1 bytes) must give
// exactly the hash of the definition.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { contentHash } from '../../src/ingest/content-hash.js';

const HEAD = 'From: bob@acme.example\r\nSubject: Hash\r\nMessage-ID: <h@acme.example>\r\n\r\n';

/** The definition, written the slow and obvious way. */
function byDefinition(raw: Buffer): string {
  const split = raw.indexOf('\r\n\r\n');
  const body = raw.subarray(split + 4).toString('latin1').replace(/\r\n/g, '\n').trimEnd();
  const kept = ['from:bob@acme.example', 'message-id:<h@acme.example>', 'subject:Hash'];
  return createHash('sha256').update(kept.join('\n')).update('\n\n').update(body).digest('hex');
}

/** A small deterministic generator, so a failure can be rerun. */
function random(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x / 0x7fffffff;
  };
}

const ALPHABET = [0x0d, 0x0a, 0x20, 0x09, 0x0b, 0x0c, 0xa0, 0x41, 0x7a, 0xe9, 0xff, 0x80, 0x00];

describe('content hash of the body', () => {
  it('equals the hash of the defining string on random bodies, short and across 64 KiB windows', () => {
    for (let seed = 1; seed <= 120; seed++) {
      const next = random(seed);
      const length = seed % 3 === 0 ? 64 * 1024 + Math.floor(next() * 4000) - 2000 : Math.floor(next() * 3000);
      const body = Buffer.alloc(length);
      for (let i = 0; i < length; i++) body[i] = next() < 0.7 ? ALPHABET[Math.floor(next() * ALPHABET.length)]! : Math.floor(next() * 256);
      const raw = Buffer.concat([Buffer.from(HEAD, 'latin1'), body]);
      expect(contentHash(raw), `seed ${seed}`).toBe(byDefinition(raw));
    }
  });

  it('drops trailing white space however long the run, and keeps white space that text follows', () => {
    const cases = [
      `${'x'.repeat(70_000)}${' \t\r\n'.repeat(40_000)}`,
      `${' '.repeat(200_000)}end`,
      `a\r\n${'\u00a0'.repeat(100)}\r`,
      '\r\n\r\n',
      '',
      `${'\u00e9'.repeat(40_000)}\r\n`,
      // A CRLF across the first window's edge, and a CR before it that is not part of it.
      `${'x'.repeat(64 * 1024 - 1)}\r\nnext`,
      `${'x'.repeat(64 * 1024 - 1)}\r\r\nnext`,
      `${'x'.repeat(64 * 1024 - 2)}\r\r\nnext`,
      `${'x'.repeat(64 * 1024 - 1)}\r\n`,
    ];
    for (const text of cases) {
      const raw = Buffer.concat([Buffer.from(HEAD, 'latin1'), Buffer.from(text, 'latin1')]);
      expect(contentHash(raw)).toBe(byDefinition(raw));
    }
  });
});
