// The MIME tree of a raw message held in one Buffer: header blocks, multipart boundaries
// (missing close delimiters, preamble junk, nested parts) and transfer decoding (base64,
// quoted-printable, uuencode). Works on byte offsets so a 5 MB attachment is decoded once, not
// streamed through text transforms. Pure; never throws on malformed input.
import { decodeBase64Body } from './base64-decode.js';
import { parseValueWithParams, splitHeaderBlock } from './parse-header.js';
import type { HeaderValueWithParams, RawHeader } from './parse-header.js';

export interface MimePart {
  headers: RawHeader[];
  contentType: HeaderValueWithParams;
  /** "attachment" | "inline" | "" (absent). */
  disposition: HeaderValueWithParams;
  transferEncoding: string;
  /** Raw (still transfer-encoded) body bytes. */
  body: Buffer;
  /** The whole part as it appears in the parent, headers included. */
  raw: Buffer;
  children: MimePart[];
  /** For message/rfc822 parts: the embedded message, parsed. */
  message: MimePart | null;
}

/** Caps on the MIME walk; past them the rest is kept as opaque data with a warning. */
export interface MimeLimits {
  /** Parts read per message (default 1000); the rest of a multipart becomes one opaque part. */
  maxParts?: number;
  /** Nesting depth read (default 50); deeper parts stay raw data. */
  maxDepth?: number;
}

const DEFAULT_MAX_PARTS = 1000;
const DEFAULT_MAX_DEPTH = 50;
/**
 * Header bytes read per message, all parts together. Real header sections are a few KB; past this
 * a section is hostile (a million fields, one 25 MB line) and the rest of it is skipped with a
 * warning. The bytes stay in the raw message.
 */
export const MAX_HEADER_BYTES = 1024 * 1024;

/** State shared by one message's walk: the caps, what is left of them, the warnings. */
interface Walk {
  warnings: string[];
  fallbackCharset: string | null;
  maxParts: number;
  partsLeft: number;
  maxDepth: number;
  /**
   * Bytes that may still be transfer-decoded to read embedded messages. Each nested encoded
   * message/rfc822 would otherwise decode (a copy of) nearly the whole message again.
   */
  decodeLeft: number;
  /** Header bytes that may still be read (MAX_HEADER_BYTES in all). */
  headerBytesLeft: number;
}

/** Index just after the header block's terminating empty line, and the header block end. */
function findHeaderEnd(buf: Buffer, start: number): { headerEnd: number; bodyStart: number } {
  // A part that starts with an empty line has no headers at all.
  if (buf[start] === 0x0a) return { headerEnd: start, bodyStart: start + 1 };
  if (buf[start] === 0x0d && buf[start + 1] === 0x0a) return { headerEnd: start, bodyStart: start + 2 };
  // Line by line, so the search stops at the first empty line (searching for "\n\n" would scan
  // the whole rest of a CRLF message, once per part).
  let i = start;
  for (;;) {
    const nl = buf.indexOf(0x0a, i);
    if (nl < 0) return { headerEnd: buf.length, bodyStart: buf.length };
    let j = nl + 1;
    if (buf[j] === 0x0d) j++;
    if (buf[j] === 0x0a) return { headerEnd: nl + 1, bodyStart: j + 1 };
    if (j >= buf.length) return { headerEnd: buf.length, bodyStart: buf.length };
    i = nl + 1;
  }
}

/**
 * Parses a whole message (or part) into its MIME tree. Never throws on malformed input; every
 * guess and every cap reached is a line in `warnings`.
 */
export function parseMimePart(raw: Buffer, warnings: string[] = [], limits: MimeLimits = {}, fallbackCharset: string | null = null): MimePart {
  const maxParts = Math.max(1, limits.maxParts ?? DEFAULT_MAX_PARTS);
  const walk: Walk = { warnings, fallbackCharset, maxParts, partsLeft: maxParts, maxDepth: Math.max(0, limits.maxDepth ?? DEFAULT_MAX_DEPTH), decodeLeft: raw.length, headerBytesLeft: MAX_HEADER_BYTES };
  return parsePart(raw, 'text/plain', 0, walk);
}

