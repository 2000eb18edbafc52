// Header-level parsing for raw mail: unfolding, raw 8-bit values, RFC 2047 encoded words,
// RFC 2231 parameters, address lists (groups, odd quoting, comments, IDN) and dates.
// Pure string work, lenient by design: real mail breaks every rule, so nothing here throws.
import { domainToUnicode } from 'node:url';
import { decodeCharset, hasHighBytes } from './charset-decode.js';
import type { MailAddress } from '../threading/parsed-message.js';

export interface RawHeader {
  /** Lower-cased name. */
  name: string;
  /** Unfolded value as latin1 (one char per byte), not yet charset-decoded. */
  raw: string;
}

/**
 * Splits a header block (latin1 string) into unfolded fields. Lines without a colon are skipped.
 * A line ends only at CRLF or LF: a lone CR is part of the value, never a way to start a second
 * (smuggled) field.
 */
export function splitHeaderBlock(block: string): RawHeader[] {
  const out: RawHeader[] = [];
  const lines = block.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    if ((line[0] === ' ' || line[0] === '\t') && out.length > 0) {
      // Folding: the line break goes, the whitespace stays (RFC 5322 2.2.3).
      out[out.length - 1]!.raw += line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) continue;
    out.push({ name, raw: line.slice(colon + 1) });
  }
  return out;
}

/** Reads raw 8-bit header bytes: UTF-8 when valid, else the fallback charset. */
export function decodeRawHeader(raw: string, fallbackCharset: string | null): string {
  const buf = Buffer.from(raw, 'latin1');
  if (!hasHighBytes(buf)) return raw;
  // With a legacy label, decodeCharset still prefers UTF-8 when the bytes are valid UTF-8.
  return decodeCharset(buf, fallbackCharset ?? 'utf-8', 'windows1252').text;
}

const ENCODED_WORD = /=\?([^?\s"]+)\?([bBqQ])\?([^?]*?)\?=/g;

function decodeQ(s: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x5f) bytes.push(0x20);
    else if (c === 0x3d && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c & 0xff);
  }
  return Buffer.from(bytes);
}

/** Tolerant base64: ignores junk and decodes chunks that carry their own padding mid-stream. */
export function decodeBase64Loose(s: string): Buffer {
  // Node's decoder already skips line breaks and junk and reads both alphabets; only padding in
  // the middle (encoders that pad every line) needs the slow path.
  const eq = s.indexOf('=');
  if (eq < 0 || /^[=\s]*$/.test(s.slice(eq, eq + 8)) && !/[A-Za-z0-9+/]/.test(s.slice(eq))) return Buffer.from(s, 'base64');
  const clean = s.replace(/[^A-Za-z0-9+/=_-]/g, '').replace(/-/g, '+').replace(/_/g, '/');
  if (!/=[A-Za-z0-9+/]/.test(clean)) return Buffer.from(clean, 'base64');
  return decodeBase64Padded(clean);
}

const B64 = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/**
 * Base64 with padding in the middle (each padded chunk decoded on its own, then joined), in one
 * pass into one buffer: splitting into chunks costs a Buffer per 4 characters on hostile input.
 */
function decodeBase64Padded(clean: string): Buffer {
  const out = Buffer.allocUnsafe(Math.ceil(clean.length / 4) * 3);
  let o = 0;
  let acc = 0;
  let n = 0;
  const flush = (): void => {
    // A partial quantum of 2 or 3 characters holds 1 or 2 bytes; a lone character holds none.
    if (n === 2) out[o++] = (acc >> 4) & 0xff;
    else if (n === 3) {
      out[o++] = (acc >> 10) & 0xff;
      out[o++] = (acc >> 2) & 0xff;
    }
    acc = 0;
    n = 0;
  };
  for (let i = 0; i < clean.length; i++) {
    const v = B64[clean.charCodeAt(i)]!;
    if (v < 0) {
      flush(); // "=": this chunk ends
      continue;
    }
    acc = (acc << 6) | v;
    if (++n === 4) {
      out[o++] = (acc >> 16) & 0xff;
      out[o++] = (acc >> 8) & 0xff;
      out[o++] = acc & 0xff;
      acc = 0;
      n = 0;
    }
  }
  flush();
  return out.subarray(0, o);
}

