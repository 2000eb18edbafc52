// Identity of a message independent of how it reached us: the same mail fetched over IMAP and
// delivered over SMTP differs only in trace headers (Received, Delivered-To, Return-Path, ...).
// The content hash covers the originator's headers and the body, so both copies hash alike.
import { createHash } from 'node:crypto';

/** Headers the author's client wrote; trace headers added on the way are left out. */
const IDENTITY_HEADERS = new Set(['from', 'to', 'cc', 'subject', 'date', 'message-id', 'in-reply-to', 'references', 'content-type', 'mime-version']);

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function contentHash(raw: Buffer): string {
  const split = findHeaderEnd(raw);
  const head = raw.subarray(0, split.headerEnd).toString('latin1');
  const hash = createHash('sha256');
  const lines = head.split(/\r?\n(?![ \t])/);
  const kept: string[] = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (IDENTITY_HEADERS.has(name)) kept.push(`${name}:${line.slice(colon + 1).replace(/\s+/g, ' ').trim()}`);
  }
  kept.sort();
  hash.update(kept.join('\n'));
  hash.update('\n\n');
  // Line endings differ between transports (CRLF on the wire, LF in some stores).
  hash.update(raw.subarray(split.bodyStart).toString('latin1').replace(/\r\n/g, '\n').replace(/\s+$/, ''));
  return hash.digest('hex');
}

function findHeaderEnd(raw: Buffer): { headerEnd: number; bodyStart: number } {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) return { headerEnd: crlf, bodyStart: crlf + 4 };
  if (lf >= 0) return { headerEnd: lf, bodyStart: lf + 2 };
  return { headerEnd: raw.length, bodyStart: raw.length };
}

/** The header block alone (for quarantining oversize messages with their headers). */
export function headerBlock(raw: Buffer): Buffer {
  return raw.subarray(0, findHeaderEnd(raw).headerEnd);
}