/** The rest of a multipart past the part cap: kept whole, undecoded, as one attachment. */
function opaquePart(raw: Buffer): MimePart {
  return {
    headers: [],
    contentType: { value: 'application/octet-stream', params: {} },
    disposition: { value: 'attachment', params: {} },
    transferEncoding: '',
    body: raw,
    raw,
    children: [],
    message: null,
  };
}

function parsePart(raw: Buffer, defaultType: string, depth: number, walk: Walk): MimePart {
  const { warnings, fallbackCharset } = walk;
  walk.partsLeft--;
  let start = 0;
  // An mbox "From " line before the headers is envelope, not a header.
  if (raw.subarray(0, 5).toString('latin1') === 'From ') {
    const nl = raw.indexOf(0x0a);
    start = nl < 0 ? raw.length : nl + 1;
  }
  const { headerEnd, bodyStart } = findHeaderEnd(raw, start);
  let readEnd = headerEnd;
  if (headerEnd - start > walk.headerBytesLeft) {
    // Cut at a line end so no field is read half; what is cut is warned about, never guessed at.
    const nl = raw.lastIndexOf(0x0a, start + walk.headerBytesLeft);
    readEnd = nl >= start ? nl + 1 : start;
    warnings.push(`header section over ${MAX_HEADER_BYTES} bytes in all; the rest of it not read`);
  }
  walk.headerBytesLeft -= readEnd - start;
  const headers = splitHeaderBlock(raw.subarray(start, readEnd).toString('latin1'));
  const first = (name: string): string | null => headers.find((h) => h.name === name)?.raw ?? null;
  // A duplicated Content-Type: the last one wins, as later headers override earlier ones.
  const ctRaw = headers.filter((h) => h.name === 'content-type').at(-1)?.raw ?? null;
  let contentType = parseValueWithParams(ctRaw ?? '', fallbackCharset);
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(contentType.value)) {
    if (ctRaw !== null && contentType.value) warnings.push(`unusable content-type "${contentType.value.slice(0, 100)}"; using ${defaultType}`);
    // "text" alone, or garbage: fall back but keep parameters such as charset or boundary.
    const guess = contentType.value === 'text' ? 'text/plain' : contentType.params.boundary && contentType.value.startsWith('multipart') ? 'multipart/mixed' : defaultType;
    contentType = { value: guess, params: contentType.params };
  }
  const disposition = parseValueWithParams(first('content-disposition') ?? '', fallbackCharset);
  const transferEncoding = (first('content-transfer-encoding') ?? '').replace(/\(.*?\)/g, '').trim().toLowerCase().replace(/^"|"$/g, '');
  const body = raw.subarray(bodyStart);
  const part: MimePart = { headers, contentType, disposition, transferEncoding, body, raw, children: [], message: null };
  const nests = contentType.value.startsWith('multipart/') || contentType.value === 'message/rfc822' || contentType.value === 'message/global';
  if (nests && depth >= walk.maxDepth) {
    warnings.push(`MIME nesting deeper than ${walk.maxDepth} levels; inner parts kept as raw data`);
    return part;
  }
  if (contentType.value.startsWith('multipart/')) {
    const boundary = contentType.params.boundary;
    if (!boundary) {
      warnings.push('multipart without boundary; body read as text');
      part.contentType = { value: 'text/plain', params: contentType.params };
      return part;
    }
    const childDefault = contentType.value === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
    const split = splitMultipart(body, boundary, Math.max(0, walk.partsLeft), warnings);
    if (split === null) {
      warnings.push(`boundary "${boundary.slice(0, 100)}" never found; body read as text`);
      part.contentType = { value: 'text/plain', params: {} };
      return part;
    }
    let restAt = split.restAt;
    for (const piece of split.pieces) {
      if (walk.partsLeft <= 0) {
        restAt = piece.lineStart;
        break;
      }
      part.children.push(parsePart(body.subarray(piece.start, piece.end), childDefault, depth + 1, walk));
    }
    if (restAt >= 0) {
      warnings.push(`more than ${walk.maxParts} MIME parts; the rest kept as one opaque part`);
      part.children.push(opaquePart(body.subarray(restAt)));
    }
  } else if (contentType.value === 'message/rfc822' || contentType.value === 'message/global') {
    if (walk.partsLeft <= 0) {
      warnings.push(`more than ${walk.maxParts} MIME parts; an embedded message kept as raw data`);
    } else if (!['base64', 'quoted-printable'].includes(transferEncoding)) {
      part.message = parsePart(body, 'text/plain', depth + 1, walk);
    } else if (body.length <= walk.decodeLeft) {
      walk.decodeLeft -= body.length;
      part.message = parsePart(decodeTransfer(body, transferEncoding), 'text/plain', depth + 1, walk);
    } else {
      warnings.push('encoded embedded messages larger than the message itself; the rest kept as raw data');
    }
  }
  return part;
}

