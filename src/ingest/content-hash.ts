// Identity of a message independent of how it reached us: the same mail fetched over IMAP and
// delivered over SMTP differs only in trace headers (Received, Delivered-To, Return-Path, ...).
// The content hash covers the originator's headers and the body, so both copies hash alike. When
// the structure cannot be read (no header/body separator, no identity header), it covers every byte.
import { createHash, type Hash } from 'node:crypto';

/** Headers the author's client wrote; trace headers added on the way are left out. */
const IDENTITY_HEADERS = new Set(['from', 'to', 'cc', 'subject', 'date', 'message-id', 'in-reply-to', 'references', 'content-type', 'mime-version']);

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function contentHash(raw: Buffer): string {
  const split = findHeaderEnd(raw);
  const kept: string[] = [];
  if (split) {
    // Header lines end at CRLF or LF only; a lone CR stays inside its line, as in parse-header.
    const lines = raw.subarray(0, split.headerEnd).toString('latin1').split(/\r?\n(?![ \t])/);
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      if (IDENTITY_HEADERS.has(name)) kept.push(`${name}:${line.slice(colon + 1).replace(/\s+/g, ' ').trim()}`);
    }
  }
  const hash = createHash('sha256');
  if (!split || kept.length === 0) {
    // Nothing says which message this is apart from its bytes: two different files must never
    // look like one (the second would be dropped as a duplicate). The prefix keeps this apart
    // from the structured form.
    hash.update('raw\n');
    hash.update(raw);
    return hash.digest('hex');
  }
  kept.sort();
  hash.update(kept.join('\n'));
  hash.update('\n\n');
  const body = raw.subarray(split.bodyStart);
  if (body.length <= WINDOW) hash.update(normalisedBody(body));
  else hashNormalisedBody(hash, body);
  return hash.digest('hex');
}

/** The same bytes as hashNormalisedBody hashes, as one string: quicker for a body of one window or less. */
function normalisedBody(body: Buffer): string {
  const out = windowBuffer;
  let o = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c !== 0x0d || body[i + 1] !== 0x0a) out[o++] = c;
  }
  // trimEnd's white space within latin1: TAB, LF, VT, FF, CR, space, NBSP.
  while (o > 0 && isTrailingSpace(out[o - 1]!)) o--;
  return out.toString('latin1', 0, o);
}

/** Bytes handed to the hash at a time. */
const WINDOW = 64 * 1024;
/** The window, reused (hashing is synchronous: one body at a time per thread). */
const windowBuffer = Buffer.allocUnsafe(WINDOW + 2);

/**
 * Hashes the body as the hash sees it: CRLF as LF (line endings differ between transports: CRLF
 * on the wire, LF in some stores) and trailing white space dropped, the result read as latin1 and
 * hashed as UTF-8 (the hashes already stored were made so) — the same bytes as hashing
 * `.toString('latin1').replace(/\r\n/g, '\n').trimEnd()`. In one pass and in windows: neither
 * the regex (seconds on 25 MB of short lines) nor a copy, a string and its UTF-8 form of a 25 MB
 * body (75 MB at once on the main thread) are made.
 */
function hashNormalisedBody(hash: Hash, body: Buffer): void {
  const out = windowBuffer;
  let o = 0;
  // A run of white space is held back until something follows it: at the end it is dropped.
  let held = Buffer.allocUnsafe(64);
  let h = 0;
  const put = (c: number): void => {
    if (c < 0x80) out[o++] = c;
    else {
      out[o++] = 0xc0 | (c >> 6);
      out[o++] = 0x80 | (c & 0x3f);
    }
    if (o >= WINDOW) {
      hash.update(out.subarray(0, o));
      o = 0;
    }
  };
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === 0x0d && body[i + 1] === 0x0a) continue;
    if (isTrailingSpace(c)) {
      if (h === held.length) held = Buffer.concat([held, Buffer.allocUnsafe(held.length)]);
      held[h++] = c;
      continue;
    }
    for (let k = 0; k < h; k++) put(held[k]!);
    h = 0;
    put(c);
  }
  if (o > 0) hash.update(out.subarray(0, o));
}

function isTrailingSpace(c: number): boolean {
  return (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0xa0;
}

/** The empty line after the headers (CRLF or LF line ends), or null when there is none. */
function findHeaderEnd(raw: Buffer): { headerEnd: number; bodyStart: number } | null {
  const crlf = raw.indexOf('\r\n\r\n');
  // Only an LF-only blank line before the CRLF one can win: search no further (no second full scan).
  const lf = (crlf < 0 ? raw : raw.subarray(0, crlf)).indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) return { headerEnd: crlf, bodyStart: crlf + 4 };
  if (lf >= 0) return { headerEnd: lf, bodyStart: lf + 2 };
  return null;
}

/** The header block alone (for quarantining oversize messages with their headers). */
export function headerBlock(raw: Buffer): Buffer {
  return raw.subarray(0, findHeaderEnd(raw)?.headerEnd ?? raw.length);
}