/**
 * Decodes RFC 2047 encoded words. Whitespace between adjacent encoded words is dropped and
 * adjacent words in the same charset are joined as bytes first, so a multibyte character split
 * across two words (common from some clients) survives.
 */
export function decodeWords(input: string): string {
  if (!input.includes('=?')) return input;
  let out = '';
  let last = 0;
  let pending: { charset: string; bytes: Buffer[] } | null = null;
  const flush = (): void => {
    if (!pending) return;
    out += decodeCharset(Buffer.concat(pending.bytes), pending.charset).text;
    pending = null;
  };
  ENCODED_WORD.lastIndex = 0;
  for (let m = ENCODED_WORD.exec(input); m; m = ENCODED_WORD.exec(input)) {
    const between = input.slice(last, m.index);
    if (pending && /^\s*$/.test(between)) {
      // dropped: linear whitespace between encoded words is not content
    } else {
      flush();
      out += between;
    }
    const charset = m[1]!.split('*')[0]!;
    const bytes = m[2]!.toLowerCase() === 'b' ? decodeBase64Loose(m[3]!) : decodeQ(m[3]!);
    const p = pending as { charset: string; bytes: Buffer[] } | null;
    if (p && p.charset.toLowerCase() === charset.toLowerCase()) p.bytes.push(bytes);
    else {
      flush();
      pending = { charset, bytes: [bytes] };
    }
    last = m.index + m[0].length;
  }
  flush();
  return out + input.slice(last);
}

/** An unstructured header value: unfolded, 8-bit decoded, encoded words decoded, trimmed. */
export function decodeUnstructured(raw: string, fallbackCharset: string | null): string {
  // A lone CR inside a value is shown as a space, so it cannot act as a line break downstream.
  return decodeWords(decodeRawHeader(raw, fallbackCharset)).replace(/\r?\n/g, '').replace(/\r/g, ' ').trim();
}

export interface HeaderValueWithParams {
  value: string;
  params: Record<string, string>;
}

function unquote(s: string): string {
  const t = s.trim();
  if (t.length >= 2 && t[0] === '"' && t[t.length - 1] === '"') return t.slice(1, -1).replace(/\\(.)/g, '$1');
  if (t[0] === '"') return t.slice(1).replace(/\\(.)/g, '$1');
  return t;
}

/** Splits on `sep` outside quoted strings. */
function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quoted && c === '\\' && i + 1 < s.length) {
      cur += c + s[i + 1];
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === sep && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function percentDecode(s: string, charset: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      for (const b of Buffer.from(s[i]!, 'utf8')) bytes.push(b);
    }
  }
  return decodeCharset(Buffer.from(bytes), charset || 'utf-8').text;
}

/**
 * Parses `type/subtype; a=b; c*0*=utf-8''x; c*1*=y` (Content-Type, Content-Disposition).
 * `raw` is the latin1 header value; values come back decoded (RFC 2231 and, leniently, RFC 2047).
 */