interface Piece {
  /** Where the delimiter line that opens this part starts. */
  lineStart: number;
  /** The part's bytes: [start, end). */
  start: number;
  end: number;
}

/** 0x20, \t, \n, \v, \f, \r and latin1 no-break space: what String#trim drops from latin1 text. */
function isBlank(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = buf[i]!;
    if (c !== 0x20 && (c < 0x09 || c > 0x0d) && c !== 0xa0) return false;
  }
  return true;
}

/**
 * The bodies between `--boundary` lines, found in one forward pass. A delimiter must start a line
 * and be followed only by whitespace (or `--` for the close delimiter), so "--abc" does not match
 * inside "--abcdef". At most `limit` parts are delimited; `restAt` is where the delimiter line of
 * the first part past the limit starts (-1 when none). Returns null when the boundary never occurs.
 */
function splitMultipart(body: Buffer, boundary: string, limit: number, warnings: string[]): { pieces: Piece[]; restAt: number } | null {
  const delim = Buffer.from('--' + boundary, 'latin1');
  const opens: Array<{ lineStart: number; start: number }> = [];
  let closeAt = -1;
  let restAt = -1;
  let innerOf = null as { open: number; inner: Buffer | null } | null;
  let pos = 0;
  while (pos <= body.length) {
    const i = body.indexOf(delim, pos);
    if (i < 0) break;
    pos = i + delim.length;
    if (i > 0 && body[i - 1] !== 0x0a) continue;
    let j = i + delim.length;
    let close = false;
    if (body[j] === 0x2d && body[j + 1] === 0x2d) {
      close = true;
      j += 2;
    }
    let k = j;
    while (k < body.length && (body[k] === 0x20 || body[k] === 0x09 || body[k] === 0x0d)) k++;
    if (k < body.length && body[k] !== 0x0a) {
      if (!close) continue;
      // junk after a close delimiter: still a close delimiter
      const nl = body.indexOf(0x0a, k);
      k = nl < 0 ? body.length : nl;
    }
    if (close) {
      // A nested multipart whose boundary begins with ours (outer "a--", inner "a----") has lines
      // that read as our close delimiter: skip past the nested part's own close delimiter.
      const last = opens.at(-1);
      if (last) {
        if (innerOf?.open !== opens.length) innerOf = { open: opens.length, inner: prefixedInnerBoundary(body.subarray(last.start, i), boundary) };
        const inner = innerOf.inner;
        if (inner && body.subarray(i, i + inner.length - 2).equals(inner.subarray(0, inner.length - 2))) {
          const innerClose = findLineStart(body, inner, i);
          if (innerClose >= 0) {
            pos = innerClose + inner.length;
            continue;
          }
        }
      }
      closeAt = i;
      break;
    }
    if (opens.length >= limit) {
      restAt = i;
      break;
    }
    opens.push({ lineStart: i, start: Math.min(k + 1, body.length) });
  }
  if (opens.length === 0 && closeAt < 0 && restAt < 0) return null;
  const pieces: Piece[] = [];
  for (let n = 0; n < opens.length; n++) {
    const s = opens[n]!;
    const next = n + 1 < opens.length ? opens[n + 1]!.lineStart : restAt >= 0 ? restAt : closeAt;
    let end = next >= 0 ? next : body.length;
    if (next < 0) warnings.push('multipart has no close delimiter');
    // The line break before a delimiter belongs to the delimiter.
    if (next >= 0) {
      if (end > s.start && body[end - 1] === 0x0a) end--;
      if (end > s.start && body[end - 1] === 0x0d) end--;
    }
    end = Math.max(end, s.start);
    // Whitespace after a last delimiter that was never closed is not a part.
    if (next < 0 && isBlank(body, s.start, end)) break;
    pieces.push({ lineStart: s.lineStart, start: s.start, end });
  }
  return { pieces, restAt };
}

