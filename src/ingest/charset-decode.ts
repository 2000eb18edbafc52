// Turning bytes in a declared (often wrong) charset into a string. Owns the mislabelled-charset
// rule: non-ASCII bytes that form valid UTF-8 are UTF-8 whatever the label says, because real
// legacy-charset text almost never happens to be valid UTF-8, while mislabelled UTF-8 is common.
// Pure: no I/O. iconv-lite does the legacy charsets; libmime's decoder covers the Japanese ones.
import iconv from 'iconv-lite';
import { decode as libmimeDecode } from 'libmime/lib/charset.js';

const UTF8_LABELS = new Set(['', 'utf8', 'usascii', 'ascii', '7bit', '8bit', 'utf8mb4', 'ansix341968', 'us', 'default', 'unicode11utf8']);
// Labels whose bytes legitimately never are, or must not be guessed as, UTF-8.
const NO_SNIFF = /^(utf16|utf32|ucs2|ucs4|unicode$|utf7|unicode11utf7|csunicode11utf7)/;
const JAPANESE = /^(iso2022jp|jis|csiso2022jp)/;
// Names mail clients use that iconv-lite does not know under that spelling.
const ALIASES: Record<string, string> = {
  ksc56011987: 'cp949',
  ksc5601: 'cp949',
  ksc56011989: 'cp949',
  euckr: 'cp949',
  xgbk: 'gbk',
  gb2312: 'gbk', // GBK is a superset; senders labelling GBK text gb2312 is routine
  gb231280: 'gbk',
  cngb: 'gbk',
  big5hkscs: 'big5hkscs',
  xbig5: 'big5',
  cnbig5: 'big5',
  xsjis: 'shiftjis',
  sjis: 'shiftjis',
  mskanji: 'shiftjis',
  xeucjp: 'eucjp',
  iso88591: 'windows1252', // what every browser and mail client actually means
  latin1: 'windows1252',
  usascii: 'utf8',
  xmaccyrillic: 'maccyrillic',
  xmacroman: 'macintosh',
  iso88598i: 'iso88598',
  iso88596i: 'iso88596',
  tis620: 'windows874',
  ansi: 'windows1252',
  xunknown: 'windows1252',
  unknown8bit: 'windows1252',
  xuserdefined: 'windows1252',
};

/** Lower-cased, punctuation-free charset label ("ISO_8859-1" -> "iso88591"). */
export function normalizeCharset(label: string | null | undefined): string {
  return String(label ?? '').toLowerCase().replace(/^["']|["']$/g, '').replace(/[^a-z0-9]/g, '');
}

/** True when the buffer has a byte >= 0x80. */
export function hasHighBytes(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i++) if (buf[i]! >= 0x80) return true;
  return false;
}

/** Strict UTF-8 validity (no overlongs, no surrogates), as the WHATWG decoder in fatal mode judges. */
export function isValidUtf8(buf: Buffer): boolean {
  try {
    utf8Fatal.decode(buf);
    return true;
  } catch {
    return false;
  }
}
const utf8Fatal = new TextDecoder('utf-8', { fatal: true });

/**
 * True when text labelled UTF-8 holds at least one well-formed multibyte sequence: damaged UTF-8
 * (corrupt bytes) rather than a legacy charset, whose text practically never forms one.
 */
function mostlyUtf8(buf: Buffer): boolean {
  let good = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i]!;
    if (c < 0x80) continue;
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    let ok = n > 0 && i + n < buf.length + 0;
    for (let k = 1; ok && k <= n; k++) ok = (buf[i + k]! & 0xc0) === 0x80;
    if (ok) {
      good++;
      i += n;
    }
  }
  return good > 0;
}

export interface DecodeResult {
  text: string;
  /** The charset actually used, normalised. */
  used: string;
  /** Set when the label was ignored or unknown. */
  warning: string | null;
}

/**
 * Decodes bytes labelled `label`. Unlabelled or unknown 8-bit text that is not UTF-8 is read as
 * windows-1252 (`fallback`), the most common unlabelled legacy charset in mail.
 */
export function decodeCharset(buf: Buffer, label: string | null | undefined, fallback = 'windows1252'): DecodeResult {
  const norm = normalizeCharset(label);
  const high = hasHighBytes(buf);
  if (UTF8_LABELS.has(norm)) {
    if (!high || isValidUtf8(buf)) return { text: buf.toString('utf8'), used: 'utf8', warning: null };
    if (mostlyUtf8(buf)) return { text: buf.toString('utf8'), used: 'utf8', warning: 'UTF-8 text has invalid bytes; replaced' };
    return { text: iconv.decode(buf, fallback), used: fallback, warning: `8-bit text labelled ${label || 'us-ascii'} is not UTF-8; read as ${fallback}` };
  }
  if (high && !NO_SNIFF.test(norm) && isValidUtf8(buf)) {
    return { text: buf.toString('utf8'), used: 'utf8', warning: `text labelled ${label} is valid UTF-8; read as UTF-8` };
  }
  if (JAPANESE.test(norm)) {
    return { text: libmimeDecode(buf, 'ISO-2022-JP'), used: norm, warning: null };
  }
  const name = ALIASES[norm] ?? norm;
  if (iconv.encodingExists(name)) {
    return { text: iconv.decode(buf, name), used: name, warning: null };
  }
  if (!high) return { text: buf.toString('latin1'), used: 'ascii', warning: null };
  return { text: iconv.decode(buf, fallback), used: fallback, warning: `unknown charset ${label}; read as ${fallback}` };
}