export function parseValueWithParams(raw: string, fallbackCharset: string | null): HeaderValueWithParams {
  const pieces = splitOutsideQuotes(stripComments(raw), ';');
  let head = (pieces.shift() ?? '').trim();
  // A missing ";" ("multipart/mixed boundary=x") still carries a parameter.
  const ws = /\s+(?=[\w*-]+\s*=)/.exec(head);
  if (ws) {
    pieces.unshift(head.slice(ws.index));
    head = head.slice(0, ws.index);
  }
  const value = head.toLowerCase().replace(/\s+/g, '');
  const plain: Record<string, string> = {};
  const continued: Record<string, { charset: string; parts: Array<{ n: number; v: string; enc: boolean }> }> = {};
  for (const piece of pieces) {
    const eq = piece.indexOf('=');
    if (eq < 0) continue;
    let key = piece.slice(0, eq).trim().toLowerCase();
    const rawVal = piece.slice(eq + 1).trim();
    const m = /^([^*]+)\*(?:(\d+)\*?)?$/.exec(key) ?? /^([^*]+)\*(\d+)\*$/.exec(key);
    if (m) {
      key = m[1]!;
      const n = m[2] === undefined ? 0 : Number(m[2]);
      const enc = piece.slice(0, eq).trim().endsWith('*');
      let v = unquote(rawVal);
      const entry = (continued[key] ??= { charset: '', parts: [] });
      if (enc && n === 0) {
        const q = /^([^']*)'[^']*'(.*)$/s.exec(v);
        if (q) {
          entry.charset = q[1]!;
          v = q[2]!;
        }
      }
      entry.parts.push({ n, v, enc });
    } else if (!(key in plain)) {
      plain[key] = unquote(rawVal);
    }
  }
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(plain)) {
    params[k] = decodeWords(decodeRawHeader(v, fallbackCharset));
  }
  for (const [k, entry] of Object.entries(continued)) {
    entry.parts.sort((a, b) => a.n - b.n);
    // Encoded segments are joined as bytes so a character split across segments survives.
    let joined = '';
    let run = '';
    for (const p of entry.parts) {
      if (p.enc) run += p.v;
      else {
        if (run) joined += percentDecode(run, entry.charset);
        run = '';
        joined += decodeWords(decodeRawHeader(p.v, fallbackCharset));
      }
    }
    if (run) joined += percentDecode(run, entry.charset);
    params[k] = joined;
  }
  return { value, params };
}

/** Removes (comments), respecting quoted strings and nesting. */
export function stripComments(s: string): string {
  if (!s.includes('(')) return s;
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) {
      if (depth === 0) out += c + s[i + 1];
      i++;
      continue;
    }
    if (depth === 0 && c === '"') quoted = !quoted;
    if (!quoted && c === '(') {
      depth++;
      continue;
    }
    if (!quoted && c === ')' && depth > 0) {
      depth--;
      continue;
    }
    if (depth === 0) out += c;
  }
  return out;
}

// ---- addresses ----

const ENCODED_WORD_AT = /=\?[^?\s"]+\?[bBqQ]\?[^?\s]*\?=/y;
/** An address written inside a comment: "Name (user@host)". */
const COMMENT_ADDRESS = /[^\s@()<>,;:"[\]]+@[^\s@()<>,;:"[\]]+\.[^\s@()<>,;:"[\]]+/;

type Token = { t: 'word' | 'quoted' | 'comment' | 'angle' | 'sep'; v: string };

/**
 * The tokens of an address list, produced lazily so a caller that needs only the first mailboxes
 * of a multi-megabyte header stops early. Values are sliced, not built a character at a time.
 */
function* tokenizeAddresses(s: string): Generator<Token> {
  const word = /[^ \t\r\n"(<,;:]+/y;
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
      continue;
    }
    if (c === '"') {
      const start = ++i;
      let escaped = false;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) {
          escaped = true;
          i++;
        }
        i++;
      }
      const v = s.slice(start, i);
      i++;
      yield { t: 'quoted', v: escaped ? v.replace(/\\(.)/gs, '$1') : v };
      continue;
    }
    if (c === '(') {
      let depth = 1;
      const start = ++i;
      let escaped = false;
      while (i < s.length) {
        const d = s[i];
        if (d === '\\' && i + 1 < s.length) {
          escaped = true;
          i += 2;
          continue;
        }
        if (d === '(') depth++;
        else if (d === ')' && --depth === 0) break;
        i++;
      }
      const v = s.slice(start, Math.min(i, s.length));
      i++;
      yield { t: 'comment', v: escaped ? v.replace(/\\(.)/gs, '$1') : v };
      continue;
    }
    if (c === '<') {
      const end = s.indexOf('>', i);
      const v = end < 0 ? s.slice(i + 1) : s.slice(i + 1, end);
      i = end < 0 ? s.length : end + 1;
      yield { t: 'angle', v };
      continue;
    }
    if (c === ',' || c === ';' || c === ':') {
      yield { t: 'sep', v: c };
      i++;
      continue;
    }
    if (c === '=' && s[i + 1] === '?') {
      // An encoded word is one atom even when its text holds "," or ":" (Q-encoding leaves them
      // raw in practice), so "=?utf-8?Q?Doe,_John?= <j@x>" stays one mailbox.
      ENCODED_WORD_AT.lastIndex = i;
      const ew = ENCODED_WORD_AT.exec(s);
      if (ew) {
        word.lastIndex = i + ew[0].length;
        const rest = word.exec(s);
        const v = ew[0] + (rest && rest.index === i + ew[0].length ? rest[0] : '');
        i += v.length;
        yield { t: 'word', v };
        continue;
      }
    }
    word.lastIndex = i;
    const m = word.exec(s);
    const v = m ? m[0] : c;
    i += v.length;
    if (v === '>') continue;
    yield { t: 'word', v };
  }
}