/**
 * The close delimiter (`--inner--`) of a nested multipart declared in `part`'s headers, when its
 * boundary begins with the parent's and so could be mistaken for it; null otherwise.
 */
function prefixedInnerBoundary(part: Buffer, outer: string): Buffer | null {
  const { headerEnd } = findHeaderEnd(part, 0);
  const ct = splitHeaderBlock(part.subarray(0, headerEnd).toString('latin1')).filter((h) => h.name === 'content-type').at(-1);
  if (!ct) return null;
  const parsed = parseValueWithParams(ct.raw, null);
  const inner = parsed.params.boundary;
  if (!parsed.value.startsWith('multipart/') || !inner || inner === outer || !inner.startsWith(outer)) return null;
  return Buffer.from(`--${inner}--`, 'latin1');
}

/** The first occurrence of `needle` at or after `from` that starts a line, or -1. */
function findLineStart(buf: Buffer, needle: Buffer, from: number): number {
  for (let i = buf.indexOf(needle, from); i >= 0; i = buf.indexOf(needle, i + 1)) {
    if (i === 0 || buf[i - 1] === 0x0a) return i;
  }
  return -1;
}

/** Quoted-printable, leniently: a stray "=" stays literal, soft breaks with trailing spaces work. */
export function decodeQuotedPrintable(buf: Buffer): Buffer {
  const out = Buffer.allocUnsafe(buf.length);
  let o = 0;
  const hex = (c: number): number => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1);
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c !== 0x3d) {
      out[o++] = c;
      continue;
    }
    const h1 = hex(buf[i + 1] ?? 0);
    const h2 = hex(buf[i + 2] ?? 0);
    if (h1 >= 0 && h2 >= 0) {
      out[o++] = h1 * 16 + h2;
      i += 2;
      continue;
    }
    // soft line break: "=" then optional whitespace then CRLF/LF
    let j = i + 1;
    while (buf[j] === 0x20 || buf[j] === 0x09) j++;
    if (buf[j] === 0x0d && buf[j + 1] === 0x0a) {
      i = j + 1;
      continue;
    }
    if (buf[j] === 0x0a) {
      i = j;
      continue;
    }
    if (j >= buf.length) {
      i = j;
      continue;
    }
    out[o++] = c;
  }
  return out.subarray(0, o);
}

/** Decodes one uuencoded block's lines (between "begin" and "end"). */
export function decodeUuLines(lines: string[]): Buffer {
  const chunks: Buffer[] = [];
  for (const line of lines) {
    if (line.length === 0) continue;
    const n = (line.charCodeAt(0) - 32) & 63;
    if (n === 0) continue;
    const bytes = Buffer.alloc(Math.ceil(n / 3) * 3);
    let b = 0;
    for (let i = 1; b < bytes.length; i += 4) {
      const q = [0, 1, 2, 3].map((k) => ((line.charCodeAt(i + k) || 32) - 32) & 63);
      bytes[b++] = (q[0]! << 2) | (q[1]! >> 4);
      bytes[b++] = ((q[1]! & 15) << 4) | (q[2]! >> 2);
      bytes[b++] = ((q[2]! & 3) << 6) | q[3]!;
    }
    chunks.push(bytes.subarray(0, n));
  }
  return Buffer.concat(chunks);
}

export function decodeTransfer(body: Buffer, encoding: string): Buffer {
  switch (encoding) {
    case 'base64':
      return decodeBase64Body(body);
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    case 'x-uuencode':
    case 'uuencode':
    case 'x-uue': {
      const lines = body.toString('latin1').split(/\r?\n/);
      const b = lines.findIndex((l) => /^begin\s+\d+/.test(l));
      const e = lines.findIndex((l, i) => i > b && l.trim() === 'end');
      return decodeUuLines(lines.slice(b + 1, e < 0 ? undefined : e));
    }
    default:
      return body;
  }
}

/** The first value of a header in a part, raw. */
export function partHeader(part: MimePart, name: string): string | null {
  return part.headers.find((h) => h.name === name)?.raw ?? null;
}
