// The MIME tree of a raw message held in one Buffer: header blocks, multipart boundaries
// (missing close delimiters, preamble junk, nested parts) and transfer decoding (base64,
// quoted-printable, uuencode). Works on byte offsets so a 5 MB attachment is decoded once, not
// streamed through text transforms. Pure; never throws on malformed input.
import { decodeBase64Loose, parseValueWithParams, splitHeaderBlock } from './parse-header.js';
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

const MAX_DEPTH = 40;

/** Index just after the header block's terminating empty line, and the header block end. */
function findHeaderEnd(buf: Buffer, start: number): { headerEnd: number; bodyStart: number } {
  // A part that starts with an empty line has no headers at all.
  if (buf[start] === 0x0a) return { headerEnd: start, bodyStart: start + 1 };
  if (buf[start] === 0x0d && buf[start + 1] === 0x0a) return { headerEnd: start, bodyStart: start + 2 };
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

export function parseMimePart(raw: Buffer, defaultType = 'text/plain', depth = 0, warnings: string[] = [], fallbackCharset: string | null = null): MimePart {
  let start = 0;
  // An mbox "From " line before the headers is envelope, not a header.
  if (raw.subarray(0, 5).toString('latin1') === 'From ') {
    const nl = raw.indexOf(0x0a);
    start = nl < 0 ? raw.length : nl + 1;
  }
  const { headerEnd, bodyStart } = findHeaderEnd(raw, start);
  const headers = splitHeaderBlock(raw.subarray(start, headerEnd).toString('latin1'));
  const first = (name: string): string | null => headers.find((h) => h.name === name)?.raw ?? null;
  // A duplicated Content-Type: the last one wins, as later headers override earlier ones.
  const ctRaw = headers.filter((h) => h.name === 'content-type').at(-1)?.raw ?? null;
  let contentType = parseValueWithParams(ctRaw ?? '', fallbackCharset);
  if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/.test(contentType.value)) {
    if (ctRaw !== null && contentType.value) warnings.push(`unusable content-type "${contentType.value}"; using ${defaultType}`);
    // "text" alone, or garbage: fall back but keep parameters such as charset or boundary.
    const guess = contentType.value === 'text' ? 'text/plain' : contentType.params.boundary && contentType.value.startsWith('multipart') ? 'multipart/mixed' : defaultType;
    contentType = { value: guess, params: contentType.params };
  }
  const disposition = parseValueWithParams(first('content-disposition') ?? '', fallbackCharset);
  const transferEncoding = (first('content-transfer-encoding') ?? '').replace(/\(.*?\)/g, '').trim().toLowerCase().replace(/^"|"$/g, '');
  const body = raw.subarray(bodyStart);
  const part: MimePart = { headers, contentType, disposition, transferEncoding, body, raw, children: [], message: null };
  if (depth >= MAX_DEPTH) {
    warnings.push('MIME nesting too deep; inner parts kept as raw data');
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
    const bodies = splitMultipart(body, boundary, warnings, (at) => nestedCloseEnd(body, at, boundary, fallbackCharset));
    if (bodies === null) {
      warnings.push(`boundary "${boundary}" never found; body read as text`);
      part.contentType = { value: 'text/plain', params: {} };
      return part;
    }
    part.children = bodies.map((b) => parseMimePart(b, childDefault, depth + 1, warnings, fallbackCharset));
  } else if (contentType.value === 'message/rfc822' || contentType.value === 'message/global') {
    if (!['base64', 'quoted-printable'].includes(transferEncoding)) {
      part.message = parseMimePart(body, 'text/plain', depth + 1, warnings, fallbackCharset);
    } else {
      part.message = parseMimePart(decodeTransfer(body, transferEncoding), 'text/plain', depth + 1, warnings, fallbackCharset);
    }
  }
  return part;
}

/**
 * The bodies between `--boundary` lines. A delimiter must start a line and be followed only by
 * whitespace (or `--` for the close delimiter), so "--abc" does not match inside "--abcdef".
 * Returns null when the boundary never occurs.
 */
function splitMultipart(body: Buffer, boundary: string, warnings: string[], skipNested: (contentStart: number) => number): Buffer[] | null {
  const delim = Buffer.from('--' + boundary, 'latin1');
  const starts: Array<{ lineStart: number; contentStart: number; close: boolean }> = [];
  let pos = 0;
  while (pos <= body.length) {
    const last = starts.at(-1);
    if (last && pos <= last.contentStart) pos = Math.max(pos, skipNested(last.contentStart));
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
    starts.push({ lineStart: i, contentStart: Math.min(k + 1, body.length), close });
    if (close) break;
  }
  if (starts.length === 0) return null;
  const parts: Buffer[] = [];
  for (let n = 0; n < starts.length; n++) {
    const s = starts[n]!;
    if (s.close) break;
    const next = starts[n + 1];
    let end = next ? next.lineStart : body.length;
    if (!next) warnings.push('multipart has no close delimiter');
    // The line break before a delimiter belongs to the delimiter.
    if (next) {
      if (end > s.contentStart && body[end - 1] === 0x0a) end--;
      if (end > s.contentStart && body[end - 1] === 0x0d) end--;
    }
    const piece = body.subarray(s.contentStart, Math.max(end, s.contentStart));
    // Whitespace after a last delimiter that was never closed is not a part.
    if (!next && piece.toString('latin1').trim() === '') break;
    parts.push(piece);
  }
  return parts;
}

/**
 * Where the search for the parent's next delimiter may resume: after the close delimiter of a
 * nested multipart that starts at `at`. A nested boundary that begins with the parent's (outer
 * "a--", inner "a----") would otherwise be read as the parent's close delimiter.
 */
function nestedCloseEnd(body: Buffer, at: number, outer: string, fallbackCharset: string | null): number {
  const { headerEnd } = findHeaderEnd(body, at);
  const ct = splitHeaderBlock(body.subarray(at, headerEnd).toString('latin1')).filter((h) => h.name === 'content-type').at(-1);
  if (!ct) return at;
  const parsed = parseValueWithParams(ct.raw, fallbackCharset);
  const inner = parsed.params.boundary;
  if (!parsed.value.startsWith('multipart/') || !inner || inner === outer || !inner.startsWith(outer)) return at;
  const close = Buffer.from(`--${inner}--`, 'latin1');
  for (let i = body.indexOf(close, headerEnd); i >= 0; i = body.indexOf(close, i + 1)) {
    if (i === 0 || body[i - 1] === 0x0a) return i + close.length;
  }
  return at;
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
      return decodeBase64Loose(body.toString('latin1'));
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