/** Lower-cases the address and turns an IDN (punycode) domain into Unicode. */
export function normalizeAddress(addr: string): string {
  let a = addr.trim().replace(/^mailto:/i, '');
  // Source routes (<@a,@b:user@host>) are obsolete syntax; the mailbox is what follows the colon.
  a = a.replace(/^(@[^:]*:)/, '');
  a = a.replace(/\s+/g, '');
  // RFC 5322: the domain follows the last unquoted "@"; a quoted local part may hold "@" itself.
  const at = lastUnquotedAt(a);
  if (at < 0) return a.toLowerCase();
  const local = a.slice(0, at);
  let domain = a.slice(at + 1).toLowerCase();
  if (domain.includes('xn--')) {
    const u = domainToUnicode(domain);
    if (u) domain = u;
  }
  // Quotes go only where they are not needed: "ada@acme.example"@evil.example keeps them, so it can
  // never read as ada@acme.example.
  const quoted = /^"(.*)"$/.exec(local);
  const bareLocal = quoted && !NEEDS_QUOTES.test(quoted[1]!) ? quoted[1]! : local;
  return (bareLocal + '@' + domain).toLowerCase();
}

/** Characters a local part can hold only inside quotes (RFC 5322 specials, whitespace). */
const NEEDS_QUOTES = /[\s@"\\(),:;<>[\]]/;

function lastUnquotedAt(a: string): number {
  let quoted = false;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const c = a[i];
    if (c === '\\' && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (c === '@' && !quoted) at = i;
  }
  return at;
}

function cleanName(s: string): string {
  return decodeWords(s).replace(/\s+/g, ' ').trim();
}

/**
 * Parses an address-list header value (already 8-bit decoded). Groups are flattened; a
 * display name given without an address yields an entry with address "". Stops after `limit`
 * entries (a hostile header can hold a million).
 */
export function parseAddressList(value: string, limit = Infinity): MailAddress[] {
  const out: MailAddress[] = [];
  let phrase: Token[] = [];
  let angle: string | null = null;
  const finish = (): void => {
    if (angle !== null) {
      const name = phrase.filter((t) => t.t !== 'comment').map((t) => t.v).join(' ');
      const comment = phrase.filter((t) => t.t === 'comment').map((t) => t.v).join(' ');
      const addr = normalizeAddress(angle);
      if (addr || name) out.push({ address: addr, name: cleanName(name || comment) });
    } else if (phrase.length > 0) {
      const words = phrase.filter((t) => t.t !== 'comment');
      const comment = phrase.filter((t) => t.t === 'comment').map((t) => t.v).join(' ');
      // Only an unquoted "@" makes an address: in "ada@acme.example"@evil.example the quoted
      // string is the local part, and a quoted string alone is a name.
      const atIdx = words.findIndex((t) => t.t === 'word' && t.v.includes('@'));
      if (atIdx >= 0) {
        // "addr@host (Name)", or a name followed by a bare address with no angle brackets.
        // A quoted local part ("john doe"@host) arrives as quoted + word("@host").
        let addrToks = [words[atIdx]!];
        let nameToks = words.slice(0, atIdx);
        if (words[atIdx]!.v.startsWith('@') && atIdx > 0) {
          addrToks = [words[atIdx - 1]!, words[atIdx]!];
          nameToks = words.slice(0, atIdx - 1);
        }
        const addr = normalizeAddress(addrToks.map((t) => (t.t === 'quoted' && NEEDS_QUOTES.test(t.v) ? `"${t.v.replace(/["\\]/g, '\\$&')}"` : t.v)).join(''));
        const rest = words.slice(atIdx + 1).map((t) => t.v);
        const name = [...nameToks.map((t) => t.v), ...rest].join(' ') || comment;
        out.push({ address: addr, name: cleanName(name) });
      } else {
        // "Name (user@host)": the only address is in the comment.
        const inComment = COMMENT_ADDRESS.exec(comment);
        const name = words.map((t) => t.v).join(' ') || (inComment ? '' : comment);
        if (inComment) out.push({ address: normalizeAddress(inComment[0]), name: cleanName(name) });
        else if (name.trim()) out.push({ address: '', name: cleanName(name) });
      }
    }
    phrase = [];
    angle = null;
  };
  for (const tok of tokenizeAddresses(value)) {
    if (out.length >= limit) return out.slice(0, limit);
    if (tok.t === 'sep') {
      if (tok.v === ':' && angle === null) {
        // "Group name:" — the phrase so far names the group, not a mailbox.
        const hasAt = phrase.some((t) => t.t === 'word' && t.v.includes('@'));
        if (!hasAt) {
          phrase = [];
          continue;
        }
      }
      finish();
      continue;
    }
    if (tok.t === 'angle') {
      if (angle !== null) finish();
      angle = tok.v;
      continue;
    }
    if (angle !== null && tok.t !== 'comment') {
      // Text after <addr> without a comma: a new mailbox started.
      finish();
    }
    phrase.push(tok);
  }
  finish();
  return out.length > limit ? out.slice(0, limit) : out;
}

// ---- dates ----

const MONTHS: Record<string, number> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 };
const ZONES: Record<string, number> = { ut: 0, utc: 0, gmt: 0, z: 0, est: -300, edt: -240, cst: -360, cdt: -300, mst: -420, mdt: -360, pst: -480, pdt: -420, cet: 60, cest: 120, met: 60, mest: 120, bst: 60, ist: 330, jst: 540, eet: 120, eest: 180, wet: 0, west: 60, hst: -600, akst: -540, akdt: -480, aest: 600, aedt: 660 };

/** RFC 5322 date, leniently (2-digit years, named zones, missing seconds); null when unparseable. */
export function parseMailDate(value: string): Date | null {
  const s = stripComments(value).replace(/\s+/g, ' ').trim();
  if (!s) return null;
  const m = /(\d{1,2})[\s-]+([A-Za-z]{3})[a-z]*\.?[\s-]+(\d{2,4})\s+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?(?:\.\d+)?\s*([+-]\s?\d{2}:?\d{2}|[A-Za-z]{1,5})?/.exec(s);
  if (m) {
    const mon = MONTHS[m[2]!.toLowerCase()];
    if (mon !== undefined) {
      let year = Number(m[3]);
      if (m[3]!.length <= 2) year += year < 50 ? 2000 : 1900;
      else if (m[3]!.length === 3) year += 1900;
      let offset = 0;
      const z = m[7];
      if (z) {
        if (/^[+-]/.test(z)) {
          const d = z.replace(/[\s:]/g, '');
          offset = (d[0] === '-' ? -1 : 1) * (Number(d.slice(1, 3)) * 60 + Number(d.slice(3, 5)));
        } else offset = ZONES[z.toLowerCase()] ?? 0;
      }
      const t = Date.UTC(year, mon, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0)) - offset * 60_000;
      const d = new Date(t);
      if (!Number.isNaN(d.getTime())) return d;
    }
  }
  const fallback = new Date(s);
  return Number.isNaN(fallback.getTime()) ? null : fallback;
}

/** Message-ID-like values: every <...> token, or the bare value when it has none. */
export function parseMsgIds(value: string): string[] {
  const s = stripComments(value);
  const ids = s.match(/<[^<>]*>/g);
  if (ids) return ids.map((x) => x.replace(/\s+/g, '')).filter((x) => x.length > 2);
  return s.split(/[\s,]+/).filter((x) => x.length > 0).map((x) => `<${x}>`);
}
